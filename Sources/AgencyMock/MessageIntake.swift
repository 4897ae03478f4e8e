// MessageIntake: what an agency does with one POST /messages, after the faults: check the
// headers, verify the JWS and its signer, check the message, de-duplicate, and answer with
// a signed receipt.
//
// SECURITY (of a mock, but it must refuse what a real agency would refuse): the body is
// attacker-controlled until JWSVerifier has checked the signature AND the x5c chain against
// the gateway signing anchors, for signing usage, at the time of receipt; nothing in the
// payload is read before that. The payload is then parsed as strict I-JSON (duplicate
// member names refused) before any field is trusted. The Idempotency-Key header is only
// trusted once it equals the signed messageId.
import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel
import GatewaySchema

/// One agency's message handling; shared by all of its connections.
public struct MessageIntake: Sendable {
    public let agency: String
    let signer: JWSSigner
    let anchors: TrustStore
    let validator: MessageValidator?
    let state: MockState
    /// The gateway signing anchors, with the chains that verified remembered for a minute.
    let verifier: CachingJWSVerifier

    public static let mediaType = "application/jose+json"
    /// SPEC's attachment cap is 50 MB; the JWS around it is the mock's limit.
    public static let maxBodyBytes = 50 * 1024 * 1024

    public init(agency: String, signer: JWSSigner, anchors: TrustStore, validator: MessageValidator?, state: MockState) {
        self.agency = agency
        self.signer = signer
        self.anchors = anchors
        verifier = CachingJWSVerifier(trustStore: anchors, usage: .signing)
        self.validator = validator
        self.state = state
    }

    /// Handles one request whose body has been read in full.
    /// - Parameter badReceipt: serve the receipt with a corrupted signature (fault).
    public func handle(contentType: String?, idempotencyKey: String?, body: [UInt8], badReceipt: Bool) -> Reply {
        switch accept(contentType: contentType, idempotencyKey: idempotencyKey, body: body, badReceipt: badReceipt) {
        case .success(let reply): return reply
        case .failure(let rejection):
            state.countRejection(agency: agency, reason: rejection.reason)
            return rejection.reply
        }
    }

    struct Rejection: Error {
        let reply: Reply
        /// The stable token in the problem document and in `GET /stats`.
        let reason: String
        init(_ status: Int, _ title: String, _ detail: String, reason: String, extra: [String: JSON] = [:]) {
            reply = .problem(status, title: title, detail: detail, reason: reason, extra: extra)
            self.reason = reason
        }
    }

    private func accept(contentType: String?, idempotencyKey: String?, body: [UInt8], badReceipt: Bool) -> Result<Reply, Rejection> {
        // Headers first: they are cheap and say what the body must be.
        guard let contentType, Self.isJOSE(contentType) else {
            return .failure(Rejection(415, "Unsupported Media Type",
                                      "Content-Type must be \(Self.mediaType), got \(contentType.map { "\"\($0)\"" } ?? "none")",
                                      reason: "contentType"))
        }
        guard let key = idempotencyKey?.trimmingCharacters(in: .whitespaces), !key.isEmpty else {
            return .failure(Rejection(400, "Missing Idempotency-Key", "the Idempotency-Key header (the message id) is required",
                                      reason: "idempotencyKey"))
        }

        // The signature and its signer, before anything in the payload is believed.
        let verified: VerifiedJWS
        do {
            verified = try verifier.verify(body, at: Date())
        } catch {
            return .failure(Self.rejection(for: error))
        }
        let message: JSON
        do { message = try verified.payloadJSON() } catch {
            return .failure(Rejection(400, "Payload Not I-JSON", "the signed payload is not strict I-JSON: \(error)", reason: "payload"))
        }

        // The message: schema (when configured), then this agency among the recipients.
        if let validator {
            let result = validator.validate(message)
            if !result.isValid {
                let errors = result.errors.prefix(50).map(\.json)
                return .failure(Rejection(422, "Invalid Message", result.errors.prefix(5).map(\.description).joined(separator: "; "),
                                          reason: "schema", extra: ["errors": .array(Array(errors))]))
            }
        }
        guard case .string(let messageId)? = message["messageId"], !messageId.isEmpty else {
            return .failure(Rejection(422, "Invalid Message", "the message has no messageId", reason: "schema"))
        }
        guard case .array(let recipients)? = message["recipients"], recipients.contains(.string(agency)) else {
            return .failure(Rejection(422, "Wrong Recipient", "\(agency) is not among the message's recipients", reason: "recipient"))
        }
        guard messageId == key else {
            return .failure(Rejection(400, "Idempotency-Key Mismatch",
                                      "Idempotency-Key \"\(key)\" is not the message's messageId \"\(messageId)\"",
                                      reason: "idempotencyKeyMismatch"))
        }

        // De-duplication by key; the digest tells a retry from a reused key.
        let digest = SHA256.hex(verified.payload)
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        switch state.check(agency: agency, messageId: messageId, digest: digest, at: now) {
        case .duplicate(let receipt):
            return .success(receiptReply(409, receipt, badReceipt: badReceipt))
        case .conflict(let existing):
            return .failure(conflict(messageId, digest: digest, existing: existing))
        case .new:
            break
        }
        // Signed outside the lock; a concurrent twin that wins the insert makes this one a 409.
        let receipt: [UInt8]
        do {
            receipt = try signer.sign(Self.receiptPayload(for: messageId, digest: digest, recipient: agency, at: now)).flattenedJSON
        } catch {
            return .failure(Rejection(500, "Receipt Signing Failed", "\(error)", reason: "internal"))
        }
        let sender = message["sender"]?.stringValue ?? ""
        switch state.insert(agency: agency, messageId: messageId, sender: sender, digest: digest,
                            priority: message["priority"]?.stringValue, receipt: receipt, at: now) {
        case .new: return .success(receiptReply(201, receipt, badReceipt: badReceipt))
        case .duplicate(let first): return .success(receiptReply(409, first, badReceipt: badReceipt))
        case .conflict(let existing): return .failure(conflict(messageId, digest: digest, existing: existing))
        }
    }

    /// The receipt payload (receipt.schema.json): what was received, by whom, when.
    public static func receiptPayload(for messageId: String, digest: String, recipient: String, at millis: Int64) -> JSON {
        .object([
            "receiptFor": .string(messageId), "digest": .string(digest), "recipient": .string(recipient),
            "receivedAt": .string(RFC3339.format(millis: millis)), "status": "received",
        ])
    }

    private func receiptReply(_ status: Int, _ receipt: [UInt8], badReceipt: Bool) -> Reply {
        Reply(status: status, contentType: Self.mediaType, body: badReceipt ? Self.corrupted(receipt) : receipt)
    }

    private func conflict(_ messageId: String, digest: String, existing: String) -> Rejection {
        Rejection(422, "Idempotency-Key Reused",
                  "message \(messageId) was received before with digest \(existing); this one has digest \(digest)",
                  reason: "digestMismatch")
    }

    /// The badReceipt fault: the same receipt with one signature byte flipped, so that it
    /// parses and names the right signer but fails verification (`badSignature`).
    static func corrupted(_ receipt: [UInt8]) -> [UInt8] {
        guard let jws = try? JWS.parse(receipt), var signature = Base64URL.decode(jws.signatureBase64URL),
              !signature.isEmpty else { return receipt }
        signature[signature.count / 2] ^= 0x5A
        return JWS(protectedHeaderBase64URL: jws.protectedHeaderBase64URL, payloadBase64URL: jws.payloadBase64URL,
                   signatureBase64URL: Base64URL.encode(signature)).flattenedJSON
    }

    /// `application/jose+json`, parameters and case ignored.
    static func isJOSE(_ contentType: String) -> Bool {
        let type = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return type.trimmingCharacters(in: .whitespaces).lowercased() == mediaType
    }

    /// Maps the verifier's refusal to a status: a JWS that is broken or does not verify is
    /// the sender's error (400); a signer we do not trust is a refusal of authority (403).
    static func rejection(for error: JWSError) -> Rejection {
        switch error.reason {
        case .untrustedCertificate:
            let why = error.chainError?.reason.rawValue ?? "untrusted"
            return Rejection(403, "Untrusted Signer", error.message, reason: "untrustedCertificate",
                             extra: ["chainError": .string(why)])
        case .missingCertificateChain:
            return Rejection(403, "Unidentified Signer", error.message, reason: "missingCertificateChain")
        case .badSignature:
            return Rejection(400, "Bad Signature", error.message, reason: "badSignature")
        case .malformed:
            return Rejection(400, "Malformed JWS", error.message, reason: "malformed")
        default:
            return Rejection(400, "JWS Refused", error.message, reason: error.reason.rawValue)
        }
    }
}
