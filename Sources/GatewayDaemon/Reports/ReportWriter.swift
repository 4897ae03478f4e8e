// NAME
//   ReportWriter: writes the reports owed to units into SPOOL/<unit>/reports/.
//
// DESCRIPTION
//   Reports are recorded in the queue in the same transaction as the change they report
//   (accepted, delivered, failed, expired, cancelled); this writes them out afterwards
//   (transactional outbox): sign as the gateway (JWS, flattened JSON), write atomically,
//   one syncfs for the batch, then mark them written. A crash in between only means a
//   report is written twice (same name, same content apart from the signing time).
//
//   Name: <file stem>.<kind>.json for acceptance, <file stem>.<kind>.<RECIPIENT>.json for
//   per-recipient outcomes, where the stem is the unit's own file name without ".json".

import Foundation
import GatewayJSON
import GatewayStore
import Logging

public final class ReportWriter: Sendable {
    let store: QueueStore
    let spool: Spool
    let signer: any GatewaySigning
    let logger: Logger
    private let busy = Locked(false)

    public init(store: QueueStore, spool: Spool, signer: any GatewaySigning, logger: Logger) {
        self.store = store
        self.spool = spool
        self.signer = signer
        self.logger = logger
    }

    /// Writes everything owed now. Returns how many reports were written. Concurrent calls
    /// collapse into one (the second returns 0 at once).
    @discardableResult
    public func flush() -> Int {
        guard busy.withLock({ b -> Bool in if b { return false }; b = true; return true }) else { return 0 }
        defer { busy.withLock { $0 = false } }
        var total = 0
        while true {
            let owed: [OwedReport]
            do {
                owed = try store.owedReports(limit: 500)
            } catch {
                logger.error("cannot read owed reports", metadata: ["error": "\(error)"])
                return total
            }
            if owed.isEmpty { return total }
            var written: [Int64] = []
            var touched: [SpoolUnit] = []
            for report in owed {
                guard let unit = spool.units[report.unit] else {
                    logger.warning("report owed to a unit not in the configuration; kept", metadata: ["unit": "\(report.unit)", "report": "\(report.id)"])
                    continue
                }
                do {
                    if report.signed, let name = report.fileName {
                        try unit.reports.writeAtomically(Self.sanitize(name), Array(report.body.utf8))
                    } else {
                        let body = try JSON.parse(report.body)
                        let signed = try signer.sign(payload: try body.canonicalBytes())
                        try unit.reports.writeAtomically(Self.fileName(report, body: body), signed)
                    }
                    written.append(report.id)
                    if !touched.contains(where: { $0 === unit }) { touched.append(unit) }
                } catch {
                    logger.error("cannot write report", metadata: ["unit": "\(report.unit)", "report": "\(report.id)", "error": "\(error)"])
                }
            }
            // One flush of the file system for the whole batch, before the queue says "written".
            for unit in touched { unit.reports.syncFileSystem() }
            do {
                try store.markReportsWritten(written)
            } catch {
                logger.error("cannot mark reports written", metadata: ["error": "\(error)"])
                return total
            }
            total += written.count
            if written.count < owed.count { return total }  // the rest failed; try again later
        }
    }

    static func fileName(_ report: OwedReport, body: JSON) -> String {
        name(file: body["file"]?.stringValue ?? body["messageId"]?.stringValue ?? "report-\(report.id)", kind: report.kind, recipient: report.recipient)
    }

    /// <file stem>.<kind>[.<RECIPIENT>].json
    public static func name(file: String, kind: String, recipient: String?) -> String {
        var stem = file
        if stem.hasSuffix(".json") { stem.removeLast(5) }
        stem = sanitize(stem)
        if let recipient { return "\(stem).\(kind).\(sanitize(recipient)).json" }
        return "\(stem).\(kind).json"
    }

    /// A file name component that cannot climb out of the folder or hide.
    static func sanitize(_ s: String) -> String {
        var out = String(s.map { $0 == "/" || $0 == "\0" ? "_" : $0 }.prefix(200))
        while out.hasPrefix(".") { out.removeFirst() }
        return out.isEmpty ? "report" : out
    }
}
