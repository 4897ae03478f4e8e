// agency-mock --config FILE [--ports-file FILE]
//
// A mock EU agency endpoint for tests, benchmarks and the demo; see docs/agency-mock.md.
// Options only; the server is AgencyMockServer.
import AgencyMock
import Foundation

let usage = "usage: agency-mock --config FILE [--ports-file FILE]\n"
var configPath: String?
var portsFile: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--config": configPath = arguments.popFirst()
    case "--ports-file": portsFile = arguments.popFirst()
    case "-h", "--help":
        FileHandle.standardOutput.write(Data(usage.utf8))
        exit(0)
    default:
        FileHandle.standardError.write(Data("agency-mock: unknown argument \(argument)\n\(usage)".utf8))
        exit(2)
    }
}
guard let configPath else {
    FileHandle.standardError.write(Data("agency-mock: --config FILE is required\n\(usage)".utf8))
    exit(2)
}
exit(await AgencyMockServer.run(configPath: configPath, portsFile: portsFile))
