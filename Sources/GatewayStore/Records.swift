// Values going into and out of the queue. No SQL here.

import Foundation
import GatewayModel

/// Milliseconds since the Unix epoch: the queue's unit of time.
public typealias Millis = Int64

extension Date {
    public var millis: Millis { Millis((timeIntervalSince1970 * 1000).rounded()) }
    public init(millis: Millis) { self.init(timeIntervalSince1970: Double(millis) / 1000) }
}

/// One recipient of a message and the endpoint its route goes to.
public struct Route: Sendable, Hashable {
    public var recipient: String
    public var endpoint: String
    public init(recipient: String, endpoint: String) {
        self.recipient = recipient
        self.endpoint = endpoint
    }
}

/// An accepted, signed message ready to be committed.
public struct NewMessage: Sendable {
    public var sender: String
    public var messageId: String
    public var type: String
    public var priority: Priority
    public var classification: Classification
    public var subject: String?
    public var caseReference: String?
    public var createdAt: Millis
    /// Effective expiry: the message's expiresAt or the configured maximum lifetime.
    public var expiresAt: Millis?
    /// SHA-256 (hex) of the JCS form of the unit's message: the idempotency check.
    public var contentDigest: String
    /// The signed message as sent on the wire (JWS, flattened JSON serialisation).
    public var jws: [UInt8]
    /// The spool file it came from, for the reports and the audit trail.
    public var sourceFile: String?
    public var routes: [Route]
    /// When the gateway took it (the accepted report's time); the commit's time if nil.
    public var acceptedAt: Millis?
    /// The caller writes an "accepted" report for `sourceFile` itself after the commit:
    /// the queue remembers it (also for a duplicate) until `confirmDurable` says the report
    /// is on disk, so that a crash in between has it written again at the next start.
    public var tracksAcceptedReport: Bool

    public init(sender: String, messageId: String, type: String, priority: Priority, classification: Classification,
                subject: String? = nil, caseReference: String? = nil, createdAt: Millis, expiresAt: Millis? = nil,
                contentDigest: String, jws: [UInt8], sourceFile: String? = nil, routes: [Route], acceptedAt: Millis? = nil, tracksAcceptedReport: Bool = false)
    {
        self.sender = sender
        self.messageId = messageId
        self.type = type
        self.priority = priority
        self.classification = classification
        self.subject = subject
        self.caseReference = caseReference
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.contentDigest = contentDigest
        self.jws = jws
        self.sourceFile = sourceFile
        self.routes = routes
        self.acceptedAt = acceptedAt
        self.tracksAcceptedReport = tracksAcceptedReport && sourceFile != nil
    }
}

/// What happened to one message of an enqueue batch.
public enum EnqueueOutcome: Sendable, Equatable {
    /// Newly committed, with the queue's row id.
    case accepted(id: Int64)
    /// Already queued with the same content: nothing done (a crash between commit and
    /// unlink, or a unit that dropped the same file twice).
    case duplicate(id: Int64)
    /// Already queued with OTHER content under the same (sender, messageId): refused.
    case conflict(id: Int64, existingDigest: String)
    /// The messageId is another unit's (agencies de-duplicate by message id, so it would be
    /// taken as that unit's message): refused.
    case usedByOtherSender(sender: String)
    /// Accepted from this sender before (at this time) and pruned since (retention): the
    /// idempotency key outlives the message in the audit log, so it is refused, never sent
    /// again as new.
    case acceptedBefore(at: Millis)
}

/// A delivery handed to the sender: everything needed to POST it.
public struct DeliveryJob: Sendable, Equatable {
    public var deliveryId: Int64
    public var messageRowId: Int64
    public var sender: String
    public var messageId: String
    public var recipient: String
    public var endpoint: String
    public var priority: Priority
    public var attempts: Int
    public var contentDigest: String
    public var expiresAt: Millis?
    public var sourceFile: String?
    public var jws: [UInt8]
    /// The message's classification, checked against the endpoint's ceiling before sending.
    public var classification: String = ""
    /// When the gateway accepted the message (its clock): no agency can have received it
    /// before (a receipt's `receivedAt` is checked against it).
    public var acceptedAt: Millis = 0
}

/// One delivery attempt's result, as recorded.
public struct AttemptRecord: Sendable, Equatable {
    public var startedAt: Millis
    public var durationMs: Int64
    public var endpoint: String
    public var httpStatus: Int?
    public var outcome: String
    public var error: String?

    public init(startedAt: Millis, durationMs: Int64, endpoint: String, httpStatus: Int?, outcome: String, error: String?) {
        self.startedAt = startedAt
        self.durationMs = durationMs
        self.endpoint = endpoint
        self.httpStatus = httpStatus
        self.outcome = outcome
        self.error = error
    }
}

/// The agency's receipt, kept as proof of delivery.
public struct ReceiptRecord: Sendable, Equatable {
    public var receivedAt: Millis
    public var status: String?
    public var jws: [UInt8]
    public init(receivedAt: Millis, status: String?, jws: [UInt8]) {
        self.receivedAt = receivedAt
        self.status = status
        self.jws = jws
    }
}

/// How an attempt ended, decided by the delivery engine.
public enum DeliveryResolution: Sendable, Equatable {
    case delivered(receipt: ReceiptRecord?, duplicate: Bool)
    case deferred(until: Millis, reason: String)
    case failed(reason: String)
    /// Back to the queue without counting as a failure (shutdown, endpoint paused).
    case requeued(reason: String)
    /// Past its expiry: not sent.
    case expired(reason: String)
    /// Not sent: the configuration in force no longer allows it (route, ceiling); an
    /// operator cancels it or releases it once the configuration does.
    case held(reason: String)
}

/// A report owed to a unit, not yet written to its spool folder.
public struct OwedReport: Sendable, Equatable {
    public var id: Int64
    public var unit: String
    public var kind: String
    public var messageRowId: Int64?
    public var recipient: String?
    public var body: String
    public var createdAt: Millis
    /// The body is the final, signed file content.
    public var signed: Bool
    public var fileName: String?
    /// The delivery whose receipt goes where the body has `ReportReceipt.placeholder`, and
    /// that receipt (the agency's flattened JWS, as stored); nil when it is gone.
    public var receiptOf: Int64? = nil
    public var receipt: [UInt8]? = nil
}

/// A delivered report's body is stored with a placeholder where the agency's receipt goes
/// (the receipt is kept once, in the receipt table); the report writer puts it in.
public enum ReportReceipt {
    /// The value of the body's "receipt" member until the receipt is put in. A string no
    /// receipt or report can hold (JCS writes U+0000 as an escape).
    public static let placeholder = "\u{0}receipt"
    /// How the placeholder member reads in canonical JSON: a quote cannot occur unescaped
    /// inside a JCS string, so this can only be the member itself.
    static let placeholderMember = Array(#""receipt":"\u0000receipt""#.utf8)

    /// `body` (canonical JSON text with the placeholder member) with the receipt in its place;
    /// nil when the placeholder is not there exactly once.
    public static func embed(_ receipt: [UInt8], in body: [UInt8]) -> [UInt8]? {
        let m = placeholderMember
        var found: Int? = nil
        var i = 0
        while i + m.count <= body.count {
            if body[i] == m[0], body[i..<(i + m.count)].elementsEqual(m) {
                guard found == nil else { return nil }
                found = i
                i += m.count
            } else {
                i += 1
            }
        }
        guard let at = found else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(body.count + receipt.count)
        out.append(contentsOf: body[..<at])
        out.append(contentsOf: #""receipt":"#.utf8)
        out.append(contentsOf: receipt)
        out.append(contentsOf: body[(at + m.count)...])
        return out
    }
}

/// An "accepted" report the gateway published but has not yet seen on disk: what is
/// needed to write it again after a crash.
public struct UnsyncedAcceptedReport: Sendable, Equatable {
    public var messageRowId: Int64
    /// The unit's file the report answers (a duplicate drop may have another name).
    public var sourceFile: String
    public var sender: String
    public var messageId: String
    public var contentDigest: String
    public var acceptedAt: Millis
    public var expiresAt: Millis?
    public var recipients: [String]
}
