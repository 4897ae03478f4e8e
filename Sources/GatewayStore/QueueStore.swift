// NAME
//   QueueStore: the durable queue (SPEC §6) on SQLite through GRDB.
//
// DESCRIPTION
//   WAL journal, synchronous=FULL: a transaction returns only once it is on disk. Every
//   state change is one transaction that also appends its audit record and any report
//   owed to the unit. Enqueue takes batches so that many messages share one fsync.
//   Several processes may open the same queue (gatewayd and gatewayctl); one owner
//   (gatewayd) is enforced separately by QueueOwnerLock.

import Foundation
import GRDB
import GatewayJSON
import GatewayModel

public struct QueueStoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case notFound, invalidTransition, locked, io }
    public let kind: Kind
    public let description: String
    init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }
}

public final class QueueStore: Sendable {
    public let path: String
    let pool: DatabasePool

    /// Opens (creating and migrating if needed) the queue at `path`.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var config = Configuration()
        config.label = "queue"
        config.readonly = readOnly
        config.busyMode = .timeout(10)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            // FULL: a commit is durable when it returns (NORMAL would risk the last
            // transactions on power loss, which the SPEC does not allow).
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            if !readOnly {
                // Two processes (gatewayd and gatewayctl) may open a new queue at the same
                // moment; the loser of the race finds the schema made and checks again.
                var attempt = 0
                while true {
                    do {
                        try StoreSchema.migrator().migrate(pool)
                        break
                    } catch let error as DatabaseError where attempt < 5 {
                        attempt += 1
                        _ = error
                        usleep(50_000)
                    }
                }
            }
        } catch let error as DatabaseError {
            throw QueueStoreError(.io, "cannot open the queue at \(path): \(error.message ?? error.description)")
        }
    }

    // MARK: enqueue

    /// Commits a batch of accepted messages in ONE transaction (one fsync), each with one
    /// delivery per route, its audit record and its "accepted" report. Idempotent per
    /// (sender, messageId): the same content again is a no-op, other content a conflict.
    public func enqueue(_ batch: [NewMessage], actor: String = "gatewayd", now: Millis = Date().millis) throws -> [EnqueueOutcome] {
        try pool.write { db in
            var audit = try AuditAppender(db, at: now)
            var outcomes: [EnqueueOutcome] = []
            outcomes.reserveCapacity(batch.count)
            let find = try db.cachedStatement(sql: "SELECT id, content_digest FROM message WHERE sender = ? AND message_id = ?")
            let insertMessage = try db.cachedStatement(sql: """
                INSERT INTO message (sender, message_id, type, priority, classification, subject, case_reference,
                                     created_at, accepted_at, expires_at, content_digest, source_file, jws)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertDelivery = try db.cachedStatement(sql: """
                INSERT INTO delivery (message, recipient, endpoint, state, priority_rank, accepted_at, next_attempt_at, updated_at, reason)
                VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, 'accepted')
                """)
            for message in batch {
                if let existing = try Row.fetchOne(find, arguments: [message.sender, message.messageId]) {
                    let id: Int64 = existing["id"]
                    let digest: String = existing["content_digest"]
                    outcomes.append(digest == message.contentDigest ? .duplicate(id: id) : .conflict(id: id, existingDigest: digest))
                    continue
                }
                try insertMessage.execute(arguments: [
                    message.sender, message.messageId, message.type, message.priority.rawValue,
                    message.classification.rawValue, message.subject, message.caseReference, message.createdAt, now,
                    message.expiresAt, message.contentDigest, message.sourceFile, Data(message.jws),
                ])
                let id = db.lastInsertedRowID
                for route in message.routes {
                    try insertDelivery.execute(arguments: [id, route.recipient, route.endpoint, message.priority.rank, now, now, now])
                }
                var details: [String: JSON] = [
                    "type": .string(message.type), "priority": .string(message.priority.rawValue),
                    "classification": .string(message.classification.rawValue),
                    "digest": .string(message.contentDigest),
                    "recipients": .array(message.routes.map { .string($0.recipient) }),
                    "endpoints": .array(message.routes.map { .string($0.endpoint) }),
                ]
                if let file = message.sourceFile { details["file"] = .string(file) }
                try audit.append(AuditEvent("accepted", actor: actor, sender: message.sender, messageId: message.messageId, details: details), in: db)
                if let body = message.acceptedReport {
                    try Self.oweReport(db, unit: message.sender, kind: "accepted", message: id, recipient: nil, body: body, now: now,
                                       signed: message.acceptedReportName != nil, fileName: message.acceptedReportName)
                }
                outcomes.append(.accepted(id: id))
            }
            return outcomes
        }
    }

    /// Appends audit events that are not tied to a queue change (refused files, config
    /// reloads, startup), in one transaction.
    public func audit(_ events: [AuditEvent], now: Millis = Date().millis) throws {
        guard !events.isEmpty else { return }
        try pool.write { db in
            var audit = try AuditAppender(db, at: now)
            for event in events { try audit.append(event, in: db) }
        }
    }

    static func oweReport(_ db: Database, unit: String, kind: String, message: Int64?, recipient: String?, body: String, now: Millis,
                          signed: Bool = false, fileName: String? = nil) throws {
        try db.cachedStatement(sql: "INSERT INTO report (unit, kind, message, recipient, body, created_at, signed, file_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [unit, kind, message, recipient, body, now, signed, fileName])
    }

    // MARK: reports owed

    /// Records reports owed to units outside a transition (a duplicate drop's new copy of
    /// its "accepted" report), with their audit events, in one transaction.
    public func oweReports(_ reports: [(unit: String, kind: String, messageRowId: Int64?, recipient: String?, body: String, fileName: String?)],
                           events: [AuditEvent] = [], now: Millis = Date().millis) throws {
        guard !reports.isEmpty || !events.isEmpty else { return }
        try pool.write { db in
            for r in reports {
                try Self.oweReport(db, unit: r.unit, kind: r.kind, message: r.messageRowId, recipient: r.recipient, body: r.body, now: now,
                                   signed: r.fileName != nil, fileName: r.fileName)
            }
            var audit = try AuditAppender(db, at: now)
            for event in events { try audit.append(event, in: db) }
        }
    }

    /// Reports recorded but not yet written to the units' folders, oldest first.
    public func owedReports(limit: Int = 500) throws -> [OwedReport] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, unit, kind, message, recipient, body, created_at, signed, file_name FROM report
                WHERE written_at IS NULL ORDER BY id LIMIT ?
                """, arguments: [limit]).map {
                OwedReport(id: $0["id"], unit: $0["unit"], kind: $0["kind"], messageRowId: $0["message"],
                           recipient: $0["recipient"], body: $0["body"], createdAt: $0["created_at"],
                           signed: $0["signed"], fileName: $0["file_name"])
            }
        }
    }

    /// Marks reports as written to the spool.
    public func markReportsWritten(_ ids: [Int64], now: Millis = Date().millis) throws {
        guard !ids.isEmpty else { return }
        try pool.write { db in
            let statement = try db.cachedStatement(sql: "UPDATE report SET written_at = ? WHERE id = ?")
            for id in ids { try statement.execute(arguments: [now, id]) }
        }
    }

    // MARK: audit

    /// Verifies the audit chain and its signed checkpoints.
    public func verifyAudit(verifier: (any AuditVerifier)?) throws -> AuditVerification {
        try pool.read { db in try AuditLog.verify(db, verifier: verifier) }
    }

    /// Signs the current head of the audit log, if it moved since the last checkpoint.
    @discardableResult
    public func checkpointAudit(signer: any AuditSigner, now: Millis = Date().millis) throws -> Int64? {
        try pool.write { db in
            guard let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1") else { return nil }
            let seq: Int64 = head["seq"]
            let hash: String = head["hash"]
            if let last = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_checkpoint"), last >= seq { return nil }
            let signature = try signer.sign(AuditChain.checkpointPayload(seq: seq, hash: hash, at: now))
            try db.execute(sql: "INSERT INTO audit_checkpoint (seq, hash, at, signature) VALUES (?, ?, ?, ?)",
                           arguments: [seq, hash, now, signature])
            return seq
        }
    }

    /// The last `limit` audit records (newest last), optionally for one message.
    public func auditTail(limit: Int = 20, sender: String? = nil, messageId: String? = nil) throws -> [AuditRecord] {
        try pool.read { db in
            let rows: [Row]
            if let sender, let messageId {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM audit WHERE sender = ? AND message_id = ? ORDER BY seq DESC LIMIT ?",
                                        arguments: [sender, messageId, limit])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM audit ORDER BY seq DESC LIMIT ?", arguments: [limit])
            }
            return rows.reversed().map(AuditRecord.init(row:))
        }
    }

    /// SQLite's own consistency check ("ok" when sound).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }
}
