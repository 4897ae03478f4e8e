// gatewayctl audit verify | tail

import ArgumentParser
import Foundation
import GatewayJSON
import GatewayStore

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "Check and read the tamper-evident audit log.",
                                                    subcommands: [AuditVerify.self, AuditTail.self])
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Verify the hash chain and the signed checkpoints; exit 1 on any altered, removed, inserted or reordered record.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("anchor"), help: ArgumentHelp(
        "SEQ:HASH of a checkpoint gatewayd logged (\"audit checkpoint signed\"), kept off this machine: the chain must still hold it (repeatable).",
        valueName: "seq:hash"))
    var anchors: [String] = []

    func run() throws {
        let anchors = try self.anchors.map { text -> AuditAnchor in
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let seq = Int64(parts[0]), seq > 0, parts[1].count == 64,
                  parts[1].allSatisfy({ $0.isHexDigit }) else {
                throw ValidationError("--anchor \(text): expected SEQ:HASH (a record number, a colon, 64 hex digits), as gatewayd logs it")
            }
            return AuditAnchor(seq: seq, hash: String(parts[1]))
        }
        // The verifier first: its certificate files are read before gatewayctl (as root) takes
        // the queue owner's identity to open the queue.
        let verifier = try ConsoleServices.auditVerifier(try global.loadConfig())
        let (_, store) = try global.openQueue()
        var result = try store.verifyAudit(verifier: verifier, anchors: anchors)
        // A chain anyone could recompute proves nothing without its signed checkpoints:
        // checkpoints that could not be checked fail the verification.
        if verifier == nil && result.checkpoints > result.checkpointsVerified {
            result.problems.append(.init(seq: result.lastCheckpointSeq ?? 0,
                                         message: "\(result.checkpoints - result.checkpointsVerified) signed checkpoints could not be checked (no signing certificate or trust anchors to check them with)"))
        }
        // Nor does a chain without any: they can be deleted with the records after them.
        if result.records > 0 && result.checkpoints == 0 {
            result.problems.append(.init(seq: result.headSeq ?? 0, message:
                "no signed checkpoint: nothing shows the chain was not rewritten (gatewayd signs one a second after it starts, then every queue.checkpointInterval; were they deleted?)"))
        }
        if global.json {
            Console.json([
                "valid": .bool(result.isValid), "records": .number(Double(result.records)), "checkpoints": .number(Double(result.checkpoints)),
                "checkpointsVerified": .number(Double(result.checkpointsVerified)),
                "lastCheckpointSeq": result.lastCheckpointSeq.map { .number(Double($0)) } ?? .null,
                "headSeq": result.headSeq.map { .number(Double($0)) } ?? .null,
                "problems": .array(result.problems.map { ["seq": .number(Double($0.seq)), "message": .string($0.message)] }),
            ])
        } else if result.isValid {
            let unsigned = (result.headSeq ?? 0) - (result.lastCheckpointSeq ?? 0)
            Console.out("audit log OK: \(result.records) records, \(result.checkpointsVerified) of \(result.checkpoints) signed checkpoints verified"
                        + (anchors.isEmpty ? "" : "; \(anchors.count) anchor\(anchors.count == 1 ? "" : "s") held")
                        + (unsigned > 0 ? "; the last \(unsigned) records are after the last checkpoint" : ""))
        } else {
            Console.out("audit log FAILED verification: \(result.problems.count) problem\(result.problems.count == 1 ? "" : "s")")
            for p in result.problems.prefix(50) { Console.out("  \(p)") }
            if result.problems.count > 50 { Console.out("  … \(result.problems.count - 50) more (use --json)") }
        }
        if !result.isValid { throw ExitCode(1) }
    }
}

struct AuditTail: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "The latest audit records (optionally of one message).")
    @OptionGroup var global: GlobalOptions
    @Option(name: [.customShort("n"), .customLong("count")], help: "How many records.") var count = 20
    @Option(help: "Only records of this message id (with --sender).") var message: String?
    @Option(help: "The sender of --message.") var sender: String?

    func validate() throws {
        if (message == nil) != (sender == nil) { throw ValidationError("--message and --sender go together") }
        guard count >= 1 && count <= 1_000_000 else { throw ValidationError("-n must be from 1 to 1000000") }
    }

    func run() throws {
        let (_, store) = try global.openQueue()
        let records = try store.auditTail(limit: count, sender: sender, messageId: message)
        if global.json { Console.json(.array(records.map(\.json))) } else { records.forEach { Console.out($0.line) } }
    }
}
