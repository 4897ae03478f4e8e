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
    /// The endpoint's receipt anchors; the x5c chain is verified once per distinct chain and
    /// remembered for a minute (never past the leaf's expiry), so that steady traffic costs
    /// one signature check per receipt, not three.
    let verifier: CachingJWSVerifier?

    public init(anchorsPath: String?) throws {
        verifier = try anchorsPath.map { CachingJWSVerifier(trustStore: try TrustStore.load(anchorsPath: $0)) }
    }

    public enum Result: Sendable {
        /// The receipt to store: the verified JWS in flattened JSON (JCS; the unsigned
        /// unprotected header, if the agency sent one, is not kept).
        case valid(ReceiptRecord)
        case absent
        case invalid(String)
    }

    public func check(_ body: [UInt8], job: DeliveryJob, now: Millis) -> Result {
        if body.isEmpty { return .absent }
        guard let verifier else { return .invalid("no receiptTrustAnchors configured for endpoint \(job.endpoint)") }
        let jws: JWS
        let verified: VerifiedJWS
        do {
            jws = try JWS.parse(body)
            verified = try verifier.verify(jws)
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
        return .valid(ReceiptRecord(receivedAt: now, status: status, jws: JWS(protectedHeaderBase64URL: jws.protectedHeaderBase64URL,
                                                                               payloadBase64URL: jws.payloadBase64URL,
                                                                               signatureBase64URL: jws.signatureBase64URL).flattenedJSON))
    }
}
