// NAME
//   ReceiptCheck: is the endpoint's answer a valid receipt for what we sent?
//
// SECURITY
//   The receipt is proof of delivery only if it is signed by a key that chains to THAT
//   endpoint's receipt anchors (trust is per endpoint), and if it names our message, the
//   SHA-256 of the exact payload we signed, and the recipient we delivered to, with a status
//   of "received" or "duplicate" (receipt.schema.json). Whatever the agency wrote that ends
//   up in a reason (its ids, its status, its words) is cut short and has its control
//   characters escaped before it is stored, logged or reported.

import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel
import GatewayStore

public struct ReceiptCheck: Sendable {
    /// The endpoint's receipt anchors; the x5c chain is verified once per distinct chain and
    /// remembered for a minute (never past the leaf's expiry), so that steady traffic costs
    /// one signature check per receipt, not three.
    let verifier: CachingJWSVerifier?

    /// `crlPath`: CRLs the receipt signer's certificate is checked against (a revoked
    /// receipt key signs no proof of delivery).
    public init(anchorsPath: String?, crlPath: String? = nil) throws {
        verifier = try anchorsPath.map { CachingJWSVerifier(trustStore: try TrustStore.load(anchorsPath: $0, crlPaths: crlPath.map { [$0] } ?? [])) }
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
            return .invalid("receipt signature: \(Printable.line("\(error)", limit: 300))")
        }
        func quoted(_ value: JSON?) -> String { value?.stringValue.map { "\"\(Printable.line($0, limit: 100))\"" } ?? "nothing" }
        guard let payload = try? JSON.parse(verified.payload) else { return .invalid("receipt payload is not I-JSON") }
        if payload["receiptFor"]?.stringValue != job.messageId {
            return .invalid("receipt is for \(quoted(payload["receiptFor"])), not \(job.messageId)")
        }
        if payload["digest"]?.stringValue?.lowercased() != job.contentDigest {
            return .invalid("receipt digest does not match the signed payload (sha256:\(job.contentDigest))")
        }
        if payload["recipient"]?.stringValue != job.recipient {
            return .invalid("receipt names recipient \(quoted(payload["recipient"])), not \(job.recipient)")
        }
        // "duplicate": the agency had it already (a retry after a lost answer); proof all the same.
        let status = payload["status"]?.stringValue
        guard let status, status == "received" || status == "duplicate" else {
            let because = payload["reason"]?.stringValue.map { ": \(Printable.line($0, limit: 300))" } ?? ""
            return .invalid("receipt status is \(quoted(payload["status"]))\(because)")
        }
        return .valid(ReceiptRecord(receivedAt: now, status: status, jws: JWS(protectedHeaderBase64URL: jws.protectedHeaderBase64URL,
                                                                               payloadBase64URL: jws.payloadBase64URL,
                                                                               signatureBase64URL: jws.signatureBase64URL).flattenedJSON))
    }
}
