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
import CGatewaySys
import GRDB
import GRDBSQLite
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
    /// Queue files this opening closed to other users (made by earlier versions 0644).
    public let permissionsClosed: [String]

    /// Opens (creating and migrating if needed) the queue at `path`.
    /// `checkpointsInBackground`: commits of this process never copy the WAL back into the
    /// database themselves (SQLite does it in the committing thread by default, a pause of
    /// tens of milliseconds every few thousand pages); `startCheckpointer` does it instead.
    /// `migrate`: bring the queue's schema up to this version's (gatewayd). Without it (the
    /// operator's tools) a queue of another version is refused with a clear error rather
    /// than changed under the daemon that runs on it.
    public init(path: String, readOnly: Bool = false, checkpointsInBackground: Bool = false, migrate: Bool = true) throws {
        self.path = path
        var config = Configuration()
        config.label = "queue"
        config.readonly = readOnly
        config.busyMode = .timeout(TimeInterval(QueueStore.busyTimeoutSeconds))
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            // FULL: a commit is durable when it returns (NORMAL would risk the last
            // transactions on power loss, which the SPEC does not allow).
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // A larger page cache than SQLite's 2 MB: the delivery side reads the pages the
            // pickup just wrote (a pread system call for each page that misses).
            try db.execute(sql: "PRAGMA cache_size = -8192")
            if checkpointsInBackground { try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
            // When the WAL starts over after a burst, the file is cut back to this size
            // (SQLite otherwise keeps it at its largest).
            try db.execute(sql: "PRAGMA journal_size_limit = \(QueueStore.walSizeLimit)")
        }
        permissionsClosed = readOnly ? [] : try Self.prepareFile(path)
        do {
            pool = try Self.openPool(path: path, configuration: config)
            if !readOnly {
                // GRDB's pool puts its writer in WAL mode after `prepareDatabase` and sets
                // `synchronous = NORMAL` there (commits then reach the disk only at the next
                // checkpoint): FULL again, on the one connection that writes.
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
                // Two processes (gatewayd and gatewayctl) may open a new queue at the same
                // moment; the loser of the race finds the schema made and checks again.
                var attempt = 0
                while migrate {
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
            if readOnly || !migrate {
                let migrator = StoreSchema.migrator()
                let (complete, newer) = try pool.read { db in (try migrator.hasCompletedMigrations(db), try migrator.hasBeenSuperseded(db)) }
                if newer {
                    throw QueueStoreError(.io, "the queue at \(path) was made by a newer gatewayd than this program: use the gatewayctl of that version")
                }
                if !complete {
                    throw QueueStoreError(.io, "the queue at \(path) is of an older version: start the gatewayd of this version once (it upgrades the queue), then try again")
                }
            }
        } catch let error as DatabaseError {
            throw QueueStoreError(.io, "cannot open the queue at \(path): \(error.message ?? error.description)")
        }
    }

    /// The pool, opened again for a few seconds while another process holds the new queue
    /// file's lock: putting a new database in WAL mode beside another process's first
    /// open (gatewayd and gatewayctl, or a benchmark, at the same moment) can fail at once
    /// with "database is locked", the busy timeout notwithstanding.
    static func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        // Five seconds in all (an attempt that waited out the busy timeout is not repeated).
        let deadline = Date().addingTimeInterval(5)
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where (error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED) && Date() < deadline {
                usleep(50_000)
            }
        }
    }

    // MARK: checkpoints

    /// How long a connection waits for a lock held by another (SQLite's busy timeout).
    public static let busyTimeoutSeconds = 10

    /// The size the WAL file is cut back to when it starts over (64 MB).
    public static let walSizeLimit = 64 << 20

    /// Copies the WAL back into the database from a connection of its own, every
    /// `interval`, beside the writers (a passive checkpoint takes no write lock). Use with
    /// `checkpointsInBackground`. Past `restartFrames` frames in the WAL, the checkpoint
    /// also makes the next writer start the WAL over (see WALCheckpointer).
    public func startCheckpointer(interval: TimeInterval = 0.25, restartFrames: Int = 8192) throws -> WALCheckpointer {
        var config = Configuration()
        config.label = "queue-checkpointer"
        config.busyMode = .timeout(TimeInterval(QueueStore.busyTimeoutSeconds))
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = self.pool
        return WALCheckpointer(queue: try DatabaseQueue(path: path, configuration: config), interval: interval, restartFrames: restartFrames) {
            // On this process's writer connection: the other writers of the process queue
            // behind it instead of polling for the lock (which a busy committer rarely leaves
            // free long enough). Readers of other processes get `restartWait` to leave the WAL.
            try pool.writeWithoutTransaction { db in
                sqlite3_busy_timeout(db.sqliteConnection, WALCheckpointer.restartWait)
                defer { sqlite3_busy_timeout(db.sqliteConnection, Int32(QueueStore.busyTimeoutSeconds * 1000)) }
                try db.checkpoint(.restart)
            }
        }
    }

    // MARK: enqueue

    /// Commits a batch of accepted messages in ONE transaction (one fsync), each with one
    /// delivery per route and its audit record. Idempotent per (sender, messageId): the
    /// same content again is a no-op, other content a conflict; a messageId another sender
    /// has in the queue is refused (endpoints de-duplicate by message id), and so is one this
    /// sender had accepted before and retention pruned (its audit record stays). A message that
    /// `tracksAcceptedReport` (accepted or duplicate) is listed until `confirmDurable`.
    public func enqueue(_ batch: [NewMessage], actor: String = "gatewayd", now: Millis = Date().millis) throws -> [EnqueueOutcome] {
        try pool.write { db in
            var audit = try AuditAppender(db, at: now)
            var outcomes: [EnqueueOutcome] = []
            outcomes.reserveCapacity(batch.count)
            let find = try db.cachedStatement(sql: "SELECT id, content_digest FROM message WHERE sender = ? AND message_id = ?")
            let otherSender = try db.cachedStatement(sql: "SELECT sender FROM message WHERE message_id = ? AND sender <> ? LIMIT 1")
            let insertMessage = try db.cachedStatement(sql: """
                INSERT INTO message (sender, message_id, type, priority, classification, subject, case_reference,
                                     created_at, accepted_at, expires_at, content_digest, source_file, jws, jws_header)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (sender, message_id) DO NOTHING
                """)
            let insertDelivery = try db.cachedStatement(sql: """
                INSERT INTO delivery (message, recipient, endpoint, state, priority_rank, accepted_at, next_attempt_at, updated_at, reason)
                VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, 'accepted')
                """)
            let trackReport = try db.cachedStatement(sql: "INSERT OR IGNORE INTO accepted_report_unsynced (message, source_file) VALUES (?, ?)")
            let acceptedBefore = try db.cachedStatement(sql: "SELECT at FROM audit WHERE sender = ? AND message_id = ? AND event = 'accepted' LIMIT 1")
            let unInsert = try db.cachedStatement(sql: "DELETE FROM message WHERE id = ?")
            // The protected headers of this batch (one per signing second).
            var headers = HeaderIds()
            for message in batch {
                let acceptedAt = message.acceptedAt ?? now
                // The Idempotency-Key is the message id alone: one another unit used is refused.
                if let other = try String.fetchOne(otherSender, arguments: [message.messageId, message.sender]) {
                    outcomes.append(.usedByOtherSender(sender: other))
                    continue
                }
                let (stored, header) = try headers.split(message.jws, in: db)
                // Nearly every message is new: insert, and look at the existing row only
                // when (sender, messageId) is taken.
                try insertMessage.run(
                    .text(message.sender), .text(message.messageId), .text(message.type), .text(message.priority.rawValue),
                    .text(message.classification.rawValue), .text(message.subject), .text(message.caseReference), .int(message.createdAt),
                    .int(acceptedAt), .int(message.expiresAt), .text(message.contentDigest), .text(message.sourceFile), .blob(stored), .int(header))
                if db.changesCount == 0 {
                    if let header { try headers.release(header, in: db) }
                    guard let existing = try Row.fetchOne(find, arguments: [message.sender, message.messageId]) else {
                        throw DatabaseError(resultCode: .SQLITE_CONSTRAINT, message: "message \(message.messageId) neither inserted nor found")
                    }
                    let id: Int64 = existing["id"]
                    let digest: String = existing["content_digest"]
                    if digest == message.contentDigest {
                        if message.tracksAcceptedReport, let file = message.sourceFile { try trackReport.run(.int(id), .text(file)) }
                        outcomes.append(.duplicate(id: id))
                    } else {
                        outcomes.append(.conflict(id: id, existingDigest: digest))
                    }
                    continue
                }
                let id = db.lastInsertedRowID
                // New to the queue; if the audit log has it accepted, retention pruned it.
                if let at = try Int64.fetchOne(acceptedBefore, arguments: [message.sender, message.messageId]) {
                    try unInsert.execute(arguments: [id])
                    if let header { try headers.release(header, in: db) }
                    outcomes.append(.acceptedBefore(at: at))
                    continue
                }
                for route in message.routes {
                    try insertDelivery.run(.int(id), .text(route.recipient), .text(route.endpoint), .int(Int64(message.priority.rank)),
                                              .int(acceptedAt), .int(now), .int(now))
                }
                try audit.append(AuditEvent("accepted", actor: actor, sender: message.sender, messageId: message.messageId),
                                 canonicalDetails: Self.acceptedDetails(message), in: db)
                if message.tracksAcceptedReport, let file = message.sourceFile { try trackReport.run(.int(id), .text(file)) }
                outcomes.append(.accepted(id: id))
            }
            return outcomes
        }
    }

    /// The "accepted" audit record's details, as JCS text.
    static func acceptedDetailsJSON(_ message: NewMessage) -> JSON {
        var details: [String: JSON] = [
            "type": .string(message.type), "priority": .string(message.priority.rawValue),
            "classification": .string(message.classification.rawValue),
            "digest": .string(message.contentDigest),
            "recipients": .array(message.routes.map { .string($0.recipient) }),
            "endpoints": .array(message.routes.map { .string($0.endpoint) }),
        ]
        if let file = message.sourceFile { details["file"] = .string(file) }
        return .object(details)
    }

    /// `acceptedDetailsJSON(message)` made canonical, written directly (one per message
    /// on the committer's path).
    static func acceptedDetails(_ message: NewMessage) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(192 + message.routes.count * 32 + (message.sourceFile?.utf8.count ?? 0))
        func list(_ values: [String]) {
            out.append(UInt8(ascii: "["))
            for (i, v) in values.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JCS.appendString(v, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(contentsOf: #"{"classification":"#.utf8); JCS.appendString(message.classification.rawValue, to: &out)
        out.append(contentsOf: #","digest":"#.utf8); JCS.appendString(message.contentDigest, to: &out)
        out.append(contentsOf: #","endpoints":"#.utf8); list(message.routes.map(\.endpoint))
        if let file = message.sourceFile { out.append(contentsOf: #","file":"#.utf8); JCS.appendString(file, to: &out) }
        out.append(contentsOf: #","priority":"#.utf8); JCS.appendString(message.priority.rawValue, to: &out)
        out.append(contentsOf: #","recipients":"#.utf8); list(message.routes.map(\.recipient))
        out.append(contentsOf: #","type":"#.utf8); JCS.appendString(message.type, to: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
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

    /// `receiptOf`: the delivery whose stored receipt replaces `ReportReceipt.placeholder`
    /// in `body` when the report is written.
    static func oweReport(_ db: Database, unit: String, kind: String, message: Int64?, recipient: String?, body: String, now: Millis,
                          signed: Bool = false, fileName: String? = nil, receiptOf: Int64? = nil) throws {
        try db.cachedStatement(sql: "INSERT INTO report (unit, kind, message, recipient, body, created_at, signed, file_name, receipt_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .run(.text(unit), .text(kind), .int(message), .text(recipient), .text(body), .int(now), .int(signed ? 1 : 0), .text(fileName), .int(receiptOf))
    }

    /// The queue holds every message in full (up to SECRET, attachments included) and the
    /// agencies' receipts: a new one is made 0600 (SQLite gives its -wal and -shm files the
    /// database's mode). One that other users may read or write (earlier versions made it
    /// 0644) is closed to them when it is ours (returned, for the log), else refused with
    /// the fix.
    static func prepareFile(_ path: String) throws -> [String] {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            close(fd)
            return []
        }
        guard errno == EEXIST else {
            throw QueueStoreError(.io, "cannot create the queue at \(path): \(String(cString: strerror(errno)))")
        }
        var closed: [String] = []
        var open: [String] = []
        for file in [path, path + "-wal", path + "-shm"] {
            var st = stat()
            guard stat(file, &st) == 0, st.st_mode & 0o007 != 0 else { continue }
            let mode = String(st.st_mode & 0o777, radix: 8)
            if st.st_uid == geteuid() && chmod(file, st.st_mode & 0o770) == 0 {
                closed.append("\(file) (was \(mode))")
            } else {
                open.append("\(file) (mode \(mode))")
            }
        }
        if !open.isEmpty {
            throw QueueStoreError(.io, "\(open.joined(separator: ", ")) open to other users, and not the gateway's to close; the queue holds every message in full: chmod o-rwx \(open.map { $0.components(separatedBy: " (").first! }.joined(separator: " "))")
        }
        return closed
    }

    // MARK: reports owed

    /// Lists the accepted report of queued message `messageRowId` for the unit's file
    /// `sourceFile` as not yet on disk (as enqueue does for each drop), and returns what it
    /// takes to write it; nil when there is no such message.
    public func trackAcceptedReport(messageRowId: Int64, sourceFile: String) throws -> UnsyncedAcceptedReport? {
        try pool.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM message WHERE id = ?)", arguments: [messageRowId]) == true else { return nil }
            try db.execute(sql: "INSERT OR IGNORE INTO accepted_report_unsynced (message, source_file) VALUES (?, ?)", arguments: [messageRowId, sourceFile])
            return try Self.acceptedReports(db, where: "u.message = ? AND u.source_file = ?", arguments: [messageRowId, sourceFile], limit: 1).first
        }
    }

    /// Accepted reports published but not yet confirmed on disk, oldest first.
    public func unsyncedAcceptedReports(limit: Int = 500) throws -> [UnsyncedAcceptedReport] {
        try pool.read { db in try Self.acceptedReports(db, where: "1", arguments: [], limit: limit) }
    }

    /// These accepted reports, those still listed as unsynced.
    public func unsyncedAcceptedReports(keys: [(messageRowId: Int64, sourceFile: String)]) throws -> [UnsyncedAcceptedReport] {
        try pool.read { db in
            var found: [UnsyncedAcceptedReport] = []
            for key in keys {
                found += try Self.acceptedReports(db, where: "u.message = ? AND u.source_file = ?", arguments: [key.messageRowId, key.sourceFile], limit: 1)
            }
            return found
        }
    }

    static func acceptedReports(_ db: Database, where condition: String, arguments: StatementArguments, limit: Int) throws -> [UnsyncedAcceptedReport] {
            let rows = try Row.fetchAll(db, sql: """
                SELECT u.message, u.source_file, m.sender, m.message_id, m.content_digest, m.accepted_at, m.expires_at,
                       (SELECT group_concat(recipient, char(10)) FROM (SELECT recipient FROM delivery WHERE message = m.id ORDER BY id)) AS recipients
                FROM accepted_report_unsynced u JOIN message m ON m.id = u.message
                WHERE \(condition)
                ORDER BY u.message, u.source_file LIMIT ?
                """, arguments: arguments + [limit])
            return rows.map { row in
                let recipients: String? = row["recipients"]
                return UnsyncedAcceptedReport(messageRowId: row["message"], sourceFile: row["source_file"], sender: row["sender"],
                                              messageId: row["message_id"], contentDigest: row["content_digest"],
                                              acceptedAt: row["accepted_at"], expiresAt: row["expires_at"],
                                              recipients: recipients.map { $0.split(separator: "\n").map(String.init) } ?? [])
            }
    }

    /// After a file system sync: these accepted reports and these owed reports are on disk.
    /// One transaction. A written report's body is dropped: the unit's file is the report
    /// now (a delivered report carries the receipt, ~4 KB, which the receipt table keeps
    /// anyway); the row stays, as the record that it was written, until retention.
    public func confirmDurable(acceptedReports: [(messageRowId: Int64, sourceFile: String)], writtenReports: [Int64],
                               now: Millis = Date().millis) throws {
        guard !acceptedReports.isEmpty || !writtenReports.isEmpty else { return }
        try pool.write { db in
            let forget = try db.cachedStatement(sql: "DELETE FROM accepted_report_unsynced WHERE message = ? AND source_file = ?")
            for r in acceptedReports { try forget.run(.int(r.messageRowId), .text(r.sourceFile)) }
            let written = try db.cachedStatement(sql: "UPDATE report SET written_at = ?, body = '' WHERE id = ?")
            for id in writtenReports { try written.run(.int(now), .int(id)) }
        }
    }

    /// Reports recorded but not yet written to the units' folders, oldest first.
    /// `after`: skip those up to this id (written already, awaiting the sync).
    public func owedReports(limit: Int = 500, after: Int64 = 0) throws -> [OwedReport] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT r.id, r.unit, r.kind, r.message, r.recipient, r.body, r.created_at, r.signed, r.file_name, r.receipt_of,
                       rc.jws AS receipt_jws, h.protected AS receipt_protected
                FROM report r LEFT JOIN delivery d ON d.id = r.receipt_of AND d.message = r.message
                              LEFT JOIN receipt rc ON rc.delivery = d.id LEFT JOIN jws_header h ON h.id = rc.jws_header
                WHERE r.written_at IS NULL AND r.id > ? ORDER BY r.id LIMIT ?
                """, arguments: [after, limit]).map { row -> OwedReport in
                var receipt: [UInt8]? = nil
                if let stored: Data = row["receipt_jws"] { receipt = CompactJWS.wire(stored: [UInt8](stored), header: row["receipt_protected"]) }
                return OwedReport(id: row["id"], unit: row["unit"], kind: row["kind"], messageRowId: row["message"],
                                  recipient: row["recipient"], body: row["body"], createdAt: row["created_at"],
                                  signed: row["signed"], fileName: row["file_name"], receiptOf: row["receipt_of"], receipt: receipt)
            }
        }
    }

    // MARK: audit

    /// Verifies the audit chain and its signed checkpoints.
    /// `anchors`: record hashes known from outside the queue (gatewayd's log of its checkpoints).
    public func verifyAudit(verifier: (any AuditVerifier)?, anchors: [AuditAnchor] = []) throws -> AuditVerification {
        try pool.read { db in try AuditLog.verify(db, verifier: verifier, anchors: anchors) }
    }

    /// Signs the current head of the audit log, if it moved since the last checkpoint.
    /// Returns what it signed (an anchor to keep outside the queue), nil when nothing moved.
    @discardableResult
    /// `now`: the checkpoint's time (default: when the write lock is held, so that the time
    /// signed is the time it is made, however long the lock took).
    public func checkpointAudit(signer: any AuditSigner, now fixed: Millis? = nil) throws -> AuditAnchor? {
        try pool.write { db in
            let now = fixed ?? Date().millis
            guard let head = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1") else { return nil }
            let seq: Int64 = head["seq"]
            let hash: String = head["hash"]
            if let last = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_checkpoint"), last >= seq { return nil }
            let signature = try signer.sign(AuditChain.checkpointPayload(seq: seq, hash: hash, at: now), at: now)
            try db.execute(sql: "INSERT INTO audit_checkpoint (seq, hash, at, signature) VALUES (?, ?, ?, ?)",
                           arguments: [seq, hash, now, signature])
            return AuditAnchor(seq: seq, hash: hash)
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

    /// The audit records after `seq`, oldest first, at most `limit`: for a reader that
    /// follows the log as it grows (a record is visible once its transaction committed).
    /// With `event`, only records of that event.
    public func auditRecords(after seq: Int64, event: String? = nil, limit: Int = 1_000) throws -> [AuditRecord] {
        let sql = "SELECT * FROM audit WHERE seq > ?" + (event == nil ? "" : " AND event = ?") + " ORDER BY seq LIMIT ?"
        let arguments: StatementArguments = event.map { [seq, $0, limit] } ?? [seq, limit]
        return try pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(AuditRecord.init(row:)) }
    }

    /// SQLite's own consistency check ("ok" when sound).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ") }
    }
}

/// The thread behind `QueueStore.startCheckpointer`.
///
/// SQLite starts the WAL over from its beginning only when a writer finds every frame
/// copied back and no reader still in the WAL. Under sustained writes (pickup, delivery and
/// reports commit all the time) a passive checkpoint never catches up with the end, so the
/// file grew for as long as the load lasted: 660 MB in the end-to-end benchmark, every
/// frame appended to newly allocated, zero-filled blocks. Once the WAL holds more than
/// `restartFrames`, a RESTART checkpoint follows the passive one, on the process's writer
/// connection: it copies the few frames written since, waits (at most `restartWait`, the
/// process's writers queued behind it) for readers to leave the WAL, and the next writer
/// starts over at its beginning. A reader that stays longer (a long `gatewayctl` query)
/// makes it give up; it then waits 2, 4, … up to 64 ticks before holding writers again. A
/// restart is not repeated while the WAL holds the same frames (no writer has started it
/// over yet: a restart has nothing left to do). Failures and give-ups are kept for the
/// daemon's log (`takeProblems`).
public final class WALCheckpointer: @unchecked Sendable {
    // `stopped` is read and written under `condition`; the counters under `stats`; the rest
    // is immutable.
    private let queue: DatabaseQueue
    private let interval: TimeInterval
    private let restartFrames: Int
    /// How long a restart may hold writers back while readers finish.
    static let restartWait: Int32 = 50  // ms
    private let condition = MonotonicCondition()
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)
    private let stats = NSLock()
    private var _lastError: String?
    private var _restarts = 0
    private var _restartsBusy = 0
    private var problems: [String] = []
    private var failing = false
    // Only the checkpoint thread reads and writes these.
    private var framesAtRestart = -1
    private var skipTicks = 0
    private var busyStreak = 0
    /// The last error (a checkpoint that failed is tried again at the next tick).
    public var lastError: String? { stats.withLock { _lastError } }
    /// Restarts done, and restarts given up because a reader stayed in the WAL.
    public var restarts: (done: Int, busy: Int) { stats.withLock { (_restarts, _restartsBusy) } }

    private let restart: @Sendable () throws -> Void

    init(queue: DatabaseQueue, interval: TimeInterval, restartFrames: Int, restart: @escaping @Sendable () throws -> Void) {
        self.queue = queue
        self.interval = interval
        self.restartFrames = restartFrames
        self.restart = restart
        let thread = Thread { [self] in
            // The kernel's name (top -H, perf).
            gw_set_thread_name("queue-checkpt")
            self.loop()
            self.done.signal()
        }
        thread.name = "queue-checkpoint"
        thread.start()
    }

    private func loop() {
        condition.lock()
        while !stopped {
            condition.wait(seconds: interval)
            if stopped { break }
            condition.unlock()
            tick()
            condition.lock()
        }
        condition.unlock()
    }

    private func tick() {
        do {
            // Copies what it can without holding anyone up...
            let (frames, _) = try queue.inDatabase { db in try db.checkpoint(.passive) }
            recovered()
            // ...then, with the WAL long and grown since the last restart, the few frames
            // written since, and has it start over.
            guard frames >= restartFrames, frames != framesAtRestart else { return }
            if skipTicks > 0 {
                skipTicks -= 1
                return
            }
            do {
                try restart()
                framesAtRestart = frames
                busyStreak = 0
                stats.withLock { _restarts += 1 }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                busyStreak += 1
                skipTicks = 1 << min(busyStreak, 6)
                stats.withLock {
                    _restartsBusy += 1
                    if busyStreak == 3 {
                        problems.append("the WAL (\(frames) frames) cannot start over: a reader of the queue has stayed in it through 3 attempts; retrying less often")
                    }
                }
            }
        } catch {
            failed(error)
        }
    }

    private func checkpoint(_ mode: Database.CheckpointMode) {
        do {
            try queue.inDatabase { db in _ = try db.checkpoint(mode) }
        } catch {
            failed(error)
        }
    }

    private func failed(_ error: Error) {
        stats.withLock {
            _lastError = "\(error)"
            if !failing { problems.append("WAL checkpoint failed (tried again every tick): \(error)") }
            failing = true
        }
    }

    private func recovered() {
        stats.withLock {
            if failing { problems.append("WAL checkpoints work again") }
            failing = false
        }
    }

    /// What went wrong (or right again) since the last call, for the daemon's log.
    public func takeProblems() -> [String] {
        stats.withLock {
            defer { problems.removeAll() }
            return problems
        }
    }

    /// Stops the thread after a last full checkpoint (the WAL is emptied when nobody reads).
    public func stop() {
        condition.lock()
        let already = stopped
        stopped = true
        condition.broadcast()
        condition.unlock()
        if already { return }
        done.wait()
        checkpoint(.truncate)
    }
}

extension QueueStore {
    /// Whether a store error may pass by itself (a full disk, an I/O error, another writer
    /// holding the lock) and the write is worth trying again; anything else (a corrupt
    /// file, a constraint) will not get better by retrying.
    public static func isTransient(_ error: Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_CANTOPEN, .SQLITE_PROTOCOL, .SQLITE_NOMEM].contains(error.resultCode)
    }
}

