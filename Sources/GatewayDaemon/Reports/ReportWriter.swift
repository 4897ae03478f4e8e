// NAME
//   ReportWriter: writes the reports owed to units into SPOOL/<unit>/reports/, and makes
//   them durable.
//
// DESCRIPTION
//   Two kinds of report reach the units' folders:
//   - "accepted": signed and staged by the pickup workers, published by the pickup right
//     after the commit (`published(accepted:)`); the queue lists them as unsynced.
//   - delivered, failed, expired, cancelled: recorded in the queue in the same transaction
//     as the change they report (transactional outbox); `flush` signs them (on every
//     core), writes them and remembers them.
//   `sync` (housekeeping, about once a second, and at stop) flushes the file system once
//   and only then tells the queue that what was written is on disk. A crash before that
//   means a report is written again at the next start (`recover`): same name, same
//   content apart from the signature. One flush a second instead of one per batch keeps
//   the disk out of the pickup's and the delivery's way.
//
//   Name: <file stem>.<kind>.json for acceptance, <file stem>.<kind>.<RECIPIENT>.json for
//   per-recipient outcomes, where the stem is the unit's own file name without ".json".
//   Units reuse file names: a name that holds a report about another message is never
//   replaced; the new report's stem then has the message's id added (`nameIfTaken`).

import Foundation
import GatewayJSON
import GatewayModel
import GatewayStore
import Logging

public final class ReportWriter: Sendable {
    let store: QueueStore
    let spool: Spool
    let signer: any GatewaySigning
    /// One signer per core for the parallel signing in `flush` (replicas: no shared
    /// header cache or key reference count between the threads).
    let signers: [any GatewaySigning]
    let gatewayId: String
    let logger: Logger
    private let flushing = NSLock()
    /// Units whose reports/ took no reports (no space, read-only…): blocked now, since when,
    /// when that was last logged, and whether this time was (so is its end).
    private let blockedUnits = Locked<[String: (blocked: Bool, since: Date, logged: Date, announced: Bool)]>([:])
    /// Reports that failed on their own, logged once each.
    private let failedReports = Locked(Set<Int64>())
    /// Confirming written reports fails (the queue's disk full, say): logged once until it works.
    private let confirmFailing = Locked(false)
    /// Units owed reports but not configured (warned about once each).
    private let unknownUnits = Locked(Set<String>())
    private let syncing = NSLock()
    /// Accepted reports to write again that could not be written when tried (their unit's
    /// folder full or unwritable, the unit not configured, a failed sync): tried again by
    /// the housekeeping (`retryLeftovers`) until written; they stay listed in the queue
    /// meanwhile, and the message is kept until then.
    public struct AcceptedKey: Hashable, Sendable {
        public let messageRowId: Int64
        public let sourceFile: String
    }
    private let leftovers = Locked(Set<AcceptedKey>())
    /// Reports whose sync failed: the file there may not be on disk (a write-back error is
    /// reported once, so the next sync would pass over it), so the rewrite replaces it with
    /// a new file rather than keep it.
    private let rewriteFresh = Locked((accepted: Set<AcceptedKey>(), owed: Set<Int64>()))

    /// Tests only: the error this writer's file system syncs report (nil: the real one).
    let syncFailure = Locked<Int32?>(nil)

    /// Written or published since the last sync, and the highest owed-report id written.
    private struct Unsynced {
        var accepted: [(messageRowId: Int64, sourceFile: String)] = []
        var written: [Int64] = []
        var highWater: Int64 = 0
        var units: Set<String> = []
    }
    private let unsynced = Locked(Unsynced())

    public init(store: QueueStore, spool: Spool, signer: any GatewaySigning, gatewayId: String, logger: Logger) {
        self.store = store
        self.spool = spool
        self.signer = signer
        self.gatewayId = gatewayId
        self.logger = logger
        signers = (0..<max(1, ProcessInfo.processInfo.activeProcessorCount)).map { _ in
            do { return try signer.replica() } catch {
                logger.error("report signing shares one signer between threads", metadata: ["error": "\(error)"])
                return signer
            }
        }
    }

    /// The body of an "accepted" report as a JSON value: the reference that
    /// `acceptedCanonical` (what the pickup and `recover` sign) is tested against.
    public static func acceptedBody(gatewayId: String, messageId: String, sender: String, file: String, digest: String,
                                    at: Millis, recipients: [String], expiresAt: Millis?) -> JSON {
        var body: [String: JSON] = [
            "kind": "accepted", "gateway": .string(gatewayId), "messageId": .string(messageId), "sender": .string(sender),
            "file": .string(file), "digest": .string(digest), "at": .string(RFC3339.format(millis: at)),
            "recipients": .array(recipients.map(JSON.string)),
        ]
        if let expiresAt { body["expiresAt"] = .string(RFC3339.format(millis: expiresAt)) }
        return .object(body)
    }

    /// `acceptedBody(...).canonicalBytes()`, written directly (members in JCS order): the
    /// pickup makes one per message.
    public static func acceptedCanonical(gatewayId: String, messageId: String, sender: String, file: String, digest: String,
                                         at: Millis, recipients: [String], expiresAt: Millis?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256 + messageId.utf8.count + file.utf8.count + recipients.count * 16)
        func member(_ name: StaticString, _ value: String, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: "\":".utf8)
            JCS.appendString(value, to: &out)
        }
        out.append(UInt8(ascii: "{"))
        member("at", RFC3339.format(millis: at), first: true)
        member("digest", digest)
        if let expiresAt { member("expiresAt", RFC3339.format(millis: expiresAt)) }
        member("file", file)
        member("gateway", gatewayId)
        member("kind", "accepted")
        member("messageId", messageId)
        out.append(contentsOf: ",\"recipients\":[".utf8)
        for (i, r) in recipients.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JCS.appendString(r, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        member("sender", sender)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The pickup published these accepted reports (queued or duplicate messages).
    public func published(accepted: [(messageRowId: Int64, sourceFile: String)], units: Set<String>) {
        guard !accepted.isEmpty else { return }
        unsynced.withLock {
            $0.accepted.append(contentsOf: accepted)
            $0.units.formUnion(units)
        }
    }

    /// Writes everything owed now (without waiting for the disk: see `sync`). Returns how
    /// many reports were written. Concurrent calls collapse into one (the second returns 0),
    /// unless `wait` (at stop: everything owed so far is written before the last sync).
    @discardableResult
    public func flush(wait: Bool = false) -> Int {
        if wait { flushing.lock() } else if !flushing.try() { return 0 }
        defer { flushing.unlock() }
        // The signing certificate may not sign now (gatewayd says why, once): every owed
        // report waits, without being read and prepared at every flush.
        if signer.unavailable != nil { return 0 }
        var total = 0
        // Units whose reports/ cannot be written (no space left, read-only, no permission):
        // their reports stay owed (tried again after the next sync) and are not even signed
        // meanwhile; the other units' go on.
        var fullUnits: [String: SafeFileError] = [:]
        var wroteTo: Set<String> = []
        while true {
            let after = unsynced.withLock { $0.highWater }
            let fetched: [OwedReport]
            do {
                fetched = try store.owedReports(limit: 500, after: after)
            } catch {
                logger.error("cannot read owed reports", metadata: ["error": "\(error)"])
                return total
            }
            if fetched.isEmpty { break }
            // Written since the last sync (not yet confirmed) are not written again.
            let waiting = unsynced.withLock { Set($0.written) }
            let owed = fetched.filter { fullUnits[$0.unit] == nil && !waiting.contains($0.id) }
            // Sign on every core: the owed reports of a busy delivery come in hundreds.
            let files = Locked([(Int, String, [UInt8])?](repeating: nil, count: owed.count))
            let chunks = min(owed.count, max(1, ProcessInfo.processInfo.activeProcessorCount))
            if chunks > 0 {
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                    var i = chunk
                    while i < owed.count {
                        if let file = prepare(owed[i], signer: signers[chunk % signers.count]) { files.withLock { $0[i] = (i, file.0, file.1) } }
                        i += chunks
                    }
                }
            }
            var written: [Int64] = []
            var units: Set<String> = []
            for case let (i, name, bytes)? in files.withLock({ $0 }) {
                let report = owed[i]
                guard fullUnits[report.unit] == nil, let unit = spool.units[report.unit] else { continue }
                do {
                    let fresh = rewriteFresh.withLock { $0.owed.contains(report.id) }
                    try unit.reports.stage(bytes, in: unit.staging).publish(as: name) { taken, existing in
                        fresh && Self.payloadText(bytes) != nil && existing.flatMap(Self.payloadText) == Self.payloadText(bytes) ? .replace : Self.nameIfTaken(taken, existing, ours: bytes)
                    }
                    if fresh { rewriteFresh.withLock { _ = $0.owed.remove(report.id) } }
                    written.append(report.id)
                    units.insert(report.unit)
                } catch let error as SafeFileError where error.reason == .noSpace || error.reason == .notWritable {
                    // This unit's other reports would fail alike; said once (below), not per report.
                    fullUnits[report.unit] = error
                } catch {
                    // This report only (a directory in the way of its name, say): tried again
                    // after each sync, logged the first time.
                    if failedReports.withLock({ $0.insert(report.id).inserted }) {
                        logger.error("cannot write report; it stays owed", metadata: ["unit": "\(report.unit)", "report": "\(report.id)", "error": "\(error)"])
                    }
                }
            }
            unsynced.withLock {
                $0.written.append(contentsOf: written)
                $0.units.formUnion(units)
                $0.highWater = max($0.highWater, fetched.last!.id)
            }
            total += written.count
            wroteTo.formUnion(units)
            if fetched.count < 500 { break }
        }
        blockedUnits.withLock { state in
            let now = Date()
            for unit in fullUnits.keys.sorted() where state[unit]?.blocked != true {
                // Said when it starts, but not again within a minute of the last time (a disk
                // at the edge of full would otherwise have it flap).
                let quiet = state[unit].map { now.timeIntervalSince($0.logged) < 60 } ?? false
                if !quiet {
                    logger.error("cannot write reports; they stay owed and are written once the unit's folder takes them again",
                                 metadata: ["unit": "\(unit)", "error": "\(fullUnits[unit]!)"])
                }
                state[unit] = (true, now, quiet ? state[unit]!.logged : now, !quiet)
            }
            // A blocked unit works again once a report of its was written.
            for (unit, s) in state where s.blocked && fullUnits[unit] == nil && wroteTo.contains(unit) {
                state[unit]!.blocked = false
                if s.announced {
                    logger.notice("reports written again", metadata: ["unit": "\(unit)", "seconds": "\(Int(now.timeIntervalSince(s.since)))"])
                }
            }
        }
        return total
    }

    /// The file name and signed content of one owed report; nil (logged) when it cannot be made.
    private func prepare(_ report: OwedReport, signer: any GatewaySigning) -> (String, [UInt8])? {
        guard spool.units[report.unit] != nil else {
            // Tried at every sync until the unit is configured again: said once per unit.
            if unknownUnits.withLock({ $0.insert(report.unit).inserted }) {
                logger.warning("reports owed to a unit not in the configuration (or whose folders cannot be used); kept until it is", metadata: ["unit": "\(report.unit)", "report": "\(report.id)"])
            }
            return nil
        }
        do {
            if let name = report.fileName {
                // Signed already (an accepted report written again), or canonical with its
                // name given by the producer: no need to read it back.
                var bytes = Array(report.body.utf8)
                if report.receiptOf != nil {
                    let embedded = try Self.withReceipt(report, bytes)
                    if embedded.missing {
                        logger.warning("a delivered report's receipt could not be put in; the report goes without it",
                                       metadata: ["unit": "\(report.unit)", "report": "\(report.id)",
                                                  "cause": "\(report.receipt == nil ? "the receipt is not in the queue" : "the body has no place for it")"])
                    }
                    bytes = embedded.bytes
                }
                return (Self.storedName(name), report.signed ? bytes : try signer.sign(payload: bytes))
            }
            let body = try JSON.parse(report.body)
            return (Self.fileName(report, body: body), try signer.sign(payload: try body.canonicalBytes()))
        } catch is SigningUnavailable {
            // The signing certificate may not sign now (said once by gatewayd, not per
            // report): the report stays owed until one may.
            return nil
        } catch {
            logger.error("cannot sign report", metadata: ["unit": "\(report.unit)", "report": "\(report.id)", "error": "\(error)"])
            return nil
        }
    }

    /// A delivered report's body with the agency's receipt where its placeholder is, and
    /// whether the receipt was missing: should it be gone (its message pruned before the
    /// report could be written), the report still goes out, without it.
    static func withReceipt(_ report: OwedReport, _ body: [UInt8]) throws -> (bytes: [UInt8], missing: Bool) {
        if let receipt = report.receipt, let full = ReportReceipt.embed(receipt, in: body) { return (full, false) }
        guard case .object(var members) = try JSON.parse(body) else { return (body, true) }
        members["receipt"] = nil
        return (try JSON.object(members).canonicalBytes(), true)
    }

    /// Flushes the file system once for everything written since the last sync, then tells
    /// the queue. Owed reports that could not be written are tried again afterwards.
    public func sync() {
        syncing.lock()
        defer { syncing.unlock() }
        let pending = unsynced.withLock { u -> Unsynced in
            let taken = u
            u.accepted = []
            u.written = []
            u.units = []
            return taken
        }
        guard !pending.accepted.isEmpty || !pending.written.isEmpty else {
            unsynced.withLock { $0.highWater = 0 }
            return
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let syncFailures = syncFileSystems(units: pending.units)
        let t1 = DispatchTime.now().uptimeNanoseconds
        if !syncFailures.isEmpty {
            // Not known to be on disk, and a sync reports a write-back error once only: nothing
            // of this round is confirmed; its accepted reports are written again by
            // `retryLeftovers`, its owed ones by the next flush (the queue still owes them).
            logger.error("the file system sync of reports failed; they are written again", metadata: [
                "units": "\(syncFailures.keys.sorted())", "error": "\(syncFailures.values.first ?? "")"])
            let keys = pending.accepted.map { AcceptedKey(messageRowId: $0.messageRowId, sourceFile: $0.sourceFile) }
            leftovers.withLock { $0.formUnion(keys) }
            rewriteFresh.withLock { $0.accepted.formUnion(keys); $0.owed.formUnion(pending.written) }
            unsynced.withLock { $0.highWater = 0 }
            return
        }
        defer {
            let ms = { (a: UInt64, b: UInt64) in String(format: "%.1f", Double(b - a) / 1e6) }
            logger.debug("reports synced", metadata: ["accepted": "\(pending.accepted.count)", "written": "\(pending.written.count)",
                                                      "syncMs": "\(ms(t0, t1))", "confirmMs": "\(ms(t1, DispatchTime.now().uptimeNanoseconds))"])
        }
        do {
            try store.confirmDurable(acceptedReports: pending.accepted, writtenReports: pending.written)
        } catch {
            // Not confirmed: written again at the next start (harmless) unless a later sync confirms.
            if !confirmFailing.withLock({ f in defer { f = true }; return f }) {
                logger.error("cannot confirm reports on disk; tried again every second", metadata: ["error": "\(error)"])
            }
            unsynced.withLock {
                $0.accepted.append(contentsOf: pending.accepted)
                $0.written.append(contentsOf: pending.written)
                $0.units.formUnion(pending.units)
            }
            return
        }
        if confirmFailing.withLock({ f in defer { f = false }; return f }) { logger.notice("reports confirmed on disk again") }
        // Everything up to the high-water mark is now on disk or failed: look again from the
        // start, so that failed ones are retried (those written since the sync began are
        // skipped by id, not by the mark).
        unsynced.withLock { $0.highWater = 0 }
    }

    /// Syncs the file systems holding these units' reports (once each). Returns the units
    /// whose file system's sync failed, with the error.
    private func syncFileSystems(units: Set<String>) -> [String: String] {
        var devices: [UInt64: Int32] = [:]
        var failures: [String: String] = [:]
        for name in units.sorted() {
            guard let unit = spool.units[name] else { continue }
            var st = stat()
            let device = fstat(unit.reports.fd, &st) == 0 ? UInt64(st.st_dev) : nil
            let error: Int32
            if let device, let known = devices[device] {
                error = known
            } else {
                error = syncFailure.withLock { $0 } ?? unit.reports.syncFileSystem()
                if let device { devices[device] = error }
            }
            if error != 0 { failures[name] = String(cString: strerror(error)) }
        }
        return failures
    }

    /// The accepted report of a queued message, as first written (its time and expiry from
    /// the queue), signed now.
    public func signedAccepted(_ r: UnsyncedAcceptedReport) throws -> [UInt8] {
        try signer.sign(payload: Self.acceptedCanonical(gatewayId: gatewayId, messageId: r.messageId, sender: r.sender, file: r.sourceFile,
                                                        digest: r.contentDigest, at: r.acceptedAt, recipients: r.recipients, expiresAt: r.expiresAt))
    }

    /// At start: writes again the accepted reports a crash may have lost (published but not
    /// confirmed on disk), then syncs. Returns how many.
    /// A report that cannot be written now (a full or read-only unit folder, a unit no longer
    /// configured) does not stop the start: it stays listed (and its message kept), and the
    /// housekeeping tries it again (`retryLeftovers`). Errors of the queue itself are thrown.
    @discardableResult
    public func recover() throws -> Int {
        var total = 0
        var failed: [String: (count: Int, error: String)] = [:]
        defer { logFailures(failed, when: "at start") }
        var skipped = 0
        while true {
            let lost = try store.unsyncedAcceptedReports(limit: skipped + 500)
            guard lost.count > skipped else { return total }
            let (done, left) = try rewrite(Array(lost.dropFirst(skipped)), failed: &failed)
            // Left listed, ahead of the rest in the next read (hence `skipped`).
            skipped += left.count
            leftovers.withLock { $0.formUnion(left) }
            total += done
        }
    }

    /// The pickup could not publish this accepted report: tried again with the others (the
    /// file stays in the outbox too, and its next read writes it; this covers a unit that
    /// takes the file away meanwhile).
    public func retryLater(messageRowId: Int64, sourceFile: String) {
        leftovers.withLock { _ = $0.insert(AcceptedKey(messageRowId: messageRowId, sourceFile: sourceFile)) }
    }

    /// Whether accepted reports wait to be written again (`retryLeftovers`).
    public var hasLeftovers: Bool { leftovers.withLock { !$0.isEmpty } }

    /// Writes again the accepted reports that could not be written when last tried (the
    /// housekeeping calls this while `hasLeftovers`). Returns how many were written.
    @discardableResult
    public func retryLeftovers() throws -> Int {
        let keys = leftovers.withLock { $0 }
        guard !keys.isEmpty else { return 0 }
        var failed: [String: (count: Int, error: String)] = [:]
        let listed = try store.unsyncedAcceptedReports(keys: keys.map { ($0.messageRowId, $0.sourceFile) })
        // A unit left out waits for a restart (said at start), not tried and said every minute.
        let (known, unknown) = (listed.filter { spool.units[$0.sender] != nil }, listed.filter { spool.units[$0.sender] == nil })
        let (done, left) = try rewrite(known, failed: &failed)
        // Those no longer listed were confirmed meanwhile (the unit dropped the file again).
        leftovers.withLock {
            $0.subtract(keys)
            $0.formUnion(left)
            $0.formUnion(unknown.map { AcceptedKey(messageRowId: $0.messageRowId, sourceFile: $0.sourceFile) })
        }
        if done > 0 { logger.notice("accepted reports written again", metadata: ["count": "\(done)", "left": "\(left.count)"]) }
        logFailures(failed, when: "again")
        return done
    }

    /// Signs, publishes and syncs these accepted reports, then confirms the ones written.
    /// Returns how many, and those left (not written, or their sync failed).
    private func rewrite(_ reports: [UnsyncedAcceptedReport], failed: inout [String: (count: Int, error: String)]) throws -> (Int, [AcceptedKey]) {
        var written: [(key: AcceptedKey, unit: String)] = []
        var left: [AcceptedKey] = []
        for r in reports {
            let key = AcceptedKey(messageRowId: r.messageRowId, sourceFile: r.sourceFile)
            guard let unit = spool.units[r.sender] else {
                failed[r.sender, default: (0, "the unit is not in the configuration, or its folders cannot be used (kept until it is again)")].count += 1
                left.append(key)
                continue
            }
            do {
                let signed = try signedAccepted(r)
                let mine = Self.subject(ofReport: signed)
                let fresh = rewriteFresh.withLock { $0.accepted.contains(key) }
                // Published before under one of the message's own names (its first name was
                // another report's then): kept there. Else written from the first name on
                // (the unit may have taken the report that had it since). After a failed sync,
                // a new file in the place of ours.
                let keptUnderOwnName = !fresh && mine != nil && Self.ownNames(file: r.sourceFile, kind: "accepted", messageId: r.messageId).contains { name in
                    (try? unit.reports.readHostileFile(name, maxBytes: 1 << 20)).flatMap(Self.subject(ofReport:)) == mine
                }
                if !keptUnderOwnName {
                    try unit.reports.stage(signed, in: unit.staging).publish(as: Self.name(file: r.sourceFile, kind: "accepted", recipient: nil)) { taken, existing in
                        fresh && mine != nil && existing.flatMap(Self.subject(ofReport:)) == mine ? .replace : Self.nameIfTaken(taken, existing, ours: signed)
                    }
                }
            } catch {
                failed[r.sender, default: (0, "\(error)")].count += 1
                left.append(key)
                continue
            }
            written.append((key, r.sender))
        }
        let syncFailures = syncFileSystems(units: Set(written.map(\.unit)))
        var done: [(messageRowId: Int64, sourceFile: String)] = []
        for w in written {
            if let error = syncFailures[w.unit] {
                failed[w.unit, default: (0, "sync: \(error)")].count += 1
                left.append(w.key)
                rewriteFresh.withLock { _ = $0.accepted.insert(w.key) }
            } else {
                done.append((w.key.messageRowId, w.key.sourceFile))
                rewriteFresh.withLock { _ = $0.accepted.remove(w.key) }
            }
        }
        try store.confirmDurable(acceptedReports: done, writtenReports: [])
        return (done.count, left)
    }

    private func logFailures(_ failed: [String: (count: Int, error: String)], when: String) {
        for (unit, f) in failed.sorted(by: { $0.key < $1.key }) {
            logger.error("accepted reports lost at the last stop could not be written \(when); tried again every minute", metadata: [
                "unit": "\(unit)", "count": "\(f.count)", "error": "\(f.error)"])
        }
    }

    static func fileName(_ report: OwedReport, body: JSON) -> String {
        name(file: body["file"]?.stringValue ?? body["messageId"]?.stringValue ?? "report-\(report.id)", kind: report.kind, recipient: report.recipient)
    }

    /// <file stem>[.<qualifier>].<kind>[.<RECIPIENT>].json
    public static func name(file: String, kind: String, recipient: String?, qualifier: String? = nil) -> String {
        var stem = file
        if stem.hasSuffix(".json") { stem.removeLast(5) }
        stem = sanitize(stem)
        let suffix = recipient.map { ".\(kind).\(sanitize($0)).json" } ?? ".\(kind).json"
        // The qualifier (a message's id, 128 bytes at most) is what keeps names apart: kept whole.
        var qualified = qualifier.map { "." + sanitize($0) } ?? ""
        while qualified.utf8.count + suffix.utf8.count > 254 { qualified.removeFirst() }
        // A file name has at most 255 bytes (NAME_MAX): a long unit file name gives way
        // before the qualifier, the kind, the recipient and ".json" do.
        while !stem.isEmpty && stem.utf8.count + qualified.utf8.count + suffix.utf8.count > 255 { stem.removeLast() }
        return stem + qualified + suffix
    }

    /// What a report is about: one kind of report, about one message, for one recipient.
    struct Subject: Equatable {
        var kind: String
        var messageId: String
        var recipient: String?
        var file: String
        /// The message's content digest: the same id with other content (possible again
        /// once retention has pruned the first) is another message.
        var digest: String?
    }

    /// The subject of a signed report (flattened JWS); nil when it is not one.
    static func subject(ofReport bytes: [UInt8]) -> Subject? {
        guard let jws = try? JSON.parse(bytes), let payload = jws["payload"]?.stringValue,
              let decoded = Base64URL.decode(payload), let body = try? JSON.parse(decoded),
              let kind = body["kind"]?.stringValue, let messageId = body["messageId"]?.stringValue else { return nil }
        return Subject(kind: kind, messageId: messageId, recipient: body["recipient"]?.stringValue,
                       file: body["file"]?.stringValue ?? messageId, digest: body["digest"]?.stringValue)
    }

    /// The payload member of a signed report (flattened JWS), as written.
    static func payloadText(_ bytes: [UInt8]) -> String? {
        (try? JSON.parse(bytes))?["payload"]?.stringValue
    }

    /// For `StagedFile.publish(as:ifTaken:)`: a report's name is the unit's file name, and
    /// units reuse file names. When `taken` holds this same report (written again after a
    /// crash, or the acceptance of a message dropped again), it is kept as it was first
    /// written: the unit's evidence does not change under it. When it holds anything else
    /// (another outcome about the same delivery, a report
    /// about an earlier message dropped under the same name, or something that is no
    /// report), the next of this message's own names: the stem with the message's id added,
    /// then with "~2"…"~8", then one with a random part. No report is replaced.
    static func nameIfTaken(_ taken: String, _ existing: [UInt8]?, ours: [UInt8]) -> StagedFile.WhenTaken {
        guard let mine = subject(ofReport: ours) else {
            // Our own report unreadable (it cannot be, but): another name, nothing replaced.
            var stem = taken.hasSuffix(".json") ? String(taken.dropLast(5)) : taken
            while stem.utf8.count > 240 { stem.removeLast() }
            return .use("\(stem).\(UInt32.random(in: 0...UInt32.max)).json")
        }
        if let existing, subject(ofReport: existing) == mine {
            // The same acceptance (one event per message), or the same report byte for byte
            // in its payload (written again after a crash): kept. Another outcome about the
            // same delivery (failed again after a requeue) is news: a name of its own.
            if mine.kind == "accepted" || payloadText(existing) == payloadText(ours) { return .keep }
        }
        let names = ownNames(file: mine.file, kind: mine.kind, recipient: mine.recipient, messageId: mine.messageId)
        guard let i = names.firstIndex(of: taken) else { return .use(names[0]) }
        if i + 1 < names.count { return .use(names[i + 1]) }
        return .use(name(file: mine.file, kind: mine.kind, recipient: mine.recipient, qualifier: "\(mine.messageId)~\(UInt32.random(in: 0...UInt32.max))"))
    }

    /// A report's names after its first: the stem with the message's id, then "~2"…"~8".
    static func ownNames(file: String, kind: String, recipient: String? = nil, messageId: String) -> [String] {
        (1...8).map { n in name(file: file, kind: kind, recipient: recipient, qualifier: n == 1 ? messageId : "\(messageId)~\(n)") }
    }

    /// A whole file name recorded with an owed report (made by `name`, whose parts are
    /// sanitised already): used as it is, never shortened (cutting it would drop the
    /// recipient and ".json", and the reports for several recipients would share a name);
    /// a name that could climb out of the folder or hide is sanitised as a component.
    static func storedName(_ name: String) -> String {
        isHarmless(name) ? name : sanitize(name)
    }

    /// Not empty, not hidden, no "/" and no NUL.
    private static func isHarmless(_ s: String) -> Bool {
        guard let first = s.utf8.first, first != UInt8(ascii: ".") else { return false }
        return !s.utf8.contains { $0 == UInt8(ascii: "/") || $0 == 0 }
    }

    /// A file name component that cannot climb out of the folder or hide.
    static func sanitize(_ s: String) -> String {
        // Nearly every name is harmless as it is.
        if s.utf8.count <= 200 && isHarmless(s) { return s }
        var out = String(s.map { $0 == "/" || $0 == "\0" ? "_" : $0 }.prefix(200))
        while out.hasPrefix(".") { out.removeFirst() }
        return out.isEmpty ? "report" : out
    }
}
