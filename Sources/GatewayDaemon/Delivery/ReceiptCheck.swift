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
    let chains = VerifiedChainCache()

    public init(anchorsPath: String?) throws {
        trust = try anchorsPath.map { try TrustStore.load(anchorsPath: $0) }
    }

    /// Verifies the receipt's signature; the x5c chain is verified against the anchors
    /// once per distinct chain and remembered for a minute (never past the leaf's expiry),
    /// so that steady traffic costs one signature check per receipt, not three.
    func verify(_ body: [UInt8], trust: TrustStore) throws -> VerifiedJWS {
        let jws = try JWS.parse(body)
        let header = Base64URL.decode(jws.protectedHeaderBase64URL).flatMap { try? JSON.parse($0) }
        let chainKey = header?["x5c"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",")
        if let chainKey, !chainKey.isEmpty, let key = chains.key(for: chainKey) {
            return try JWSVerifier().verify(jws, key: key)
        }
        let verified = try JWSVerifier().verify(jws, trustStore: trust)
        if let chainKey, let leaf = verified.chain?.leaf, let key = try? leaf.publicKey() {
            chains.remember(chainKey, key: key, until: min(leaf.notAfter, Date().addingTimeInterval(60)))
        }
        return verified
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
            verified = try verify(body, trust: trust)
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

/// Signing chains that verified against an endpoint's anchors, by their x5c text.
final class VerifiedChainCache: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var entries: [String: (key: PublicKey, until: Date)] = [:]

    func key(for chain: String) -> PublicKey? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = entries[chain] else { return nil }
        if entry.until < Date() {
            entries[chain] = nil
            return nil
        }
        return entry.key
    }

    func remember(_ chain: String, key: PublicKey, until: Date) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count > 64 { entries.removeAll() }
        entries[chain] = (key, until)
    }
}
