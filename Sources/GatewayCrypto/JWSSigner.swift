// JWSSigner: makes the gateway's JWS (flattened JSON, JAdES B-B compatible header).
//
// SECURITY: holds the private signing key. The key is checked against the leaf certificate
// at construction, so the gateway can never send a signature whose x5c names someone else.
// The payload signed is the JCS (RFC 8785) canonical form of the message: the same JSON
// value always gives the same bytes, whatever member order or number spelling the unit used.
import Foundation
import GatewayJSON

/// Signs messages as JWS with one key and (optionally) its certificate chain.
///
/// Protected header (JCS order): `alg`, `iat`, `typ`, `x5c`, `x5t#S256`; with
/// `jadesSigningTime`, also `sigT` listed in `crit`. See docs/signing.md.
public final class JWSSigner: Sendable {
    /// `typ` of the gateway's JWS: RFC 7515 §4.1.9's value for the JSON serialisation, the
    /// same media type the delivery POST carries (`application/jose+json`).
    public static let defaultType = "jose+json"

    public let key: PrivateKey
    public let algorithm: JWSAlgorithm
    /// Leaf first; empty when signing with a bare key (no `x5c`/`x5t#S256`).
    public let chain: [Certificate]
    public let type: String
    public let jadesSigningTime: Bool

    private let fixedHeader: [String: JSON]
    private let context: SigningContext
    private let headerCache = HeaderCache()

    /// - Parameters:
    ///   - key: the private key.
    ///   - chain: the signing certificate first, then intermediates (no root needed); its leaf
    ///     must hold `key`'s public key. Empty for a bare-key JWS.
    ///   - algorithm: defaults to the key's algorithm (ES256 for P-256, ES384, PS256, EdDSA).
    ///   - type: the `typ` header (default `jose+json`).
    ///   - jadesSigningTime: also write JAdES `sigT` (RFC 3339 UTC) and mark it critical.
    ///     Off by default: many JOSE libraries refuse a `crit` they do not know.
    public init(key: PrivateKey, chain: [Certificate] = [], algorithm: JWSAlgorithm? = nil,
                type: String = JWSSigner.defaultType, jadesSigningTime: Bool = false) throws(JWSError) {
        let algorithm = algorithm ?? JWSAlgorithm.for(key.type)
        guard algorithm.accepts(key.type) else {
            throw JWSError(.algorithmKeyMismatch, "\(algorithm.rawValue) cannot be used with a \(key.type) key")
        }
        if let leaf = chain.first {
            let certified: PublicKey
            do { certified = try leaf.publicKey() } catch {
                throw JWSError(.certificateMismatch, "signing certificate \(leaf.subject): \(error.message)")
            }
            guard certified.matches(key.publicKey) else {
                throw JWSError(.certificateMismatch, "the signing key does not belong to certificate \(leaf.subject)")
            }
        }
        do { context = try SigningContext(key: key, algorithm: algorithm) } catch {
            throw JWSError(.signingFailed, "cannot prepare \(algorithm.rawValue) signing: \(error)")
        }
        self.key = key
        self.algorithm = algorithm
        self.chain = chain
        self.type = type
        self.jadesSigningTime = jadesSigningTime
        var header: [String: JSON] = ["alg": .string(algorithm.rawValue), "typ": .string(type)]
        if let leaf = chain.first {
            header["x5c"] = .array(chain.map { .string(Base64URL.encodeStandard($0.derBytes)) })
            header["x5t#S256"] = .string(leaf.x5tS256)
        }
        if jadesSigningTime { header["crit"] = ["sigT"] }
        fixedHeader = header
    }

    /// An equal signer (same key, chain and header fields) with a key object, a signing
    /// context and a header cache of its own: for one thread of many, so that they do not
    /// contend on shared locks and reference counts.
    public func replica() throws(JWSError) -> JWSSigner {
        let own: PrivateKey
        do { own = try key.duplicate() } catch {
            throw JWSError(.signingFailed, "cannot duplicate the signing key: \(error)")
        }
        return try JWSSigner(key: own, chain: chain, algorithm: algorithm, type: type, jadesSigningTime: jadesSigningTime)
    }

    /// Signs the JCS canonical form of `message`, with `iat` = `date` (whole seconds).
    public func sign(_ message: JSON, at date: Date = Date()) throws(JWSError) -> JWS {
        let payload: [UInt8]
        do { payload = try message.canonicalBytes() } catch {
            throw JWSError(.malformed, "message cannot be canonicalised: \(error)")
        }
        return try sign(payload: payload, at: date)
    }

    /// Signs `payload` as given (already canonical, or not JSON at all).
    public func sign(payload: [UInt8], at date: Date = Date()) throws(JWSError) -> JWS {
        guard !payload.isEmpty else { throw JWSError(.malformed, "refusing to sign an empty payload") }
        let (header, prefixed) = try protectedHeader(at: Int64(date.timeIntervalSince1970.rounded(.down)))
        let payloadB64 = Base64URL.encode(payload)
        let signature: [UInt8]
        do {
            if let prefixed {
                // "HEADER." is already hashed: only the payload is left.
                var rest = payloadB64
                signature = try rest.withUTF8 { buffer throws(OpenSSLError) in try prefixed.signContinuing(UnsafeRawBufferPointer(buffer)) }
            } else {
                var input = Array(header.utf8)
                input.append(UInt8(ascii: "."))
                input.append(contentsOf: payloadB64.utf8)
                signature = try input.withUnsafeBytes { buffer throws(OpenSSLError) in try context.sign(buffer) }
            }
        } catch {
            throw JWSError(.signingFailed, "\(algorithm.rawValue) signing failed: \(error)")
        }
        return JWS(protectedHeaderBase64URL: header, payloadBase64URL: payloadB64,
                   signatureBase64URL: Base64URL.encode(signature), serialization: .flattenedJSON)
    }

    /// The raw JWS signature over exactly `signingInput` (ASCII `HEADER.PAYLOAD`), for callers
    /// that build their own protected header (known-answer tests, other JWS profiles).
    public func signature(over signingInput: [UInt8]) throws(JWSError) -> [UInt8] {
        do {
            return try signingInput.withUnsafeBytes { buffer throws(OpenSSLError) in try context.sign(buffer) }
        } catch {
            throw JWSError(.signingFailed, "\(algorithm.rawValue) signing failed: \(error)")
        }
    }

    /// The base64url protected header for `iat`; the last one is cached, since the daemon
    /// signs many messages within the same second and the x5c part is the bulk of it.
    /// The protected header for `iat` (base64url) and a signing context that has absorbed
    /// "HEADER." (nil where the algorithm signs in one shot).
    private func protectedHeader(at iat: Int64) throws(JWSError) -> (String, SigningContext?) {
        if let cached = headerCache.get(iat) { return cached }
        var header = fixedHeader
        header["iat"] = .number(Double(iat))
        if jadesSigningTime { header["sigT"] = .string(JWSSigner.rfc3339(iat)) }
        let bytes: [UInt8]
        do { bytes = try JSON.object(header).canonicalBytes() } catch {
            throw JWSError(.malformed, "protected header cannot be serialised: \(error)")
        }
        let encoded = Base64URL.encode(bytes)
        let prefixed = Array((encoded + ".").utf8).withUnsafeBytes { context.absorbing($0) }
        headerCache.set(iat, encoded, prefixed)
        return (encoded, prefixed)
    }

    /// `2026-01-31T12:00:00Z`: JAdES sigT form (RFC 3339, UTC, whole seconds).
    static func rfc3339(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }
}

/// The last (iat, header) pair, behind a lock so one signer can serve many threads.
private final class HeaderCache: @unchecked Sendable {
    private let lock = NSLock()
    private var iat: Int64 = .min
    private var header = ""
    private var prefixed: SigningContext?

    func get(_ iat: Int64) -> (String, SigningContext?)? {
        lock.lock()
        defer { lock.unlock() }
        return self.iat == iat ? (header, prefixed) : nil
    }

    func set(_ iat: Int64, _ header: String, _ prefixed: SigningContext?) {
        lock.lock()
        defer { lock.unlock() }
        self.iat = iat
        self.header = header
        self.prefixed = prefixed
    }
}
