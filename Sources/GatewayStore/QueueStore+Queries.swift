// Read-only views of the queue for the operator console: list, show, stats.

import Foundation
import GRDB
import GatewayModel

/// One line of `queue list`.
public struct DeliverySummary: Sendable, Equatable {
    public var deliveryId: Int64
    public var messageRowId: Int64
    public var sender: String
    public var messageId: String
    public var type: String
    public var recipient: String
    public var endpoint: String
    public var state: DeliveryState
    public var priority: Priority
    public var classification: String
    public var acceptedAt: Millis
    public var updatedAt: Millis
    public var attempts: Int
    public var nextAttemptAt: Millis?
    public var reason: String?
}

public enum DeliverySort: String, Sendable, CaseIterable {
    case newest, oldest, priority

    var sql: String {
        switch self {
        case .newest: return "d.id DESC"
        case .oldest: return "d.id ASC"
        case .priority: return "d.priority_rank ASC, d.id ASC"
        }
    }
}

/// Everything known about one message: `queue show`.
public struct MessageDetail: Sendable {
    public struct Delivery: Sendable {
        public var summary: DeliverySummary
        public var attempts: [AttemptRecord]
        public var receipt: ReceiptRecord?
    }
    public var rowId: Int64
    public var sender: String
    public var messageId: String
    public var type: String
    public var priority: Priority
    public var classification: String
    public var subject: String?
    public var caseReference: String?
    public var createdAt: Millis
    public var acceptedAt: Millis
    public var expiresAt: Millis?
    public var contentDigest: String
    public var sourceFile: String?
    public var jws: [UInt8]
    public var deliveries: [Delivery]
    public var audit: [AuditRecord]
}

/// `queue stats`: counts, ages, a qshape-style histogram, breaker states.
public struct QueueStats: Sendable {
    public struct EndpointStats: Sendable {
        public var endpoint: String
        public var counts: [DeliveryState: Int]
        /// Pending deliveries (queued, deferred, sending, held) per age bucket.
        public var ageHistogram: [Int]
        public var oldestPendingAt: Millis?
        public var breaker: String?
        public var consecutiveFailures: Int?
    }
    /// Bucket upper bounds in minutes, as qshape: 5, 10, 20, 40, 80, 160, 320, 640, 1280, then "more".
    public static let bucketMinutes = [5, 10, 20, 40, 80, 160, 320, 640, 1280]
    public var endpoints: [EndpointStats]
    public var totals: [DeliveryState: Int]
    public var messages: Int
    public var generatedAt: Millis
}

extension QueueStore {
    static let summaryColumns = """
        d.id, d.message, m.sender, m.message_id, m.type, d.recipient, d.endpoint, d.state, d.priority_rank,
        m.classification, d.accepted_at, d.updated_at, d.attempts, d.next_attempt_at, d.reason
        """

    static func summary(_ row: Row) -> DeliverySummary {
        DeliverySummary(
            deliveryId: row["id"], messageRowId: row["message"], sender: row["sender"], messageId: row["message_id"],
            type: row["type"], recipient: row["recipient"], endpoint: row["endpoint"],
            state: DeliveryState(rawValue: row["state"]) ?? .queued, priority: Priority(rank: row["priority_rank"]) ?? .routine,
            classification: row["classification"], acceptedAt: row["accepted_at"], updatedAt: row["updated_at"],
            attempts: row["attempts"], nextAttemptAt: row["next_attempt_at"], reason: row["reason"])
    }

    /// Deliveries selected by `filter`, sorted and paged.
    public func list(_ filter: DeliveryFilter = DeliveryFilter(), sort: DeliverySort = .newest, limit: Int = 50, offset: Int = 0) throws -> [DeliverySummary] {
        try pool.read { db in
            let (clause, args) = filter.whereClause()
            var arguments = args
            _ = arguments.append(contentsOf: [limit, offset])
            return try Row.fetchAll(db, sql: """
                SELECT \(Self.summaryColumns) FROM delivery d JOIN message m ON m.id = d.message
                WHERE \(clause) ORDER BY \(sort.sql) LIMIT ? OFFSET ?
                """, arguments: arguments).map(Self.summary)
        }
    }

    /// How many deliveries `filter` selects.
    public func countDeliveries(_ filter: DeliveryFilter = DeliveryFilter()) throws -> Int {
        try pool.read { db in
            let (clause, args) = filter.whereClause()
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM delivery d JOIN message m ON m.id = d.message WHERE \(clause)", arguments: args) ?? 0
        }
    }

    /// The highest message row id: the number of messages ever accepted (rows are never
    /// reused), read in constant time.
    public func messageCountEstimate() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT MAX(id) FROM message") ?? 0 }
    }

    /// Deliveries not yet in a final state or failed (queued, deferred, sending, held).
    /// Proportional to the backlog (about 40 ms with 900,000 pending).
    public func countPending() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM delivery WHERE state IN \(Self.pendingStates)") ?? 0 }
    }

    static let pendingStates = "('queued', 'deferred', 'sending', 'held')"

    /// A count of the pending deliveries, with the highest delivery row id when it was made.
    public struct PendingCount: Sendable, Equatable {
        public let pending: Int
        public let maxRowId: Int64
        public let at: Date
    }

    /// Whether at least `limit` deliveries are pending, counting as rarely as that allows.
    ///
    /// - While the delivery table's row-id range is under `limit`, there cannot be that many
    ///   pending: nothing is counted (`count` nil).
    /// - With `previous`, while its pending deliveries plus every delivery row added since
    ///   stay under `limit`, nothing is counted either (`count` is `previous`): only new rows
    ///   become pending, except failed deliveries an operator requeues, which the count made
    ///   at least every `recount` seconds catches up with. A full count costs about 40 ms at
    ///   900,000 pending (failed deliveries, never pruned, keep the row-id range wide).
    public func pendingReaches(_ limit: Int, previous: PendingCount? = nil, recount: TimeInterval = 60,
                               now: Date = Date()) throws -> (reached: Bool, count: PendingCount?) {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT MIN(id) AS low, MAX(id) AS high FROM delivery")
            guard let low: Int64 = row?["low"], let high: Int64 = row?["high"], high - low + 1 >= Int64(limit) else {
                return (false, nil)
            }
            if let previous, now.timeIntervalSince(previous.at) < recount, now >= previous.at,
               Int64(previous.pending) + max(0, high - previous.maxRowId) < Int64(limit) {
                return (false, previous)
            }
            let pending = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM delivery WHERE state IN \(Self.pendingStates)") ?? 0
            return (pending >= limit, PendingCount(pending: pending, maxRowId: high, at: now))
        }
    }

    /// The senders that used each of `messageIds` (message ids are unique per sender only).
    public func senders(of messageIds: [String]) throws -> [String: [String]] {
        guard !messageIds.isEmpty else { return [:] }
        return try pool.read { db in
            var out: [String: [String]] = [:]
            for chunk in stride(from: 0, to: messageIds.count, by: 500).map({ Array(messageIds[$0..<min($0 + 500, messageIds.count)]) }) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(db, sql: "SELECT message_id, sender FROM message WHERE message_id IN (\(marks)) ORDER BY sender",
                                            arguments: StatementArguments(chunk)) {
                    out[row["message_id"], default: []].append(row["sender"])
                }
            }
            return out
        }
    }

    /// One message by the unit's message id (optionally with its sender) or by "#N", the
    /// number of one of its deliveries (as `queue list` shows them and the actions take them).
    /// The row id and content digest of the message `sender` queued as `messageId`, if any.
    public func queuedMessage(sender: String, messageId: String) throws -> (rowId: Int64, digest: String)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT id, content_digest FROM message WHERE sender = ? AND message_id = ?", arguments: [sender, messageId])
                .map { ($0["id"], $0["content_digest"]) }
        }
    }

    public func message(_ reference: String, sender: String? = nil) throws -> MessageDetail? {
        try pool.read { db in
            let row: Row?
            if reference.hasPrefix("#"), let deliveryId = Int64(reference.dropFirst()) {
                row = try Row.fetchOne(db, sql: "SELECT m.* FROM message m JOIN delivery d ON d.message = m.id WHERE d.id = ?", arguments: [deliveryId])
            } else if let sender {
                row = try Row.fetchOne(db, sql: "SELECT * FROM message WHERE sender = ? AND message_id = ?", arguments: [sender, reference])
            } else {
                let rows = try Row.fetchAll(db, sql: "SELECT * FROM message WHERE message_id = ? LIMIT 2", arguments: [reference])
                if rows.count > 1 {
                    throw QueueStoreError(.notFound, "message id \(reference) is used by several senders; give --sender, or a #DELIVERY number")
                }
                row = rows.first
            }
            guard let m = row else { return nil }
            let rowId: Int64 = m["id"]
            let deliveries = try Row.fetchAll(db, sql: """
                SELECT \(Self.summaryColumns) FROM delivery d JOIN message m ON m.id = d.message WHERE d.message = ? ORDER BY d.id
                """, arguments: [rowId]).map(Self.summary)
            var details: [MessageDetail.Delivery] = []
            for d in deliveries {
                let attempts = try Row.fetchAll(db, sql: "SELECT * FROM attempt WHERE delivery = ? ORDER BY id", arguments: [d.deliveryId]).map {
                    AttemptRecord(startedAt: $0["started_at"], durationMs: $0["duration_ms"], endpoint: $0["endpoint"],
                                  httpStatus: $0["http_status"], outcome: $0["outcome"], error: $0["error"])
                }
                let receipt = try Row.fetchOne(db, sql: """
                    SELECT rc.received_at, rc.status, rc.jws, h.protected FROM receipt rc LEFT JOIN jws_header h ON h.id = rc.jws_header
                    WHERE rc.delivery = ?
                    """, arguments: [d.deliveryId]).map {
                    ReceiptRecord(receivedAt: $0["received_at"], status: $0["status"],
                                  jws: CompactJWS.wire(stored: [UInt8]($0["jws"] as Data), header: $0["protected"]))
                }
                details.append(.init(summary: d, attempts: attempts, receipt: receipt))
            }
            let sender: String = m["sender"]
            let messageId: String = m["message_id"]
            let audit = try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE sender = ? AND message_id = ? ORDER BY seq",
                                         arguments: [sender, messageId]).map(AuditRecord.init(row:))
            let jws: Data = m["jws"]
            var header: String? = nil
            if let headerId: Int64 = m["jws_header"] {
                header = try String.fetchOne(db, sql: "SELECT protected FROM jws_header WHERE id = ?", arguments: [headerId])
            }
            return MessageDetail(
                rowId: rowId, sender: sender, messageId: messageId, type: m["type"],
                priority: Priority(rawValue: m["priority"]) ?? .routine, classification: m["classification"],
                subject: m["subject"], caseReference: m["case_reference"], createdAt: m["created_at"],
                acceptedAt: m["accepted_at"], expiresAt: m["expires_at"], contentDigest: m["content_digest"],
                sourceFile: m["source_file"], jws: CompactJWS.wire(stored: [UInt8](jws), header: header), deliveries: details, audit: audit)
        }
    }

    /// Counts by state and endpoint, pending age histograms, oldest pending, breakers.
    public func stats(now: Millis = Date().millis) throws -> QueueStats {
        try pool.read { db in
            var perEndpoint: [String: QueueStats.EndpointStats] = [:]
            var totals: [DeliveryState: Int] = [:]
            func entry(_ endpoint: String) -> QueueStats.EndpointStats {
                perEndpoint[endpoint] ?? .init(endpoint: endpoint, counts: [:], ageHistogram: Array(repeating: 0, count: QueueStats.bucketMinutes.count + 1))
            }
            for row in try Row.fetchAll(db, sql: "SELECT endpoint, state, COUNT(*) AS n FROM delivery GROUP BY endpoint, state") {
                let endpoint: String = row["endpoint"]
                guard let state = DeliveryState(rawValue: row["state"]) else { continue }
                var e = entry(endpoint)
                e.counts[state] = row["n"]
                perEndpoint[endpoint] = e
                totals[state, default: 0] += row["n"] as Int
            }
            // Pending ages, bucketed in SQL so that a million rows never cross into Swift.
            let bounds = QueueStats.bucketMinutes.map { Int64($0) * 60_000 }
            var caseSQL = "CASE"
            for (i, b) in bounds.enumerated() { caseSQL += " WHEN ? - accepted_at < \(b) THEN \(i)" }
            caseSQL += " ELSE \(bounds.count) END"
            let args = StatementArguments(Array(repeating: now, count: bounds.count))
            for row in try Row.fetchAll(db, sql: """
                SELECT endpoint, \(caseSQL) AS bucket, COUNT(*) AS n, MIN(accepted_at) AS oldest FROM delivery
                WHERE state IN ('queued', 'deferred', 'sending', 'held') GROUP BY endpoint, bucket
                """, arguments: args) {
                let endpoint: String = row["endpoint"]
                var e = entry(endpoint)
                e.ageHistogram[row["bucket"]] += row["n"] as Int
                let oldest: Millis = row["oldest"]
                e.oldestPendingAt = min(e.oldestPendingAt ?? oldest, oldest)
                perEndpoint[endpoint] = e
            }
            for row in try Row.fetchAll(db, sql: "SELECT * FROM endpoint_state") {
                let endpoint: String = row["endpoint"]
                var e = entry(endpoint)
                e.breaker = row["breaker"]
                e.consecutiveFailures = row["consecutive_failures"]
                perEndpoint[endpoint] = e
            }
            let messages = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message") ?? 0
            return QueueStats(endpoints: perEndpoint.values.sorted { $0.endpoint < $1.endpoint }, totals: totals,
                              messages: messages, generatedAt: now)
        }
    }

    /// Publishes an endpoint's circuit-breaker state for the console.
    public func setEndpointState(_ endpoint: String, breaker: String, consecutiveFailures: Int, detail: String? = nil,
                                 now: Millis = Date().millis) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO endpoint_state (endpoint, breaker, consecutive_failures, updated_at, detail) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(endpoint) DO UPDATE SET breaker = excluded.breaker, consecutive_failures = excluded.consecutive_failures,
                updated_at = excluded.updated_at, detail = excluded.detail
                """, arguments: [endpoint, breaker, consecutiveFailures, now, detail])
        }
    }
}

extension QueueStore {
    /// Bytes the queue's pages hold (pages in use × page size, free pages not counted),
    /// after copying the WAL back into the database file: what the queue takes on disk.
    public func usedBytes() throws -> Int64 {
        try pool.writeWithoutTransaction { db in
            _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            return (pages - free) * size
        }
    }
}
