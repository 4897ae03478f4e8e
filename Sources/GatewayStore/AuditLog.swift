// NAME
//   AuditLog: the tamper-evident, append-only log of every event (SPEC §7).
//
// DESCRIPTION
//   Each record carries the SHA-256 of the previous one; its own hash covers its sequence
//   number, time, event, actor, message, recipient, details and that previous hash, all
//   in RFC 8785 canonical JSON. A record is appended in the SAME transaction as the change
//   it records, so the log and the queue can never disagree. Periodically the head (seq,
//   hash) is signed with the gateway key (a checkpoint).
//
// SECURITY
//   The chain alone detects edits, deletions, insertions and reordering by anyone who does
//   not recompute the hashes; the signed checkpoints detect a chain recomputed by someone
//   without the key. Records after the last checkpoint can be cut off undetected: the
//   daemon checkpoints periodically and on shutdown to keep that window short.
//   Details never hold message content: ids, states, reasons, HTTP statuses only.

import Foundation
import GRDB
import GatewayCrypto
import GatewayJSON

/// Signs an audit checkpoint (the gateway key, through JWS in production).
public protocol AuditSigner: Sendable {
    /// Signs a checkpoint made at `at`: the signature says that same time (its verifier
    /// holds the two together).
    func sign(_ payload: [UInt8], at: Millis) throws -> String
}

/// Checks a checkpoint signature and returns the payload it signs.
public protocol AuditVerifier: Sendable {
    func verify(_ signature: String) throws -> [UInt8]
}

/// One event to append.
public struct AuditEvent: Sendable {
    public var event: String
    public var actor: String
    public var sender: String?
    public var messageId: String?
    public var recipient: String?
    public var details: [String: JSON]

    public init(_ event: String, actor: String, sender: String? = nil, messageId: String? = nil,
                recipient: String? = nil, details: [String: JSON] = [:])
    {
        self.event = event
        self.actor = actor
        self.sender = sender
        self.messageId = messageId
        self.recipient = recipient
        self.details = details
    }
}

/// One stored record.
public struct AuditRecord: Sendable, Equatable {
    public var seq: Int64
    public var at: Millis
    public var event: String
    public var actor: String
    public var sender: String?
    public var messageId: String?
    public var recipient: String?
    public var details: String
    public var prevHash: String
    public var hash: String

    init(row: Row) {
        seq = row["seq"]; at = row["at"]; event = row["event"]; actor = row["actor"]
        sender = row["sender"]; messageId = row["message_id"]; recipient = row["recipient"]
        details = row["details"]; prevHash = row["prev_hash"]; hash = row["hash"]
    }

    /// The hash this record must carry given its content.
    var computedHash: String {
        AuditChain.hash(seq: seq, at: at, event: event, actor: actor, sender: sender, messageId: messageId,
                        recipient: recipient, details: details, prevHash: prevHash)
    }
}

/// What `verify` found.
/// A record's hash known from outside the queue (gatewayd logs each checkpoint it signs):
/// a chain cut back before it, or rewritten up to it, no longer has it.
public struct AuditAnchor: Sendable, Equatable {
    public var seq: Int64
    public var hash: String
    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }
}

public struct AuditVerification: Sendable {
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var seq: Int64
        public var message: String
        public var description: String { "record \(seq): \(message)" }
        public init(seq: Int64, message: String) {
            self.seq = seq
            self.message = message
        }
    }
    public var records: Int
    public var checkpoints: Int
    public var checkpointsVerified: Int
    public var lastCheckpointSeq: Int64?
    public var headSeq: Int64?
    public var problems: [Problem]
    public var isValid: Bool { problems.isEmpty }
}

enum AuditChain {
    static let genesis = String(repeating: "0", count: 64)

    /// SHA-256 (hex) of the JCS of {seq, at, event, actor, sender, messageId, recipient,
    /// details, prev}: written directly, members in JCS order (the same bytes as
    /// `referenceHash`, which builds the JSON value; a test holds them equal).
    static func hash(seq: Int64, at: Millis, event: String, actor: String, sender: String?, messageId: String?,
                     recipient: String?, details: String, prevHash: String) -> String
    {
        var out: [UInt8] = []
        out.reserveCapacity(256 + details.utf8.count + event.utf8.count)
        func member(_ name: StaticString, _ first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: "\":".utf8)
        }
        func string(_ s: String?) {
            if let s { JCS.appendString(s, to: &out) } else { out.append(contentsOf: "null".utf8) }
        }
        out.append(UInt8(ascii: "{"))
        member("actor", true); string(actor)
        member("at"); _ = JCS.appendNumber(Double(at), to: &out)
        member("details"); string(details)
        member("event"); string(event)
        member("messageId"); string(messageId)
        member("prev"); string(prevHash)
        member("recipient"); string(recipient)
        member("sender"); string(sender)
        member("seq"); _ = JCS.appendNumber(Double(seq), to: &out)
        out.append(UInt8(ascii: "}"))
        return SHA256.hex(out)
    }

    static func referenceHash(seq: Int64, at: Millis, event: String, actor: String, sender: String?, messageId: String?,
                              recipient: String?, details: String, prevHash: String) -> String
    {
        func opt(_ s: String?) -> JSON { s.map(JSON.string) ?? .null }
        let value: JSON = .object([
            "seq": .number(Double(seq)), "at": .number(Double(at)), "event": .string(event), "actor": .string(actor),
            "sender": opt(sender), "messageId": opt(messageId), "recipient": opt(recipient),
            "details": .string(details), "prev": .string(prevHash),
        ])
        // Every field is a string or an integer below 2^53: serialisation cannot fail.
        return SHA256.hex(try! value.canonicalBytes())
    }

    static func checkpointPayload(seq: Int64, hash: String, at: Millis) -> [UInt8] {
        let value: JSON = ["type": "audit-checkpoint", "seq": .number(Double(seq)), "hash": .string(hash), "at": .number(Double(at))]
        return try! value.canonicalBytes()
    }
}

/// Appends records inside a write transaction the caller already holds.
struct AuditAppender {
    private(set) var seq: Int64
    private(set) var head: String
    let at: Millis

    init(_ db: Database, at: Millis) throws {
        if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")) {
            seq = row["seq"]
            head = row["hash"]
        } else {
            seq = 0
            head = AuditChain.genesis
        }
        self.at = at
    }

    mutating func append(_ event: AuditEvent, in db: Database) throws {
        try append(event, canonicalDetails: try JSON.object(event.details).canonicalString(), in: db)
    }

    /// `canonicalDetails`: the JCS text of the event's details, made by the caller (the
    /// enqueue path writes it directly; `event.details` is then not read).
    mutating func append(_ event: AuditEvent, canonicalDetails details: String, in db: Database) throws {
        let next = seq + 1
        let hash = AuditChain.hash(seq: next, at: at, event: event.event, actor: event.actor, sender: event.sender,
                                   messageId: event.messageId, recipient: event.recipient, details: details, prevHash: head)
        try db.cachedStatement(sql: """
            INSERT INTO audit (seq, at, event, actor, sender, message_id, recipient, details, prev_hash, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).run(.int(next), .int(at), .text(event.event), .text(event.actor), .text(event.sender), .text(event.messageId),
                        .text(event.recipient), .text(details), .text(head), .text(hash))
        seq = next
        head = hash
    }
}

extension AuditLog {
    /// Verifies the whole chain and every checkpoint. Streams the records: constant memory.
    static func verify(_ db: Database, verifier: (any AuditVerifier)?, anchors: [AuditAnchor] = []) throws -> AuditVerification {
        var problems: [AuditVerification.Problem] = []
        var count = 0
        var expectedSeq: Int64 = 1
        var previousHash = AuditChain.genesis
        var storedHashes: [Int64: String] = [:]
        let checkpoints = try Row.fetchAll(db, sql: "SELECT seq, hash, at, signature FROM audit_checkpoint ORDER BY seq")
        let checkpointSeqs = Set(checkpoints.map { $0["seq"] as Int64 } + anchors.map(\.seq))
        let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit ORDER BY seq")
        var headSeq: Int64? = nil
        while let row = try cursor.next() {
            let record = AuditRecord(row: row)
            count += 1
            headSeq = record.seq
            if record.seq != expectedSeq {
                if record.seq > expectedSeq {
                    let missing = record.seq - expectedSeq == 1 ? "record \(expectedSeq) is" : "records \(expectedSeq)-\(record.seq - 1) are"
                    problems.append(.init(seq: record.seq, message: "\(missing) missing (deleted)"))
                } else {
                    problems.append(.init(seq: record.seq, message: "sequence number goes backwards (inserted or reordered)"))
                }
            }
            if record.prevHash != previousHash {
                problems.append(.init(seq: record.seq, message: "does not chain to the record before it (deleted, inserted or reordered record)"))
            }
            if record.computedHash != record.hash {
                problems.append(.init(seq: record.seq, message: "content does not match its hash (record altered)"))
            }
            if checkpointSeqs.contains(record.seq) { storedHashes[record.seq] = record.hash }
            previousHash = record.hash
            expectedSeq = record.seq + 1
        }
        var verified = 0
        for cp in checkpoints {
            let seq: Int64 = cp["seq"]
            let hash: String = cp["hash"]
            let at: Millis = cp["at"]
            let signature: String = cp["signature"]
            if let verifier {
                do {
                    let payload = try verifier.verify(signature)
                    if payload != AuditChain.checkpointPayload(seq: seq, hash: hash, at: at) {
                        problems.append(.init(seq: seq, message: "checkpoint signature does not cover this checkpoint (checkpoint altered)"))
                    } else {
                        verified += 1
                    }
                } catch {
                    problems.append(.init(seq: seq, message: "checkpoint signature invalid: \(error)"))
                }
            }
            guard let stored = storedHashes[seq] else {
                problems.append(.init(seq: seq, message: "record signed by a checkpoint is missing (deleted)"))
                continue
            }
            if stored != hash {
                problems.append(.init(seq: seq, message: "chain differs from the signed checkpoint (chain rewritten)"))
            }
        }
        for anchor in anchors {
            guard let stored = storedHashes[anchor.seq] else {
                problems.append(.init(seq: anchor.seq, message: "the anchored record is missing (the log was cut back before it)"))
                continue
            }
            if stored != anchor.hash.lowercased() {
                problems.append(.init(seq: anchor.seq, message: "chain differs from the anchor (chain rewritten up to it)"))
            }
        }
        return AuditVerification(records: count, checkpoints: checkpoints.count, checkpointsVerified: verified,
                                 lastCheckpointSeq: checkpoints.last.map { $0["seq"] }, headSeq: headSeq, problems: problems)
    }
}

/// Namespace for the audit log's operations on a store.
public enum AuditLog {}
