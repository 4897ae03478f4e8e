// JWSVerifier: checks a JWS against a known key or against trust anchors (x5c).
//
// SECURITY: everything in a JWS is attacker-controlled until the signature and the chain
// check out. Only the protected header is read for security decisions (alg, crit, x5c,
// x5t#S256, iat); the unprotected header is never trusted and may not repeat or shadow a
// protected name. `alg` must be one this verifier implements AND one its policy allows, and
// must suit the key's type: `none`, HMAC (HS*) and an algorithm chosen to fit a different
// key type (the classic RS/HS confusion) are refused before any cryptography runs. A `crit`
// naming a parameter we do not understand fails the JWS, as RFC 7515 §4.1.11 requires.
import Foundation
import GatewayJSON

/// What a successful verification established.
public struct VerifiedJWS: Sendable {
    public let algorithm: JWSAlgorithm
    /// The protected header.
    public let header: [String: JSON]
    /// The signed payload bytes (the JCS form of a gateway message).
    public let payload: [UInt8]
    /// The claimed signing time: `sigT` if present, else `iat`; nil when neither is.
    public let signingTime: Date?
    /// The verified chain (leaf first) when verified against trust anchors; nil with a bare key.
    public let chain: VerifiedChain?
    public let serialization: JWS.Serialization

    /// Subject of the signing certificate, when a chain was verified.
    public var signerSubject: String? { chain?.leaf.subject }

    /// The payload parsed as strict I-JSON.
    public func payloadJSON() throws -> JSON { try JSON.parse(payload) }
}

/// Verifies JWS signatures. A value type: cheap to make, safe to share.
public struct JWSVerifier: Sendable {
    /// Which algorithms and critical headers are accepted.
    public struct Policy: Sendable {
        /// Algorithms accepted (default: all four the gateway implements).
        public var allowedAlgorithms: Set<JWSAlgorithm>
        /// Header names accepted in `crit` (default: JAdES `sigT`, which this verifier reads).
        public var understoodCriticalHeaders: Set<String>

        public init(allowedAlgorithms: Set<JWSAlgorithm> = Set(JWSAlgorithm.allCases),
                    understoodCriticalHeaders: Set<String> = ["sigT"]) {
            self.allowedAlgorithms = allowedAlgorithms
            self.understoodCriticalHeaders = understoodCriticalHeaders
        }
    }

    public var policy: Policy

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Verifies `jws` with a known public key (x5c, if present, is not consulted).
    public func verify(_ jws: JWS, key: PublicKey) throws(JWSError) -> VerifiedJWS {
        let header = try checkedHeader(jws)
        let algorithm = try checkedAlgorithm(header)
        try checkSignature(jws, algorithm: algorithm, key: key)
        return try result(jws, header: header, algorithm: algorithm, chain: nil)
    }

    /// Verifies `jws` with the key of its `x5c` leaf, after verifying that chain against
    /// `trustStore` at `date` for `usage`.
    ///
    /// - Throws: `JWSError`; for a refused chain, reason `.untrustedCertificate` with the
    ///   `ChainVerificationError` (expired, unknown issuer, revoked, wrong key usage...).
    /// `freshCRLs`: see `TrustStore.verify` (nil: CRLs must be current when `date` is now).
    public func verify(_ jws: JWS, trustStore: TrustStore, at date: Date = Date(),
                       usage: CertificateUsage = .signing, freshCRLs: Bool? = nil) throws(JWSError) -> VerifiedJWS {
        let header = try checkedHeader(jws)
        return try verify(jws, header: header, algorithm: try checkedAlgorithm(header), trustStore: trustStore, at: date, usage: usage,
                          freshCRLs: freshCRLs).verified
    }

    /// The chain path after the header checks; also gives the leaf's key (CachingJWSVerifier
    /// keeps it).
    func verify(_ jws: JWS, header: [String: JSON], algorithm: JWSAlgorithm, trustStore: TrustStore, at date: Date,
                usage: CertificateUsage, freshCRLs: Bool? = nil) throws(JWSError) -> (verified: VerifiedJWS, key: PublicKey) {
        let certificates = try certificateChain(header)
        let chain: VerifiedChain
        do {
            chain = try trustStore.verify(leaf: certificates[0], intermediates: Array(certificates.dropFirst()), at: date, usage: usage,
                                          freshCRLs: freshCRLs)
        } catch {
            throw JWSError(.untrustedCertificate, "signing certificate refused: \(error)", chainError: error)
        }
        let key: PublicKey
        do { key = try certificates[0].publicKey() } catch {
            throw JWSError(.algorithmKeyMismatch, "signing certificate key: \(error.message)")
        }
        try checkSignature(jws, algorithm: algorithm, key: key)
        return (try result(jws, header: header, algorithm: algorithm, chain: chain), key)
    }

    /// Parses and verifies bytes (flattened JSON or compact) with a known key.
    public func verify(_ bytes: [UInt8], key: PublicKey) throws(JWSError) -> VerifiedJWS {
        try verify(JWS.parse(bytes), key: key)
    }

    /// Parses and verifies bytes (flattened JSON or compact) against trust anchors.
    public func verify(_ bytes: [UInt8], trustStore: TrustStore, at date: Date = Date(),
                       usage: CertificateUsage = .signing) throws(JWSError) -> VerifiedJWS {
        try verify(JWS.parse(bytes), trustStore: trustStore, at: date, usage: usage)
    }

    // MARK: steps

    /// Registered header names (RFC 7515 §4.1, RFC 7516 §4.1): never valid in `crit`.
    private static let registered: Set<String> = [
        "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc", "zip",
    ]

    /// Decodes the protected header and enforces the header rules that do not depend on the key.
    func checkedHeader(_ jws: JWS) throws(JWSError) -> [String: JSON] {
        guard let bytes = Base64URL.decode(jws.protectedHeaderBase64URL) else {
            throw JWSError(.malformed, "protected header is not base64url")
        }
        let parsed: JSON
        do { parsed = try JSON.parse(bytes) } catch { throw JWSError(.malformed, "protected header is not valid I-JSON: \(error)") }
        guard let header = parsed.objectValue else { throw JWSError(.malformed, "protected header must be a JSON object") }

        if let unprotected = jws.unprotectedHeader {
            if let shared = unprotected.keys.sorted().first(where: { header[$0] != nil }) {
                throw JWSError(.malformed, "header parameter \"\(shared)\" appears in both the protected and the unprotected header")
            }
            if unprotected["crit"] != nil || unprotected["alg"] != nil {
                throw JWSError(.malformed, "\"alg\" and \"crit\" must be in the protected header")
            }
        }

        if let crit = header["crit"] {
            guard let names = crit.arrayValue, !names.isEmpty else {
                throw JWSError(.malformed, "\"crit\" must be a non-empty array of header names")
            }
            var seen: Set<String> = []
            for entry in names {
                guard let name = entry.stringValue, seen.insert(name).inserted else {
                    throw JWSError(.malformed, "\"crit\" entries must be distinct strings")
                }
                guard !JWSVerifier.registered.contains(name) else {
                    throw JWSError(.malformed, "\"crit\" may not list the registered header \"\(name)\"")
                }
                guard policy.understoodCriticalHeaders.contains(name) else {
                    throw JWSError(.unknownCriticalHeader, "critical header parameter \"\(name)\" is not understood")
                }
                guard header[name] != nil else {
                    throw JWSError(.malformed, "critical header parameter \"\(name)\" is listed in crit but absent")
                }
            }
        }
        return header
    }

    /// `alg` from the protected header, refused unless implemented and allowed.
    func checkedAlgorithm(_ header: [String: JSON]) throws(JWSError) -> JWSAlgorithm {
        guard let value = header["alg"] else { throw JWSError(.malformed, "protected header has no \"alg\"") }
        guard let name = value.stringValue else { throw JWSError(.malformed, "\"alg\" must be a string") }
        if name.lowercased() == "none" { throw JWSError(.algorithmNone, "alg \"\(name)\" (unsigned JWS) is refused") }
        if name.uppercased().hasPrefix("HS") {
            throw JWSError(.hmacRefused, "alg \"\(name)\" (shared-secret HMAC) is refused: it cannot identify the signer")
        }
        guard let algorithm = JWSAlgorithm(rawValue: name) else {
            throw JWSError(.unsupportedAlgorithm, "alg \"\(name)\" is not supported (ES256, ES384, PS256, EdDSA/Ed25519)")
        }
        guard policy.allowedAlgorithms.contains(algorithm) else {
            throw JWSError(.algorithmNotAllowed, "alg \"\(name)\" is not allowed by this verifier's policy")
        }
        return algorithm
    }

    /// The `x5c` certificates (leaf first), checked against `x5t#S256` when present.
    private func certificateChain(_ header: [String: JSON]) throws(JWSError) -> [Certificate] {
        guard let x5c = header["x5c"] else {
            throw JWSError(.missingCertificateChain, "the protected header has no \"x5c\" certificate chain")
        }
        guard let entries = x5c.arrayValue, !entries.isEmpty else {
            throw JWSError(.malformed, "\"x5c\" must be a non-empty array")
        }
        var certificates: [Certificate] = []
        for (index, entry) in entries.enumerated() {
            // x5c is standard base64 (RFC 7515 §4.1.6), unlike everything else in a JWS.
            guard let text = entry.stringValue, let der = Base64URL.decodeStandard(text) else {
                throw JWSError(.malformed, "\"x5c\"[\(index)] is not base64")
            }
            do { certificates.append(try Certificate(der: der)) } catch {
                throw JWSError(.malformed, "\"x5c\"[\(index)] is not a certificate: \(error.message)")
            }
        }
        if let thumbprint = header["x5t#S256"] {
            guard thumbprint.stringValue == certificates[0].x5tS256 else {
                throw JWSError(.certificateMismatch, "\"x5t#S256\" does not match the first \"x5c\" certificate")
            }
        }
        return certificates
    }

    func checkSignature(_ jws: JWS, algorithm: JWSAlgorithm, key: PublicKey) throws(JWSError) {
        guard algorithm.accepts(key.type) else {
            throw JWSError(.algorithmKeyMismatch, "alg \(algorithm.rawValue) does not match the \(key.type) key")
        }
        guard let signature = Base64URL.decode(jws.signatureBase64URL) else {
            throw JWSError(.malformed, "signature is not base64url")
        }
        let input = jws.signingInput
        let outcome = input.withUnsafeBytes { SignatureEngine.verify($0, signature: signature, key: key, algorithm: algorithm) }
        if case .invalid(let why) = outcome {
            throw JWSError(.badSignature, "\(algorithm.rawValue) signature does not verify: \(why)")
        }
    }

    func result(_ jws: JWS, header: [String: JSON], algorithm: JWSAlgorithm,
                        chain: VerifiedChain?) throws(JWSError) -> VerifiedJWS {
        guard let payload = jws.payload else { throw JWSError(.malformed, "payload is not base64url") }
        return VerifiedJWS(algorithm: algorithm, header: header, payload: payload,
                           signingTime: try JWSVerifier.signingTime(header), chain: chain,
                           serialization: jws.serialization)
    }

    /// 9999-12-31T23:59:59Z.
    public static let maxNumericDate: Double = 253_402_300_799

    /// `sigT` (RFC 3339, JAdES) if present, else `iat` (NumericDate).
    static func signingTime(_ header: [String: JSON]) throws(JWSError) -> Date? {
        if let sigT = header["sigT"] {
            guard let text = sigT.stringValue, let date = RFC3339.parse(text) else {
                throw JWSError(.malformed, "\"sigT\" must be an RFC 3339 UTC time")
            }
            return date
        }
        if let iat = header["iat"] {
            // Up to the end of year 9999 (RFC 3339's range): a signer's huge value must not
            // trap a conversion of the time further on.
            guard let seconds = iat.doubleValue, seconds.isFinite, seconds >= 0, seconds <= maxNumericDate else {
                throw JWSError(.malformed, "\"iat\" must be a number of seconds from 0 to \(Int(maxNumericDate)) (the end of year 9999)")
            }
            return Date(timeIntervalSince1970: seconds)
        }
        return nil
    }
}

/// RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only, as JAdES sigT).
enum RFC3339 {
    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") || bytes.last == UInt8(ascii: "z") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for b in bytes[range] {
                guard b >= 0x30, b <= 0x39 else { return nil }
                value = value * 10 + Int(b - 0x30)
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var fraction = 0.0
        if bytes.count > 20 {
            // Any number of digits, read to the nanosecond (more would overflow the value).
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 21,
                  bytes[20..<(bytes.count - 1)].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            let kept = min(bytes.count - 21, 9)
            guard let digits = number(20..<(20 + kept)) else { return nil }
            fraction = Double(digits) / pow(10, Double(kept))
        } else if bytes.count != 20 { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900); parts.tm_mon = Int32(month - 1); parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour); parts.tm_min = Int32(minute); parts.tm_sec = Int32(second)
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)) + fraction)
    }
}
