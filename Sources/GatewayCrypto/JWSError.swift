/// A JWS could not be made or was refused. `message` says why in a sentence; `reason` is
/// the machine-readable kind.
public struct JWSError: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// Not a JWS in a serialisation we read, or a header/member of the wrong type.
        case malformed
        /// `alg: none`: an unsigned JWS is never accepted.
        case algorithmNone
        /// HS256/HS384/HS512: a shared-secret MAC proves nothing about who signed.
        case hmacRefused
        /// An algorithm the gateway does not implement (e.g. RS256, ES512).
        case unsupportedAlgorithm
        /// Implemented but not allowed by this verifier's policy.
        case algorithmNotAllowed
        /// The key is not of the kind the algorithm needs (e.g. ES256 with an RSA key).
        case algorithmKeyMismatch
        /// `crit` names a header parameter this verifier does not understand (RFC 7515 §4.1.11).
        case unknownCriticalHeader
        /// Chain verification was asked for, but the header carries no `x5c`.
        case missingCertificateChain
        /// `x5t#S256` does not match the `x5c` leaf, or the signing key does not match the certificate.
        case certificateMismatch
        /// The `x5c` chain does not verify against the trust anchors; see `chainError`.
        case untrustedCertificate
        /// The signature does not verify.
        case badSignature
        /// Signing failed inside OpenSSL.
        case signingFailed
    }

    public let reason: Reason
    public let message: String
    /// Set for `.untrustedCertificate`: OpenSSL's verify code and text.
    public let chainError: ChainVerificationError?

    init(_ reason: Reason, _ message: String, chainError: ChainVerificationError? = nil) {
        self.reason = reason
        self.message = message
        self.chainError = chainError
    }

    public var description: String { message }
}
