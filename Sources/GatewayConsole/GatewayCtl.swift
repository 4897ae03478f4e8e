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
}
