// CachingJWSVerifier: verifies JWS against one trust store, remembering for a short while
// which x5c chains verified, so that a steady stream of JWS from one signer (the gateway's
// receipts from an agency, the agency mock's messages from the gateway) costs one signature
// check each instead of three (the chain's own two), and the protected header is parsed
// once.
//
// SECURITY: the cache key is the exact protected `x5c` strings, as a list, and the exact
// `x5t#S256` (or its absence), compared as values (no concatenation two different headers
// could share: a review found that "x5c [L, I], x5t T" and "x5c [L], x5t 'I,T'" once made
// the same key, so the second skipped the thumbprint check the full path makes), so a hit
// means this very chain (and thumbprint claim) verified against THIS trust store, for THIS
// usage, less than `lifetime` before the time asked about (never after it) and before the
// notAfter of every certificate of the chain (an intermediate may expire first); a CRL or
// clock change takes effect within `lifetime`. Every JWS still gets the full header checks (alg, crit,
// shadowing) and its own signature verified with the leaf's key. A miss, or a header
// without x5c, takes the full path, which is also where every refusal gets its precise
// reason. The cache is bounded: a flood of distinct chains empties it, never grows it.
import Foundation
import GatewayJSON

public final class CachingJWSVerifier: @unchecked Sendable {
    public let trustStore: TrustStore
    public let usage: CertificateUsage
    public let lifetime: TimeInterval
    let verifier: JWSVerifier
    let capacity: Int

    struct Key: Hashable {
        let x5c: [String]
        let x5t: String?
    }

    private struct Entry {
        let key: PublicKey
        let chain: VerifiedChain
        /// The time it was verified as of: an earlier time takes the full path (the chain
        /// may not have been valid then).
        let verifiedAt: Date
        /// `lifetime` after that, and never past the notAfter of any certificate of the chain.
        let validUntil: Date
    }

    // Guarded by `lock`.
    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    private var _hits = 0

    public init(trustStore: TrustStore, usage: CertificateUsage = .signing, lifetime: TimeInterval = 60,
                capacity: Int = 1_000, verifier: JWSVerifier = JWSVerifier()) {
        self.trustStore = trustStore
        self.usage = usage
        self.lifetime = lifetime
        self.capacity = capacity
        self.verifier = verifier
    }

    /// How many verifications were answered from the cache (for tests and statistics).
    public var hits: Int { lock.withLock { _hits } }

    /// As `JWSVerifier.verify(_:trustStore:at:usage:)`, with the chain remembered.
    public func verify(_ jws: JWS, at date: Date = Date()) throws(JWSError) -> VerifiedJWS {
        let header = try verifier.checkedHeader(jws)
        let algorithm = try verifier.checkedAlgorithm(header)
        let cacheKey = Self.cacheKey(header)
        if let cacheKey {
            let entry = lock.withLock { entries[cacheKey] }
            if let entry, entry.verifiedAt <= date, date < entry.validUntil {
                try verifier.checkSignature(jws, algorithm: algorithm, key: entry.key)
                lock.withLock { _hits += 1 }
                return try verifier.result(jws, header: header, algorithm: algorithm, chain: entry.chain)
            }
        }
        let (verified, key) = try verifier.verify(jws, header: header, algorithm: algorithm, trustStore: trustStore, at: date, usage: usage)
        if let cacheKey, let chain = verified.chain {
            let expiry = chain.certificates.map(\.notAfter).min() ?? chain.leaf.notAfter
            let entry = Entry(key: key, chain: chain, verifiedAt: date, validUntil: min(date.addingTimeInterval(lifetime), expiry))
            lock.withLock {
                if entries.count >= capacity { entries.removeAll() }
                entries[cacheKey] = entry
            }
        }
        return verified
    }

    /// Parses `bytes` (flattened JSON or compact) and verifies them.
    public func verify(_ bytes: [UInt8], at date: Date = Date()) throws(JWSError) -> VerifiedJWS {
        try verify(JWS.parse(bytes), at: date)
    }

    /// `x5c` (all of it) and `x5t#S256`, or nil if x5c is absent or odd (the full path then
    /// says what is wrong).
    static func cacheKey(_ header: [String: JSON]) -> Key? {
        guard case .array(let chain)? = header["x5c"], !chain.isEmpty else { return nil }
        var certificates: [String] = []
        certificates.reserveCapacity(chain.count)
        for certificate in chain {
            guard case .string(let text) = certificate else { return nil }
            certificates.append(text)
        }
        var thumbprint: String?
        if let value = header["x5t#S256"] {
            guard case .string(let text) = value else { return nil }
            thumbprint = text
        }
        return Key(x5c: certificates, x5t: thumbprint)
    }
}
