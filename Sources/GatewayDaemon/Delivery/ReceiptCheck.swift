// NAME
//   ReceiptCheck: is the endpoint's answer a valid receipt for what we sent?
//
// SECURITY
//   The receipt is proof of delivery only if it is signed by a key that chains to THAT
//   endpoint's receipt anchors (trust is per endpoint), and if it names our message, the
//   SHA-256 of the exact payload we signed, and the recipient we delivered to.

import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayStore

public struct ReceiptCheck: Sendable {
    let trust: TrustStore?

    public init(anchorsPath: String?) throws {
        trust = try anchorsPath.map { try TrustStore.load(anchorsPath: $0) }
    }

    public enum Result: Sendable {
        case valid(ReceiptRecord)
        case absent
        case invalid(String)
    }

    public func check(_ body: [UInt8], job: DeliveryJob, now: Millis) -> Result {
        if body.isEmpty { return .absent }
        guard let trust else { return .invalid("no receiptTrustAnchors configured for endpoint \(job.endpoint)") }
        let verified: VerifiedJWS
        do {
            verified = try JWSVerifier().verify(body, trustStore: trust)
        } catch {
            return .invalid("receipt signature: \(error)")
        }
        guard let payload = try? JSON.parse(verified.payload) else { return .invalid("receipt payload is not I-JSON") }
        if payload["receiptFor"]?.stringValue != job.messageId {
            return .invalid("receipt is for \(payload["receiptFor"]?.stringValue ?? "nothing"), not \(job.messageId)")
        }
        if payload["digest"]?.stringValue?.lowercased() != job.contentDigest {
            return .invalid("receipt digest does not match the signed payload (sha256:\(job.contentDigest))")
        }
        if payload["recipient"]?.stringValue != job.recipient {
            return .invalid("receipt names recipient \(payload["recipient"]?.stringValue ?? "none"), not \(job.recipient)")
        }
        let status = payload["status"]?.stringValue
        if let status, status != "received" && status != "accepted" {
            return .invalid("receipt status is \"\(status)\"\(payload["reason"]?.stringValue.map { ": \($0)" } ?? "")")
        }
        return .valid(ReceiptRecord(receivedAt: now, status: status, jws: body))
    }
}
