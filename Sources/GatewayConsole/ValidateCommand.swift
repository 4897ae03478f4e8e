// gatewayctl validate [--schema S] FILE...: placeholder until the schemas land.
import ArgumentParser

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "validate", abstract: "Validate messages against the schemas.")
    @OptionGroup var global: GlobalOptions
    @Argument var files: [String] = []
    func run() throws { throw ExitCode(1) }
}
