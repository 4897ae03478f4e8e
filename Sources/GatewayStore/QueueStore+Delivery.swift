// The scheduler's side of the queue: recovery, claiming due deliveries, recording outcomes,
// expiry. Every method is one transaction.

import Foundation
import GRDB
import GatewayJSON
import GatewayModel

extension QueueStore {
    /// On open by the owner: deliveries left `sending` by a crash go back to `queued`
    /// (at-least-once; endpoints de-duplicate by message id). Returns how many.
    @discardableResult
    public func recoverInterrupted(actor: String = "gatewayd", now: Millis = Date().millis) throws -> Int {
        try pool.write { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT d.id, d.recipient, m.sender, m.message_id FROM delivery d JOIN message m ON m.id = d.message
                WHERE d.state = 'sending'
                """)
            guard !rows.isEmpty else { return 0 }
            var audit = try AuditAppender(db, at: now)
            let update = try db.cachedStatement(sql: "UPDATE delivery SET state = 'queued', updated_at = ?, reason = ? WHERE id = ?")
            for row in rows {
                try update.execute(arguments: [now, "recovered after restart", row["id"] as Int64])
                try audit.append(AuditEvent("requeued", actor: actor, sender: row["sender"], messageId: row["message_id"],
                                            recipient: row["recipient"], details: ["reason": "was sending when the daemon stopped"]), in: db)
            }
            return rows.count
        }
    }

    /// Moves up to `limit` due deliveries of `endpoint` to `sending` and returns them:
    /// `immediate` before `urgent` before `routine`, then oldest first; deferred ones only
    /// once their next attempt time has come.
    /// `maxRank` limits the claim to the most urgent priorities (0: immediate only).
    public func claimDue(endpoint: String, limit: Int, now: Millis = Date().millis, maxRank: Int = 2) throws -> [DeliveryJob] {
        guard limit > 0 else { return [] }
        return try pool.write { db in try Self.claim(db, endpoint: endpoint, limit: limit, now: now, maxRank: maxRank) }
    }

    /// What the scheduler wants from one endpoint in one pass.
    public struct ClaimRequest: Sendable {
        public var endpoint: String
        /// Immediate-priority deliveries at most (they may use the reserved slot).
        public var immediate: Int
        /// Deliveries of any priority at most, after the immediate ones.
        public var regular: Int
        public init(endpoint: String, immediate: Int, regular: Int) {
            self.endpoint = endpoint
            self.immediate = immediate
            self.regular = regular
        }
    }

    /// Claims for several endpoints in ONE transaction (one fsync per scheduler pass).
    public func claimDue(_ requests: [ClaimRequest], now: Millis = Date().millis) throws -> [String: [DeliveryJob]] {
        let wanted = requests.filter { $0.immediate + $0.regular > 0 }
        guard !wanted.isEmpty else { return [:] }
        return try pool.write { db in
            var result: [String: [DeliveryJob]] = [:]
            for r in wanted {
                var jobs = try Self.claim(db, endpoint: r.endpoint, limit: r.immediate, now: now, maxRank: 0)
                // An immediate one takes a regular slot when one is free, else the reserved one.
                jobs += try Self.claim(db, endpoint: r.endpoint, limit: max(0, r.regular - jobs.count), now: now, maxRank: 2)
                if !jobs.isEmpty { result[r.endpoint] = jobs }
            }
            return result
        }
    }

    static func claim(_ db: Database, endpoint: String, limit: Int, now: Millis, maxRank: Int) throws -> [DeliveryJob] {
        guard limit > 0 else { return [] }
        let ids = try selectDue(db, endpoint: endpoint, limit: limit, now: now, maxRank: maxRank)
        guard !ids.isEmpty else { return [] }
        let mark = try db.cachedStatement(sql: "UPDATE delivery SET state = 'sending', updated_at = ?, reason = 'claimed' WHERE id = ?")
        let fetch = try db.cachedStatement(sql: """
            SELECT d.id, d.message, d.recipient, d.endpoint, d.priority_rank, d.attempts,
                   m.sender, m.message_id, m.content_digest, m.expires_at, m.source_file, m.jws, h.protected AS jws_protected, m.classification,
                   m.accepted_at
            FROM delivery d JOIN message m ON m.id = d.message LEFT JOIN jws_header h ON h.id = m.jws_header WHERE d.id = ?
            """)
        var jobs: [DeliveryJob] = []
        jobs.reserveCapacity(ids.count)
        for id in ids {
            try mark.execute(arguments: [now, id])
            guard let row = try Row.fetchOne(fetch, arguments: [id]) else { continue }
            let jws: Data = row["jws"]
            jobs.append(DeliveryJob(
                deliveryId: row["id"], messageRowId: row["message"], sender: row["sender"], messageId: row["message_id"],
                recipient: row["recipient"], endpoint: row["endpoint"],
                priority: Priority(rank: row["priority_rank"]) ?? .routine, attempts: row["attempts"],
                contentDigest: row["content_digest"], expiresAt: row["expires_at"], sourceFile: row["source_file"],
                jws: CompactJWS.wire(stored: [UInt8](jws), header: row["jws_protected"]), classification: row["classification"],
                acceptedAt: row["accepted_at"]))
        }
        return jobs
    }

    /// The ids of the next `limit` due deliveries of `endpoint`, in sending order, without
    /// claiming them (a read: what the scheduler would take next).
    public func peekDue(endpoint: String, limit: Int, now: Millis = Date().millis) throws -> [Int64] {
        try pool.read { db in try Self.selectDue(db, endpoint: endpoint, limit: limit, now: now) }
    }

    /// Priority rank by rank: the queued (oldest first) merged with the deferred that have
    /// come due. Each lookup is a range scan of a partial index: cost independent of the backlog.
    static func selectDue(_ db: Database, endpoint: String, limit: Int, now: Millis, maxRank: Int = 2) throws -> [Int64] {
        var ids: [Int64] = []
        let queued = try db.cachedStatement(sql: """
            SELECT id FROM delivery WHERE endpoint = ? AND state = 'queued' AND priority_rank = ? ORDER BY id LIMIT ?
            """)
        let deferred = try db.cachedStatement(sql: """
            SELECT id FROM delivery WHERE endpoint = ? AND state = 'deferred' AND priority_rank = ? AND next_attempt_at <= ?
            ORDER BY next_attempt_at LIMIT ?
            """)
        for rank in 0...min(2, maxRank) where ids.count < limit {
            let want = limit - ids.count
            var batch = try Int64.fetchAll(queued, arguments: [endpoint, rank, want])
            batch += try Int64.fetchAll(deferred, arguments: [endpoint, rank, now, want])
            batch.sort()
            ids += batch.prefix(want)
        }
        return ids
    }

    /// The earliest time a deferred delivery of `endpoint` comes due (nil: none deferred).
    public func nextDeferredDue(endpoint: String) throws -> Millis? {
        try pool.read { db in
            try Millis.fetchOne(db, sql: "SELECT MIN(next_attempt_at) FROM delivery WHERE endpoint = ? AND state = 'deferred'",
                                arguments: [endpoint])
        }
    }

    /// Whether `endpoint` has deliveries queued now.
    public func hasQueued(endpoint: String) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM delivery WHERE endpoint = ? AND state = 'queued')",
                              arguments: [endpoint]) ?? false
        }
    }

    /// One attempt's outcome, to record.
    public struct Resolution: Sendable {
        public var job: DeliveryJob
        public var attempt: AttemptRecord?
        public var resolution: DeliveryResolution
        /// Report body for the unit (delivered / failed / expired), if owed.
        public var report: String?
        /// The report's file name, when `report` is already canonical (JCS): the writer then
        /// signs it as it is, without reading it back. Nil: the writer canonicalises the
        /// body and names the file from it.
        public var reportFile: String?
        /// The report's body holds `ReportReceipt.placeholder` for this delivery's receipt.
        public var reportEmbedsReceipt: Bool

        public init(job: DeliveryJob, attempt: AttemptRecord?, resolution: DeliveryResolution, report: String? = nil, reportFile: String? = nil,
                    reportEmbedsReceipt: Bool = false) {
            self.job = job
            self.attempt = attempt
            self.resolution = resolution
            self.report = report
            self.reportFile = report == nil ? nil : reportFile
            self.reportEmbedsReceipt = report != nil && reportEmbedsReceipt
        }
    }

    /// Records outcomes of attempts in ONE transaction: the attempt, the new state with its
    /// reason, the receipt, the audit records and the reports owed. A delivery that is no
    /// longer `sending` (changed meanwhile) is skipped and reported back.
    @discardableResult
    public func resolve(_ resolutions: [Resolution], actor: String = "gatewayd", now: Millis = Date().millis) throws -> [Int64] {
        guard !resolutions.isEmpty else { return [] }
        return try pool.write { db in
            var audit = try AuditAppender(db, at: now)
            var skipped: [Int64] = []
            let state = try db.cachedStatement(sql: "SELECT state FROM delivery WHERE id = ?")
            let insertAttempt = try db.cachedStatement(sql: """
                INSERT INTO attempt (delivery, started_at, duration_ms, endpoint, http_status, outcome, error)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """)
            let update = try db.cachedStatement(sql: """
                UPDATE delivery SET state = ?, attempts = attempts + ?, next_attempt_at = ?, updated_at = ?, reason = ? WHERE id = ?
                """)
            let insertReceipt = try db.cachedStatement(sql: "INSERT OR REPLACE INTO receipt (delivery, received_at, status, jws, jws_header) VALUES (?, ?, ?, ?, ?)")
            let answered = try db.cachedStatement(sql: Self.answeredSQL)
            // Receipts in the flattened form keep their protected header (the agency's x5c)
            // once per signing second, as messages do (CompactJWS).
            var headers = HeaderIds()
            for r in resolutions {
                let id = r.job.deliveryId
                guard let current = try String.fetchOne(state, arguments: [id]), current == DeliveryState.sending.rawValue else {
                    skipped.append(id)
                    continue
                }
                var details: [String: JSON] = ["endpoint": .string(r.job.endpoint)]
                if let a = r.attempt {
                    try insertAttempt.run(.int(id), .int(a.startedAt), .int(Int64(a.durationMs)), .text(a.endpoint), .int(a.httpStatus.map(Int64.init)),
                                          .text(a.outcome), .text(a.error))
                    details["attempt"] = .number(Double(r.job.attempts + 1))
                    details["durationMs"] = .number(Double(a.durationMs))
                    if let status = a.httpStatus { details["httpStatus"] = .number(Double(status)) }
                }
                let counted = r.attempt == nil ? 0 : 1
                let event: String
                // The agency answered that it has the message (a receipt not decided yet): never
                // "expired, not delivered"; held for an operator instead, without a report.
                var resolution = r.resolution
                var report = r.report
                if case .expired = resolution, try Bool.fetchOne(answered, arguments: [id]) == true {
                    resolution = .held(reason: Self.answeredHoldReason)
                    report = nil
                }
                switch resolution {
                case .delivered(let receipt, let duplicate):
                    try update.run(.text("delivered"), .int(Int64(counted)), .null, .int(now), .text(duplicate ? "delivered (endpoint already had it)" : "delivered"), .int(id))
                    if let receipt {
                        let (stored, header) = try headers.split(receipt.jws, in: db)
                        try insertReceipt.run(.int(id), .int(receipt.receivedAt), .text(receipt.status), .blob(stored), .int(header))
                        details["receipt"] = true
                    }
                    if duplicate { details["duplicate"] = true }
                    // What the attempt noted about its proof (a receipt dated outside the
                    // gateway's times, one not kept where none is required) goes on record too.
                    if let note = r.attempt?.error { details["note"] = .string(note) }
                    event = "delivered"
                case .deferred(let until, let reason):
                    try update.run(.text("deferred"), .int(Int64(counted)), .int(until), .int(now), .text(reason), .int(id))
                    details["reason"] = .string(reason)
                    details["nextAttemptAt"] = .number(Double(until))
                    event = "deferred"
                case .failed(let reason):
                    try update.run(.text("failed"), .int(Int64(counted)), .null, .int(now), .text(reason), .int(id))
                    details["reason"] = .string(reason)
                    event = "failed"
                case .requeued(let reason):
                    try update.run(.text("queued"), .int(Int64(counted)), .int(now), .int(now), .text(reason), .int(id))
                    details["reason"] = .string(reason)
                    event = "requeued"
                case .expired(let reason):
                    try update.run(.text("expired"), .int(Int64(counted)), .null, .int(now), .text(reason), .int(id))
                    details["reason"] = .string(reason)
                    event = "expired"
                case .held(let reason):
                    try update.run(.text("held"), .int(Int64(counted)), .null, .int(now), .text(reason), .int(id))
                    details["reason"] = .string(reason)
                    event = "held"
                }
                if r.attempt != nil {
                    try audit.append(AuditEvent("attempt", actor: actor, sender: r.job.sender, messageId: r.job.messageId,
                                                recipient: r.job.recipient, details: details), in: db)
                }
                try audit.append(AuditEvent(event, actor: actor, sender: r.job.sender, messageId: r.job.messageId,
                                            recipient: r.job.recipient, details: details), in: db)
                if let body = report {
                    try Self.oweReport(db, unit: r.job.sender, kind: event, message: r.job.messageRowId, recipient: r.job.recipient, body: body, now: now,
                                       fileName: r.reportFile, receiptOf: r.reportEmbedsReceipt ? id : nil)
                }
            }
            return skipped
        }
    }

    // Messages past their expiry (by the message_expires index), then their pending
    // deliveries. CROSS JOIN keeps that order: left to itself SQLite walked every pending
    // delivery by state and looked up its message, a read of the whole queue every second.
    /// The attempt outcome of an answer that says the agency has the message, with a
    /// receipt whose signer's revocation could not be decided yet.
    public static let undecidedOutcome = "receipt-undecided"
    /// The attempt outcome of a 409 (the agency has it already) without a valid receipt,
    /// where the endpoint requires one.
    public static let unprovenDuplicateOutcome = "duplicate-unproven"
    /// The attempt outcome of a 2xx whose receipt did not hold, where the endpoint requires
    /// one: failed (an operator may requeue it), but the agency took the message.
    public static let invalidReceiptOutcome = "receipt-invalid"
    /// Why a delivery with such an answer is held at the message's expiry rather than
    /// expired ("expired, not delivered" could be false: the agency said it has it).
    public static let answeredHoldReason = "held at the message's expiry: the agency answered that it has the message, but no receipt proving it could be decided (its signer's revocation unknown, a 409 without a valid receipt, or a receipt that did not hold); release to ask once more once that is settled (the agency answers a retry with its receipt; the message is sent past its expiry for that), or cancel"
    /// An attempt of delivery `d` with such an answer.
    static let answeredAttempt = "SELECT 1 FROM attempt a WHERE a.delivery = d.id AND a.outcome IN ('\(undecidedOutcome)', '\(unprovenDuplicateOutcome)', '\(invalidReceiptOutcome)')"
    /// Whether a delivery had such an answer.
    static let answeredSQL = "SELECT EXISTS (\(answeredAttempt.replacingOccurrences(of: "d.id", with: "?")))"
    /// Deliveries the agency answered for are left alone when held (held so as not to
    /// expire) or queued (an operator released one to ask once more: it is sent, and held
    /// again if that answer proves nothing either).
    static let expiryCandidates = """
        m.expires_at IS NOT NULL AND m.expires_at > ? AND m.expires_at <= ? AND d.state IN ('queued', 'deferred', 'held')
        AND NOT (d.state IN ('held', 'queued') AND EXISTS (\(answeredAttempt)))
        """

    /// Whether the agency answered for this delivery (see answeredHoldReason).
    public func wasAnswered(deliveryId: Int64) throws -> Bool {
        try pool.read { db in try Bool.fetchOne(db, sql: Self.answeredSQL, arguments: [deliveryId]) ?? false }
    }
    static let anyExpiredSQL = """
        SELECT EXISTS (SELECT 1 FROM message m CROSS JOIN delivery d ON d.message = m.id WHERE \(expiryCandidates))
        """
    static let expiredSQL = """
        SELECT d.id, d.recipient, d.endpoint, d.message, m.sender, m.message_id, m.expires_at, m.source_file,
               EXISTS (\(answeredAttempt)) AS answered
        FROM message m CROSS JOIN delivery d ON d.message = m.id
        WHERE \(expiryCandidates)
        LIMIT ?
        """

    /// Expires every queued, deferred or held delivery whose message is past its expiry.
    /// `report` builds the body of the "expired" report for each. Returns how many.
    /// `since`: only messages that expired after it (a caller that has looked up to a time
    /// before need not walk every message expired since, up to the retention, every time).
    @discardableResult
    /// `complete` is told whether every delivery due up to `now` was handled (false: the
    /// limit was reached, more may be left).
    public func expireDue(now: Millis = Date().millis, since: Millis = Int64.min, limit: Int = 1000, actor: String = "gatewayd",
                          complete: (Bool) -> Void = { _ in },
                          report: (ExpiredDelivery) -> String? = { _ in nil }) throws -> [ExpiredDelivery] {
        // Look without the write lock first: nearly always nothing is due.
        let due = try pool.read { db in try Bool.fetchOne(db, sql: Self.anyExpiredSQL, arguments: [since, now]) ?? false }
        guard due else { complete(true); return [] }
        return try pool.write { db in
            let rows = try Row.fetchAll(db, sql: Self.expiredSQL, arguments: [since, now, limit])
            complete(rows.count < limit)
            guard !rows.isEmpty else { return [] }
            var audit = try AuditAppender(db, at: now)
            var expired: [ExpiredDelivery] = []
            let update = try db.cachedStatement(sql: "UPDATE delivery SET state = 'expired', updated_at = ?, reason = ? WHERE id = ?")
            let hold = try db.cachedStatement(sql: "UPDATE delivery SET state = 'held', next_attempt_at = NULL, updated_at = ?, reason = ? WHERE id = ?")
            for row in rows {
                let e = ExpiredDelivery(deliveryId: row["id"], messageRowId: row["message"], sender: row["sender"],
                                        messageId: row["message_id"], recipient: row["recipient"], endpoint: row["endpoint"],
                                        expiresAt: row["expires_at"], sourceFile: row["source_file"])
                if row["answered"] == true {
                    // The agency has it: held, not expired (see answeredHoldReason).
                    try hold.execute(arguments: [now, Self.answeredHoldReason, e.deliveryId])
                    try audit.append(AuditEvent("held", actor: actor, sender: e.sender, messageId: e.messageId, recipient: e.recipient,
                                                details: ["reason": .string(Self.answeredHoldReason), "endpoint": .string(e.endpoint)]), in: db)
                    continue
                }
                try update.execute(arguments: [now, "expired before delivery", e.deliveryId])
                try audit.append(AuditEvent("expired", actor: actor, sender: e.sender, messageId: e.messageId, recipient: e.recipient,
                                            details: ["expiresAt": .number(Double(e.expiresAt)), "endpoint": .string(e.endpoint)]), in: db)
                if let body = report(e) {
                    try Self.oweReport(db, unit: e.sender, kind: "expired", message: e.messageRowId, recipient: e.recipient, body: body, now: now)
                }
                expired.append(e)
            }
            return expired
        }
    }

    /// Endpoints that have deliveries in any non-terminal state.
    public func activeEndpoints() throws -> [String] {
        try pool.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT endpoint FROM delivery WHERE state IN ('queued', 'deferred', 'sending')")
        }
    }
}

/// A delivery that expired, for its report.
public struct ExpiredDelivery: Sendable, Equatable {
    public var deliveryId: Int64
    public var messageRowId: Int64
    public var sender: String
    public var messageId: String
    public var recipient: String
    public var endpoint: String
    public var expiresAt: Millis
    public var sourceFile: String?
}

/// Where the housekeeping's expiry look starts: from where the last complete look ended
/// (walking the expiry index from the retention every second costs what is kept, not what
/// is due), and from the beginning once an hour, for deliveries made waiting again after
/// their message expired (an operator's release, say). A look that hit the batch limit is
/// taken up again from the same point.
public struct ExpiryWatermark: Sendable {
    public static let fullScanInterval: Double = 3600
    public private(set) var scannedTo = Int64.min
    private var lastFullScan = -Double.infinity

    public init() {}

    /// One look (`uptime`: monotonic seconds); returns what it expired.
    public mutating func expireDue(in store: QueueStore, now: Millis, uptime: Double, limit: Int = 1000,
                                   report: (ExpiredDelivery) -> String? = { _ in nil }) throws -> [ExpiredDelivery] {
        if uptime - lastFullScan >= Self.fullScanInterval {
            lastFullScan = uptime
            scannedTo = .min
        }
        var complete = false
        let expired = try store.expireDue(now: now, since: scannedTo, limit: limit, complete: { complete = $0 }, report: report)
        if complete { scannedTo = now }
        return expired
    }
}
