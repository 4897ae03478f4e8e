// SignatureEngine: the raw JWS signature primitives over OpenSSL EVP.
//
// Produces and checks signatures in the JWS form: ECDSA as fixed-width r||s (RFC 7518 §3.4),
// not OpenSSL's DER; RSASSA-PSS with MGF1 on the same hash and a salt as long as the hash
// (RFC 7518 §3.5), enforced on verification too; Ed25519 over the whole message (no pre-hash).
// The caller has already checked that the key suits the algorithm.
import COpenSSL

enum SignatureEngine {
    /// Why a signature did not verify.
    enum Outcome: Equatable {
        case valid
        case invalid(String)
    }

    /// Signs `input`; returns the signature in JWS form.
    static func sign(_ input: UnsafeRawBufferPointer, key: PrivateKey, algorithm: JWSAlgorithm) throws(OpenSSLError) -> [UInt8] {
        OpenSSLError.clearQueue()
        let context = try checkPointer(EVP_MD_CTX_new(), "EVP_MD_CTX_new")
        defer { EVP_MD_CTX_free(context) }
        try initialiseSigning(context, key: key, algorithm: algorithm)
        return try finishSigning(context, input, algorithm: algorithm)
    }

    /// Prepares `context` for one signature with `key` (EVP_DigestSignInit + PSS parameters).
    static func initialiseSigning(_ context: OpaquePointer, key: PrivateKey, algorithm: JWSAlgorithm) throws(OpenSSLError) {
        var pkeyContext: OpaquePointer?
        try check(EVP_DigestSignInit(context, &pkeyContext, digest(algorithm), nil, key.pointer), "EVP_DigestSignInit")
        if algorithm == .ps256 { try configurePSS(pkeyContext) }
    }

    /// One-shot signature with an initialised context; converts ECDSA to r||s.
    static func finishSigning(_ context: OpaquePointer, _ input: UnsafeRawBufferPointer, algorithm: JWSAlgorithm) throws(OpenSSLError) -> [UInt8] {
        var length = 0
        try check(EVP_DigestSign(context, nil, &length, input.baseAddress, input.count), "EVP_DigestSign")
        var signature = [UInt8](repeating: 0, count: length)
        try check(EVP_DigestSign(context, &signature, &length, input.baseAddress, input.count), "EVP_DigestSign")
        signature.removeLast(signature.count - length)
        return try rawSignature(signature, algorithm: algorithm)
    }

    /// Finishes a signature whose input was given with EVP_DigestSignUpdate.
    static func finishStreamedSigning(_ context: OpaquePointer, algorithm: JWSAlgorithm) throws(OpenSSLError) -> [UInt8] {
        var length = 0
        try check(EVP_DigestSignFinal(context, nil, &length), "EVP_DigestSignFinal")
        var signature = [UInt8](repeating: 0, count: length)
        try check(EVP_DigestSignFinal(context, &signature, &length), "EVP_DigestSignFinal")
        signature.removeLast(signature.count - length)
        return try rawSignature(signature, algorithm: algorithm)
    }

    static func rawSignature(_ signature: [UInt8], algorithm: JWSAlgorithm) throws(OpenSSLError) -> [UInt8] {
        switch algorithm {
        case .es256: return try ECDSASignature.rawFromDER(signature, width: 32)
        case .es384: return try ECDSASignature.rawFromDER(signature, width: 48)
        case .ps256, .edDSA, .ed25519: return signature
        }
    }

    /// Checks a JWS-form `signature` over `input`.
    static func verify(_ input: UnsafeRawBufferPointer, signature: [UInt8], key: PublicKey, algorithm: JWSAlgorithm) -> Outcome {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }  // a failed verification leaves reasons we do not report
        let encoded: [UInt8]
        switch algorithm {
        case .es256, .es384:
            let width = algorithm == .es256 ? 32 : 48
            guard signature.count == 2 * width else {
                return .invalid("\(algorithm.rawValue) signature must be \(2 * width) bytes (r||s), got \(signature.count)")
            }
            guard let der = ECDSASignature.derFromRaw(signature) else { return .invalid("malformed ECDSA signature") }
            encoded = der
        case .ps256:
            guard case .rsa(let bits) = key.type, signature.count == (bits + 7) / 8 else {
                return .invalid("PS256 signature length does not match the RSA modulus")
            }
            encoded = signature
        case .edDSA, .ed25519:
            guard signature.count == 64 else { return .invalid("Ed25519 signature must be 64 bytes, got \(signature.count)") }
            encoded = signature
        }
        guard let context = EVP_MD_CTX_new() else { return .invalid("out of memory") }
        defer { EVP_MD_CTX_free(context) }
        var pkeyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &pkeyContext, digest(algorithm), nil, key.pointer) == 1 else {
            return .invalid("key refused for \(algorithm.rawValue)")
        }
        if algorithm == .ps256 {
            do { try configurePSS(pkeyContext) } catch { return .invalid("\(error)") }
        }
        let result = EVP_DigestVerify(context, encoded, encoded.count, input.baseAddress, input.count)
        return result == 1 ? .valid : .invalid("signature does not match")
    }

    private static func digest(_ algorithm: JWSAlgorithm) -> OpaquePointer? {
        switch algorithm {
        case .es256, .ps256: return EVP_sha256()
        case .es384: return EVP_sha384()
        case .edDSA, .ed25519: return nil  // Ed25519 hashes internally
        }
    }

    /// PSS parameters of RFC 7518 §3.5: MGF1 with SHA-256, salt length = 32 (the hash size).
    private static func configurePSS(_ context: OpaquePointer?) throws(OpenSSLError) {
        try check(EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PSS_PADDING), "EVP_PKEY_CTX_set_rsa_padding")
        try check(EVP_PKEY_CTX_set_rsa_mgf1_md(context, EVP_sha256()), "EVP_PKEY_CTX_set_rsa_mgf1_md")
        try check(EVP_PKEY_CTX_set_rsa_pss_saltlen(context, 32), "EVP_PKEY_CTX_set_rsa_pss_saltlen")
    }
}

/// ECDSA signature encodings: DER `ECDSA-Sig-Value` (OpenSSL) and fixed-width r||s (JWS).
enum ECDSASignature {
    /// DER to r||s, each left-padded to `width` bytes.
    static func rawFromDER(_ der: [UInt8], width: Int) throws(OpenSSLError) -> [UInt8] {
        let signature: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        let parsed = try checkPointer(signature, "d2i_ECDSA_SIG")
        defer { ECDSA_SIG_free(parsed) }
        var r: OpaquePointer?, s: OpaquePointer?
        ECDSA_SIG_get0(parsed, &r, &s)
        var raw = [UInt8](repeating: 0, count: 2 * width)
        let ok = raw.withUnsafeMutableBufferPointer { buffer in
            BN_bn2binpad(r, buffer.baseAddress, Int32(width)) == Int32(width)
                && BN_bn2binpad(s, buffer.baseAddress! + width, Int32(width)) == Int32(width)
        }
        if !ok { throw OpenSSLError.capture("BN_bn2binpad") }
        return raw
    }

    /// r||s (two equal halves) to DER; nil when OpenSSL refuses the values.
    static func derFromRaw(_ raw: [UInt8]) -> [UInt8]? {
        let width = raw.count / 2
        guard width > 0, raw.count == 2 * width, let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        let r = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(width), nil) }
        let s = raw.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress! + width, Int32(width), nil) }
        guard let r, let s else { BN_free(r); BN_free(s); return nil }
        guard ECDSA_SIG_set0(signature, r, s) == 1 else { BN_free(r); BN_free(s); return nil }  // set0 owns them only on success
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(signature, &out)
        guard length > 0, let out else { return nil }
        defer { gw_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
