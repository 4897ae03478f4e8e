/// The JWS algorithms (RFC 7518 §3, RFC 8037) the gateway signs and verifies with.
///
/// Deliberately absent: `none` and the HMAC family `HS*` (a shared secret cannot prove who
/// signed), `RS*` (PKCS#1 v1.5; PS256 is the RSA choice), ES512 and PS384/PS512 (not needed
/// by any partner). `JWSVerifier` refuses them by name.
public enum JWSAlgorithm: String, Sendable, CaseIterable {
    /// ECDSA P-256 with SHA-256; the gateway's default.
    case es256 = "ES256"
    /// ECDSA P-384 with SHA-384.
    case es384 = "ES384"
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, RSA >= 2048.
    case ps256 = "PS256"
    /// Ed25519 (RFC 8037). Deprecated by RFC 9864 in favour of `Ed25519` but still what
    /// most libraries expect, so it is what the gateway writes for an Ed25519 key.
    case edDSA = "EdDSA"
    /// Ed25519 under its fully specified name (RFC 9864); accepted when verifying.
    case ed25519 = "Ed25519"

    /// Whether a key of `type` is the right key for this algorithm.
    public func accepts(_ type: KeyType) -> Bool {
        switch (self, type) {
        case (.es256, .ec(.p256)), (.es384, .ec(.p384)), (.ps256, .rsa), (.edDSA, .ed25519), (.ed25519, .ed25519): return true
        default: return false
        }
    }

    /// The one algorithm a key of `type` signs with.
    public static func `for`(_ type: KeyType) -> JWSAlgorithm {
        switch type {
        case .ec(.p256): return .es256
        case .ec(.p384): return .es384
        case .rsa: return .ps256
        case .ed25519: return .edDSA
        }
    }
}
