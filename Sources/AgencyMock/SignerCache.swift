// SignerCache: remembers, for a short while, which x5c chains already verified against the
// gateway signing anchors, so that the thousands of messages a second that carry the same
// chain cost one ECDSA verification each instead of three (the chain's two signatures).
//
// SECURITY: the cache key is the exact protected `x5c` and `x5t#S256` strings, so a hit
// means this very chain and thumbprint claim verified less than `lifetime` ago, and before
// the leaf's notAfter. The message signature itself is always verified, with the leaf's
// key, by JWSVerifier (which still checks alg, crit and that alg suits the key). A miss,
// or anything unusual in the header, takes the full path (chain + signature), which is
// also where every refusal gets its precise reason.
import Foundation
import GatewayCrypto
import GatewayJSON

final class SignerCache: @unchecked Sendable {
    private struct Entry {
        let key: PublicKey
        let validUntil: Date
    }

    /// Chains are re-verified this often (a CRL or clock change takes effect within it).
    let lifetime: TimeInterval
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    init(lifetime: TimeInterval = 60) { self.lifetime = lifetime }

    /// Verifies `body` as JWSVerifier would against `anchors` for signing usage at `now`.
    func verify(_ body: [UInt8], verifier: JWSVerifier, anchors: TrustStore, now: Date) throws(JWSError) -> VerifiedJWS {
        let jws = try JWS.parse(body)
        guard let cacheKey = Self.cacheKey(jws) else {
            return try verifier.verify(jws, trustStore: anchors, at: now, usage: .signing)
        }
        lock.lock()
        let entry = entries[cacheKey]
        lock.unlock()
        if let entry, now < entry.validUntil {
            return try verifier.verify(jws, key: entry.key)
        }
        let verified = try verifier.verify(jws, trustStore: anchors, at: now, usage: .signing)
        if let leaf = verified.chain?.leaf, let key = try? leaf.publicKey() {
            lock.lock()
            if entries.count > 1_000 { entries.removeAll() }   // bounded: a flood of chains cannot grow it
            entries[cacheKey] = Entry(key: key, validUntil: min(now.addingTimeInterval(lifetime), leaf.notAfter))
            lock.unlock()
        }
        return verified
    }

    /// `x5c` (all of it) and `x5t#S256` from the protected header, or nil if absent or odd.
    static func cacheKey(_ jws: JWS) -> String? {
        guard let bytes = Base64URL.decode(jws.protectedHeaderBase64URL),
              case .object(let header)? = try? JSON.parse(bytes),
              case .array(let chain)? = header["x5c"], !chain.isEmpty else { return nil }
        var key = ""
        for certificate in chain {
            guard case .string(let text) = certificate else { return nil }
            key += text
            key += ","
        }
        if let thumbprint = header["x5t#S256"] {
            guard case .string(let text) = thumbprint else { return nil }
            key += text
        }
        return key
    }
}
