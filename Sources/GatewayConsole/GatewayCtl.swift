// gatewayctl: the operator's console. Postfix's postqueue/postsuper/qshape and Domibus's
// message console are the models: inspect and steer the queue, check the audit log,
// validate and verify files, submit into the spool, check the configuration and the
// certificates. Exit 0 on success, 1 on a failed check or a missing item, 64 on bad usage.

import ArgumentParser

public struct GatewayCtl: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "gatewayctl",
        abstract: "Inspect and steer the gateway's queue; verify, validate and submit messages.",
        discussion: """
            The queue is found through the daemon's configuration: --config FILE, or GATEWAY_CONFIG.
            Works while gatewayd runs. Every change is written to the audit log with your user name.
            Exit status: 0 success, 1 failed check or missing item, 64 bad usage.
            """,
        version: "0.1.0",
        subcommands: [
            QueueCommand.self, HoldCommand.self, ReleaseCommand.self, RetryCommand.self, CancelCommand.self, RequeueCommand.self,
            AuditCommand.self, ValidateCommand.self, VerifyCommand.self, SubmitCommand.self, ConfigCommand.self, CertsCommand.self,
        ])

    public init() {}

    /// Lets the global options stand before the subcommand too (`gatewayctl --config F
    /// queue list`), as operators type them: they are moved after it for the parser.
    public static func normalize(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--json" {
                leading.append(first)
                rest = rest.dropFirst()
            } else if first == "--config", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--config=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty, !rest.isEmpty else { return arguments }
        // Subcommand words come first, then the global options, then the remaining arguments.
        var words: [String] = []
        while let w = rest.first, !w.hasPrefix("-"), ["queue", "audit", "config", "list", "show", "stats", "verify", "tail", "check",
                                                        "hold", "release", "retry", "cancel", "requeue", "validate", "submit", "certs"].contains(w) {
            words.append(w)
            rest = rest.dropFirst()
            if !["queue", "audit", "config"].contains(w) { break }
        }
        return words + leading + Array(rest)
    }
}
