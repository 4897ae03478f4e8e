import COpenSSL

/// A certificate chain was refused. Carries OpenSSL's verify code and text, plus a `reason`
/// the gateway can act on (and an operator can read).
public struct ChainVerificationError: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case expired = "expired"
        case notYetValid = "not yet valid"
        /// No path to a configured trust anchor: signed by an unknown or wrong CA, or an
        /// intermediate is missing.
        case unknownIssuer = "unknown issuer"
        case revoked = "revoked"
        /// Revocation was required but could not be decided (no CRL for the issuer, CRL expired...).
        case revocationUnknown = "revocation status unknown"
        /// The certificate may not be used for what it was presented for (key usage / EKU).
        case wrongKeyUsage = "wrong key usage"
        case invalidCA = "invalid CA certificate"
        case badSignature = "bad certificate signature"
        case other = "refused"
    }

    public let reason: Reason
    /// OpenSSL's verify result code (`X509_V_ERR_*`).
    public let code: Int32
    /// OpenSSL's text for `code`, e.g. "certificate has expired".
    public let openSSLMessage: String
    /// Position in the chain of the certificate at fault (0 = the leaf).
    public let depth: Int
    /// Subject of the certificate at fault.
    public let subject: String

    init(code: Int32, depth: Int, subject: String) {
        self.code = code
        self.depth = depth
        self.subject = subject
        self.openSSLMessage = X509_verify_cert_error_string(Int(code)).map { String(cString: $0) } ?? "error \(code)"
        self.reason = ChainVerificationError.classify(code)
    }

    /// Revocation undecided only because a CRL is not current or not there (past its next
    /// update, not yet valid, none for the issuer): a fresh CRL decides it. A bad CRL
    /// signature or scope is not this.
    public var isCRLStale: Bool {
        code == X509_V_ERR_CRL_HAS_EXPIRED || code == X509_V_ERR_CRL_NOT_YET_VALID || code == X509_V_ERR_UNABLE_TO_GET_CRL
    }

    public var description: String {
        "certificate \(subject.isEmpty ? "(unknown)" : subject) at depth \(depth) refused: \(reason.rawValue) (\(openSSLMessage), X509_V_ERR \(code))"
    }

    static func classify(_ code: Int32) -> Reason {
        switch code {
        case X509_V_ERR_CERT_HAS_EXPIRED: return .expired
        case X509_V_ERR_CERT_NOT_YET_VALID: return .notYetValid
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
             X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_CERT_UNTRUSTED, X509_V_ERR_CERT_REJECTED:
            return .unknownIssuer
        case X509_V_ERR_CERT_REVOKED: return .revoked
        case X509_V_ERR_UNABLE_TO_GET_CRL, X509_V_ERR_CRL_NOT_YET_VALID, X509_V_ERR_CRL_HAS_EXPIRED,
             X509_V_ERR_CRL_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE,
             X509_V_ERR_KEYUSAGE_NO_CRL_SIGN, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER,
             X509_V_ERR_DIFFERENT_CRL_SCOPE:
            return .revocationUnknown
        case X509_V_ERR_INVALID_PURPOSE, X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE, X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
            return .wrongKeyUsage
        case X509_V_ERR_INVALID_CA, X509_V_ERR_PATH_LENGTH_EXCEEDED: return .invalidCA
        case X509_V_ERR_CERT_SIGNATURE_FAILURE, X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE: return .badSignature
        default: return .other
        }
    }
}
