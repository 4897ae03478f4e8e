// JWK import (RFC 7517/7518/8037) for EC P-256/P-384, RSA and Ed25519 keys.
//
// Used to read keys published as JWK (test vectors, an agency that publishes a JWK set).
// Values are checked: coordinates must have the curve's exact length and lie on the curve,
// and an Ed25519 private key must match its published public key.
import COpenSSL
import GatewayJSON

extension PublicKey {
    /// A public key from a JWK object (`kty` EC, RSA or OKP/Ed25519). Private members are ignored.
    public convenience init(jwk: JSON) throws(CryptoError) {
        try self.init(owning: JWKImport.make(jwk, includePrivate: false))
    }
}

extension PrivateKey {
    /// A private key from a JWK object holding `d` (and for RSA the CRT members).
    public convenience init(jwk: JSON) throws(CryptoError) {
        try self.init(owning: JWKImport.make(jwk, includePrivate: true))
    }
}

enum JWKImport {
    static func make(_ jwk: JSON, includePrivate: Bool) throws(CryptoError) -> OpaquePointer {
        OpenSSLError.clearQueue()
        guard case .object = jwk, let kty = jwk["kty"]?.stringValue else {
            throw CryptoError(.malformed, "JWK without kty")
        }
        switch kty {
        case "EC": return try ec(jwk, includePrivate)
        case "RSA": return try rsa(jwk, includePrivate)
        case "OKP": return try okp(jwk, includePrivate)
        default: throw CryptoError(.unsupportedKey, "JWK kty \(kty) is not supported (EC, RSA, OKP)")
        }
    }

    private static func member(_ jwk: JSON, _ name: String) throws(CryptoError) -> [UInt8] {
        guard let text = jwk[name]?.stringValue else { throw CryptoError(.malformed, "JWK member \(name) missing") }
        guard let bytes = Base64URL.decode(text) else { throw CryptoError(.malformed, "JWK member \(name) is not base64url") }
        return bytes
    }

    private static func ec(_ jwk: JSON, _ includePrivate: Bool) throws(CryptoError) -> OpaquePointer {
        guard let crv = jwk["crv"]?.stringValue, let curve = ECCurve(rawValue: crv) else {
            throw CryptoError(.unsupportedKey, "JWK EC curve \(jwk["crv"]?.stringValue ?? "(none)") is not supported (P-256, P-384)")
        }
        let x = try member(jwk, "x"), y = try member(jwk, "y")
        let size = curve.coordinateByteCount
        guard x.count == size, y.count == size else {
            throw CryptoError(.malformed, "JWK EC coordinates must be \(size) bytes for \(crv)")
        }
        let d = includePrivate ? try member(jwk, "d") : nil
        if let d, d.count != size { throw CryptoError(.malformed, "JWK EC d must be \(size) bytes for \(crv)") }
        let point = [0x04] + x + y
        let key = try fromData("EC", selection: includePrivate ? gw_selection_keypair() : gw_selection_public_key()) { builder in
            var ok = builder.push("group", utf8: curve.openSSLGroupName) && builder.push("pub", octets: point)
            if let d { ok = ok && builder.push("priv", bigEndian: d) }
            return ok
        }
        // fromdata does not prove the point is on the curve; a public-key check does.
        let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil)
        defer { EVP_PKEY_CTX_free(context) }
        let valid = includePrivate ? EVP_PKEY_pairwise_check(context) : EVP_PKEY_public_check(context)
        guard valid == 1 else {
            EVP_PKEY_free(key)
            throw CryptoError(.malformed, "JWK EC key is not a valid \(crv) key", underlying: .capture("EVP_PKEY check"))
        }
        return key
    }

    private static func rsa(_ jwk: JSON, _ includePrivate: Bool) throws(CryptoError) -> OpaquePointer {
        var parts: [(String, [UInt8])] = [("n", try member(jwk, "n")), ("e", try member(jwk, "e"))]
        if includePrivate {
            let names = [("d", "d"), ("p", "rsa-factor1"), ("q", "rsa-factor2"), ("dp", "rsa-exponent1"),
                         ("dq", "rsa-exponent2"), ("qi", "rsa-coefficient1")]
            for (jwkName, paramName) in names { parts.append((paramName, try member(jwk, jwkName))) }
        }
        return try fromData("RSA", selection: includePrivate ? gw_selection_keypair() : gw_selection_public_key()) { builder in
            parts.allSatisfy { builder.push($0.0, bigEndian: $0.1) }
        }
    }

    private static func okp(_ jwk: JSON, _ includePrivate: Bool) throws(CryptoError) -> OpaquePointer {
        guard jwk["crv"]?.stringValue == "Ed25519" else {
            throw CryptoError(.unsupportedKey, "JWK OKP curve \(jwk["crv"]?.stringValue ?? "(none)") is not supported (Ed25519)")
        }
        let x = try member(jwk, "x")
        guard x.count == 32 else { throw CryptoError(.malformed, "JWK Ed25519 x must be 32 bytes") }
        if includePrivate {
            let d = try member(jwk, "d")
            guard d.count == 32 else { throw CryptoError(.malformed, "JWK Ed25519 d must be 32 bytes") }
            guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, d, 32) else {
                throw CryptoError(.malformed, "JWK Ed25519 private key refused", underlying: .capture("EVP_PKEY_new_raw_private_key"))
            }
            var derived = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_public_key(key, &derived, &length) == 1, derived == x else {
                EVP_PKEY_free(key)
                throw CryptoError(.malformed, "JWK Ed25519 d does not match x")
            }
            return key
        }
        guard let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, x, 32) else {
            throw CryptoError(.malformed, "JWK Ed25519 public key refused", underlying: .capture("EVP_PKEY_new_raw_public_key"))
        }
        return key
    }

    private static func fromData(_ name: String, selection: Int32, _ build: (ParamBuilder) -> Bool) throws(CryptoError) -> OpaquePointer {
        guard let builder = ParamBuilder(), build(builder), let params = OSSL_PARAM_BLD_to_param(builder.pointer) else {
            throw CryptoError(.malformed, "JWK \(name) key parameters refused", underlying: .capture("OSSL_PARAM_BLD"))
        }
        defer { OSSL_PARAM_free(params) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, name, nil) else {
            throw CryptoError(.openSSL, "cannot import JWK \(name) key", underlying: .capture("EVP_PKEY_CTX_new_from_name"))
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(context) == 1, EVP_PKEY_fromdata(context, &key, selection, params) == 1, let key else {
            throw CryptoError(.malformed, "JWK \(name) key refused", underlying: .capture("EVP_PKEY_fromdata"))
        }
        return key
    }
}

/// Owns an OSSL_PARAM_BLD and everything pushed into it: the builder keeps only pointers
/// (to BIGNUMs, strings and octets) until OSSL_PARAM_BLD_to_param copies them, so the
/// values must outlive the builder, not the Swift call that pushed them.
final class ParamBuilder {
    let pointer: OpaquePointer
    private var numbers: [OpaquePointer] = []
    private var buffers: [UnsafeMutableRawBufferPointer] = []

    init?() {
        guard let pointer = OSSL_PARAM_BLD_new() else { return nil }
        self.pointer = pointer
    }

    deinit {
        OSSL_PARAM_BLD_free(pointer)
        for bn in numbers { BN_clear_free(bn) }
        for buffer in buffers {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)  // may hold private key bytes
            buffer.deallocate()
        }
    }

    /// A copy of `bytes` (plus a NUL, so strings are C strings) owned by this builder.
    private func retained(_ bytes: [UInt8]) -> UnsafeMutableRawBufferPointer {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count + 1, alignment: 1)
        buffer.copyBytes(from: bytes + [0])
        buffers.append(buffer)
        return buffer
    }

    func push(_ name: String, bigEndian bytes: [UInt8]) -> Bool {
        guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else { return false }
        numbers.append(bn)
        return OSSL_PARAM_BLD_push_BN(pointer, retained(Array(name.utf8)).baseAddress!.assumingMemoryBound(to: CChar.self), bn) == 1
    }

    func push(_ name: String, utf8 value: String) -> Bool {
        let key = retained(Array(name.utf8)), text = retained(Array(value.utf8))
        return OSSL_PARAM_BLD_push_utf8_string(pointer, key.baseAddress!.assumingMemoryBound(to: CChar.self),
                                               text.baseAddress!.assumingMemoryBound(to: CChar.self), value.utf8.count) == 1
    }

    func push(_ name: String, octets: [UInt8]) -> Bool {
        let key = retained(Array(name.utf8)), data = retained(octets)
        return OSSL_PARAM_BLD_push_octet_string(pointer, key.baseAddress!.assumingMemoryBound(to: CChar.self),
                                                data.baseAddress, octets.count) == 1
    }
}
