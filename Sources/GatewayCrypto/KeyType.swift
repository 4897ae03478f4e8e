import COpenSSL

/// The kinds of asymmetric key the gateway signs and verifies with.
public enum KeyType: Sendable, Equatable, CustomStringConvertible {
    /// ECDSA on NIST P-256 (ES256) or P-384 (ES384).
    case ec(ECCurve)
    /// RSA with its modulus size in bits (PS256; at least 2048).
    case rsa(bits: Int)
    /// Ed25519 (EdDSA, RFC 8037).
    case ed25519

    public var description: String {
        switch self {
        case .ec(let curve): return "EC \(curve.rawValue)"
        case .rsa(let bits): return "RSA \(bits)"
        case .ed25519: return "Ed25519"
        }
    }

    /// Inspects an EVP_PKEY. Refuses types and curves the gateway does not use, and weak RSA.
    static func of(_ pkey: OpaquePointer) throws(CryptoError) -> KeyType {
        switch EVP_PKEY_get_id(pkey) {
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else {
                throw CryptoError(.unsupportedKey, "EC key without a named curve", underlying: .capture("EVP_PKEY_get_group_name"))
            }
            let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch group {
            case "prime256v1", "P-256", "secp256r1": return .ec(.p256)
            case "secp384r1", "P-384": return .ec(.p384)
            default: throw CryptoError(.unsupportedKey, "EC curve \(group) is not supported (P-256 or P-384)")
            }
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS:
            let bits = Int(EVP_PKEY_get_bits(pkey))
            guard bits >= 2048 else {
                throw CryptoError(.weakKey, "RSA key of \(bits) bits refused: at least 2048 bits are required")
            }
            return .rsa(bits: bits)
        case EVP_PKEY_ED25519:
            return .ed25519
        case let id:
            let name = OBJ_nid2sn(id).map { String(cString: $0) } ?? "nid \(id)"
            throw CryptoError(.unsupportedKey, "key type \(name) is not supported (EC P-256/P-384, RSA >= 2048, Ed25519)")
        }
    }
}

/// The elliptic curves the gateway uses, named as JOSE names them.
public enum ECCurve: String, Sendable, CaseIterable {
    case p256 = "P-256"
    case p384 = "P-384"

    /// Bytes in one coordinate, and in each of r and s of a JWS signature.
    public var coordinateByteCount: Int { self == .p256 ? 32 : 48 }

    var openSSLGroupName: String { self == .p256 ? "prime256v1" : "secp384r1" }
}
