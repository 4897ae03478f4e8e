// NAME
//   ReceiptCheck: is the endpoint's answer a valid receipt for what we sent?
//
// SECURITY
//   The receipt is proof of delivery only if it is signed by a key that chains to THAT
//   endpoint's receipt anchors (trust is per endpoint), and if it names our message, the
//   SHA-256 of the exact payload we signed, and the recipient we delivered to, with a status
//   of "received" or "duplicate", and if its payload as a whole follows receipt.schema.json
//   (no field the schema does not know, each field of its form). A receivedAt before the
//   message's acceptance or after the gateway's now (beyond five minutes of clock
//   difference) is said, not refused: the agency answers every retry with the same
//   receipt. Whatever the agency wrote that ends up in a reason (its ids, its status, its
//   words) is cut short and has its control characters escaped before it is stored, logged
//   or reported.

import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel
import GatewaySchema
import GatewayStore

public struct ReceiptCheck: Sendable {
    /// How far the agency's clock may be from the gateway's (as a unit's may, at pickup).
    static let clockSkewMillis: Int64 = 5 * 60_000
    /// The endpoint's receipt anchors; the x5c chain is verified once per distinct chain and
    /// remembered for a minute (never past the expiry of a certificate of the chain), so
    /// that steady traffic costs one signature check per receipt, not three.
    let verifier: CachingJWSVerifier?
    /// The same anchors without CRLs: with a stale CRL OpenSSL reports revocation first,
    /// before an expired signer or a bad signature, so a receipt is undecided only when
    /// everything but revocation holds.
    let verifierWithoutCRLs: CachingJWSVerifier?
    let anchorsPath: String?
    let crlPath: String?
    /// The one certificate subject allowed to sign this endpoint's receipts (nil: any under the anchors).
    let signer: String?
    /// The CRL file as it was read (device, inode, size, modification time).
    let crlStamp: [Int64]?
    /// schemas/receipt.schema.json: a payload must follow it as a whole.
    let schema: Schema

    /// `crlPath`: CRLs the receipt signer's certificate is checked against (a revoked
    /// receipt key signs no proof of delivery).
    /// `schema`: receipt.schema.json, compiled (`ReceiptCheck.loadSchema()`).
    public init(anchorsPath: String?, crlPath: String? = nil, signer: String? = nil, schema: Schema) throws {
        self.schema = schema
        self.anchorsPath = anchorsPath
        self.crlPath = crlPath
        self.signer = signer
        // Taken before the file is read: a file changing during the read is read again.
        crlStamp = crlPath.flatMap(Self.stamp)
        verifier = try anchorsPath.map { CachingJWSVerifier(trustStore: try TrustStore.load(anchorsPath: $0, crlPaths: crlPath.map { [$0] } ?? [])) }
        verifierWithoutCRLs = crlPath == nil ? nil : try anchorsPath.map { CachingJWSVerifier(trustStore: try TrustStore.load(anchorsPath: $0)) }
    }

    /// The same check, marked as having read the CRL file in state `stamp` (after a failed
    /// re-read: not tried again until the file changes from that state).
    func keeping(stamp: [Int64]?) -> ReceiptCheck {
        ReceiptCheck(verifier: verifier, verifierWithoutCRLs: verifierWithoutCRLs, anchorsPath: anchorsPath, crlPath: crlPath, signer: signer,
                     crlStamp: stamp, schema: schema)
    }

    private init(verifier: CachingJWSVerifier?, verifierWithoutCRLs: CachingJWSVerifier?, anchorsPath: String?, crlPath: String?, signer: String?,
                 crlStamp: [Int64]?, schema: Schema) {
        self.schema = schema
        self.signer = signer
        self.verifier = verifier
        self.verifierWithoutCRLs = verifierWithoutCRLs
        self.anchorsPath = anchorsPath
        self.crlPath = crlPath
        self.crlStamp = crlStamp
    }

    /// receipt.schema.json from the schemas the gateway ships.
    public static func loadSchema(from schemas: SchemaMessageValidator? = nil) throws -> Schema {
        let validator = try schemas ?? SchemaServices.validator()
        do { return try validator.validator.schema(named: "receipt") } catch {
            throw SchemaLocationError(description: "receipt.schema.json: \(error)")
        }
    }

    static func stamp(_ path: String) -> [Int64]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return [Int64(st.st_dev), Int64(st.st_ino), Int64(st.st_size), Int64(st.st_mtim.tv_sec), Int64(st.st_mtim.tv_nsec)]
    }

    /// When the CRL file changed since it was read (a cron job fetched a fresh one): the
    /// check read again (anchors and CRLs), or the error that reading it gave with the
    /// file's state before that read (the old check stays meanwhile, marked with that state,
    /// so a file that was still being written and is complete now is read at the next look).
    /// nil when nothing changed.
    func refreshed() -> Swift.Result<ReceiptCheck, RefreshFailure>? {
        guard let crlPath, anchorsPath != nil else { return nil }
        let before = Self.stamp(crlPath)
        guard before != crlStamp, before != nil else { return nil }
        do {
            return .success(try ReceiptCheck(anchorsPath: anchorsPath, crlPath: crlPath, signer: signer, schema: schema))
        } catch {
            return .failure(RefreshFailure(error: error, stamp: before))
        }
    }

    struct RefreshFailure: Error {
        let error: any Error
        let stamp: [Int64]?
    }

    public enum Result: Sendable {
        /// The receipt to store: the verified JWS in flattened JSON (JCS; the unsigned
        /// unprotected header, if the agency sent one, is not kept).
        /// `timeNote`: its receivedAt is further from the gateway's times than clocks may
        /// differ (said in the attempt and the log; the receipt is proof all the same).
        case valid(ReceiptRecord, timeNote: String? = nil)
        case absent
        case invalid(String)
        /// Signed by a certificate whose revocation cannot be decided now (the CRL for its
        /// issuer expired or missing): neither proof nor refusal. Tried again later (the
        /// agency answers the retry with the same receipt), not dead-lettered.
        case undecided(String)
    }

    public func check(_ body: [UInt8], job: DeliveryJob, now: Millis) -> Result {
        if body.isEmpty { return .absent }
        guard let verifier else { return .invalid("no receiptTrustAnchors configured for endpoint \(job.endpoint)") }
        let jws: JWS
        do { jws = try JWS.parse(body) } catch {
            return .invalid("receipt signature: \(Printable.line("\(error)", limit: 300))")
        }
        do {
            return evaluate(try verifier.verify(jws), jws: jws, job: job, now: now)
        } catch {
            guard error.chainError?.isCRLStale == true, let verifierWithoutCRLs else {
                return .invalid("receipt signature: \(Printable.line("\(error)", limit: 300))")
            }
            // Everything but revocation must hold (signature, chain, signer, what it says) for
            // the receipt to wait for a fresh CRL; anything else wrong refuses it now.
            let withoutRevocation: VerifiedJWS
            do { withoutRevocation = try verifierWithoutCRLs.verify(jws) } catch {
                return .invalid("receipt signature: \(Printable.line("\(error)", limit: 300))")
            }
            let outcome = evaluate(withoutRevocation, jws: jws, job: job, now: now)
            guard case .valid = outcome else { return outcome }
            return .undecided("receipt signer's revocation status unknown (a CRL in the endpoint's crl file is past its next update, not yet valid, or missing): \(Printable.line("\(error)", limit: 300))")
        }
    }

    /// What a receipt whose signature verified says: the right signer, our message, digest
    /// and recipient, a time, a status that is proof.
    private func evaluate(_ verified: VerifiedJWS, jws: JWS, job: DeliveryJob, now: Millis) -> Result {
        func quoted(_ value: JSON?) -> String { value?.stringValue.map { "\"\(Printable.line($0, limit: 100))\"" } ?? "nothing" }
        if let signer, verified.signerSubject != signer {
            return .invalid("receipt signed by \(Printable.line(verified.signerSubject ?? "an unknown signer", limit: 300)), not by the endpoint's receipt signer \(signer)")
        }
        guard let payload = try? JSON.parse(verified.payload) else { return .invalid("receipt payload is not I-JSON") }
        guard let receivedAt = payload["receivedAt"]?.stringValue.flatMap(RFC3339.millis) else {
            return .invalid("receipt has no receivedAt time (RFC 3339)")
        }
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
        // The rest of what the schema says (no unknown field, a reason of its length, a
        // timestamp of its form): a receipt that breaks its contract proves nothing.
        if let problem = schema.validate(payload).errors.first {
            return .invalid("receipt does not follow receipt.schema.json: \(Printable.line(problem.description, limit: 300))")
        }
        // The time it vouches for should be one the agency can have received the message at:
        // not before the gateway accepted it, not after the gateway's now (five minutes of
        // clock difference allowed). Outside that one of the two clocks is wrong; the receipt
        // still proves that this agency holds this message (signature, digest, recipient),
        // and the agency answers every retry with this same receipt, so it stays proof, with
        // the difference said in the attempt and the log.
        var timeNote: String? = nil
        let early = job.acceptedAt - receivedAt, late = receivedAt - now
        if early > Self.clockSkewMillis || late > Self.clockSkewMillis {
            // Said by the bound it passed (the gateway's clock may have stepped between the
            // acceptance and now), in whole minutes it is more than.
            let (by, relation) = early > Self.clockSkewMillis
                ? (early, "before the gateway accepted the message (\(RFC3339.format(millis: job.acceptedAt)))")
                : (late, "after the gateway's time (\(RFC3339.format(millis: now)))")
            timeNote = "the receipt's receivedAt \(RFC3339.format(millis: receivedAt)) is more than \(by / 60_000) minutes \(relation): the agency's clock or the gateway's is wrong (up to \(Self.clockSkewMillis / 60_000) minutes of difference are allowed; the receipt is kept)"
        }
        return .valid(ReceiptRecord(receivedAt: now, status: status, jws: JWS(protectedHeaderBase64URL: jws.protectedHeaderBase64URL,
                                                                               payloadBase64URL: jws.payloadBase64URL,
                                                                               signatureBase64URL: jws.signatureBase64URL).flattenedJSON),
                      timeNote: timeNote)
    }
}
