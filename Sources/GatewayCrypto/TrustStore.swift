// TrustStore: trust anchors (and CRLs) and certificate chain verification.
//
// SECURITY: only the anchors given here are trusted; intermediates that come with a message
// (x5c) or a TLS handshake are untrusted input that must chain to an anchor. The system's
// default CA bundle is never consulted. Verification time is explicit, so "valid when
// signed" and "valid now" are both expressible and tests are deterministic.
import COpenSSL
import Foundation

/// What a certificate must be allowed to do for a chain to be accepted.
public enum CertificateUsage: Sendable, Equatable {
    /// Signing messages or receipts: keyUsage must be present and include digitalSignature.
    case signing
    /// A TLS client (extendedKeyUsage clientAuth when present, OpenSSL's "sslclient" purpose).
    case tlsClient
    /// A TLS server (extendedKeyUsage serverAuth when present, OpenSSL's "sslserver" purpose).
    case tlsServer
    /// No usage check beyond the chain itself.
    case any
}

/// A certificate chain that verified: leaf first, trust anchor last.
public struct VerifiedChain: Sendable {
    public let certificates: [Certificate]
    public var leaf: Certificate { certificates[0] }
    public var anchor: Certificate { certificates[certificates.count - 1] }
}

/// A set of trust anchors, with optional CRLs, that verifies certificate chains.
///
/// Safe to share between threads: OpenSSL locks the X509_STORE internally, and every
/// verification uses its own X509_STORE_CTX.
public final class TrustStore: @unchecked Sendable {
    private let store: OpaquePointer
    /// The trust anchors.
    public let anchors: [Certificate]
    /// True when CRLs were given: then every CA of a chain must have a current CRL, and a
    /// certificate listed on its issuer's is refused (an intermediate CA's too).
    public let checksRevocation: Bool

    /// - Parameters:
    ///   - anchors: the certificates trusted as roots of chains (usually self-signed CAs).
    ///   - crls: CRLs; when non-empty, revocation of every certificate of the chain is checked
    ///     (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL): every CA needs a current CRL.
    public init(anchors: [Certificate], crls: [CertificateRevocationList] = []) throws(CryptoError) {
        guard !anchors.isEmpty else { throw CryptoError(.malformed, "a trust store needs at least one trust anchor") }
        OpenSSLError.clearQueue()
        guard let store = X509_STORE_new() else {
            throw CryptoError(.openSSL, "cannot create a trust store", underlying: .capture("X509_STORE_new"))
        }
        self.store = store
        self.anchors = anchors
        self.checksRevocation = !crls.isEmpty
        for anchor in anchors where X509_STORE_add_cert(store, anchor.pointer) != 1 {
            throw CryptoError(.openSSL, "cannot add trust anchor \(anchor.subject)", underlying: .capture("X509_STORE_add_cert"))
        }
        for crl in crls where X509_STORE_add_crl(store, crl.pointer) != 1 {
            throw CryptoError(.openSSL, "cannot add CRL of \(crl.issuer)", underlying: .capture("X509_STORE_add_crl"))
        }
    }

    deinit { X509_STORE_free(store) }

    /// Anchors from a PEM bundle file, CRLs from PEM or DER files.
    public static func load(anchorsPath: String, crlPaths: [String] = []) throws(CryptoError) -> TrustStore {
        let anchors = try Certificate.load(path: anchorsPath)
        var crls: [CertificateRevocationList] = []
        for path in crlPaths { crls += try CertificateRevocationList.load(path: path) }
        return try TrustStore(anchors: anchors, crls: crls)
    }

    /// Verifies `leaf`, helped by untrusted `intermediates`, against the anchors at `date`.
    ///
    /// - Parameters:
    ///   - leaf: the end-entity certificate.
    ///   - intermediates: untrusted certificates that may complete the path (order free).
    ///   - date: the time at which every certificate must be valid.
    ///   - usage: what the leaf must be allowed to do.
    ///   - freshCRLs: whether the CRLs must be current at `date` (nil: when `date` is within
    ///     five minutes of now). Evidence checked as of a past time cannot have CRLs of then
    ///     (a CRL issued after it is "not yet valid" at it), and the gateway's own certificate
    ///     must not stop the daemon because a CRL is late: then the chain is checked at
    ///     `date` without CRLs, and revocation separately against the CRLs as they are,
    ///     whatever their dates (a revoked certificate is refused either way).
    /// - Returns: the chain OpenSSL built, leaf first.
    /// - Throws: `ChainVerificationError` naming the reason (expired, unknown issuer, revoked...).
    public func verify(
        leaf: Certificate, intermediates: [Certificate] = [], at date: Date = Date(), usage: CertificateUsage = .signing,
        freshCRLs: Bool? = nil
    ) throws(ChainVerificationError) -> VerifiedChain {
        let fresh = freshCRLs ?? (abs(date.timeIntervalSinceNow) < 300)
        if checksRevocation && !fresh {
            let chain = try verifyOnce(leaf: leaf, intermediates: intermediates, at: date, usage: usage, revocation: .none)
            _ = try verifyOnce(leaf: leaf, intermediates: intermediates, at: date, usage: usage, revocation: .ignoringTime)
            return chain
        }
        return try verifyOnce(leaf: leaf, intermediates: intermediates, at: date, usage: usage, revocation: checksRevocation ? .current : .none)
    }

    private enum Revocation { case none, current, ignoringTime }

    private func verifyOnce(
        leaf: Certificate, intermediates: [Certificate], at date: Date, usage: CertificateUsage, revocation: Revocation
    ) throws(ChainVerificationError) -> VerifiedChain {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        guard let untrusted = gw_sk_X509_new_null() else { throw ChainVerificationError(code: X509_V_ERR_OUT_OF_MEM, depth: 0, subject: leaf.subject) }
        defer { gw_sk_X509_pop_free(untrusted) }
        for certificate in intermediates where gw_sk_X509_push_ref(untrusted, certificate.pointer) != 1 {
            throw ChainVerificationError(code: X509_V_ERR_OUT_OF_MEM, depth: 0, subject: leaf.subject)
        }
        guard let context = X509_STORE_CTX_new() else { throw ChainVerificationError(code: X509_V_ERR_OUT_OF_MEM, depth: 0, subject: leaf.subject) }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf.pointer, untrusted) == 1 else {
            throw ChainVerificationError(code: X509_V_ERR_UNSPECIFIED, depth: 0, subject: leaf.subject)
        }
        let parameters = X509_STORE_CTX_get0_param(context)
        // A set time takes precedence over NO_CHECK_TIME in OpenSSL: none is set for the
        // revocation-only pass.
        if revocation != .ignoringTime {
            // A time from outside (a signer's claim) out of any certificate's range is refused, not trapped on.
            let seconds = date.timeIntervalSince1970.rounded(.down)
            guard seconds.isFinite, abs(seconds) <= 253_402_300_799 else {
                throw ChainVerificationError(code: X509_V_ERR_UNSPECIFIED, depth: 0, subject: leaf.subject)
            }
            X509_VERIFY_PARAM_set_time(parameters, time_t(seconds))
        }
        switch revocation {
        case .none: break
        // Every CA of the chain, not the leaf alone (as TLS does through libcurl): a revoked
        // intermediate's certificates are refused too, so each CA needs a current CRL.
        case .current: X509_VERIFY_PARAM_set_flags(parameters, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        case .ignoringTime: X509_VERIFY_PARAM_set_flags(parameters, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_NO_CHECK_TIME))
        }
        switch usage {
        case .tlsClient: X509_VERIFY_PARAM_set_purpose(parameters, X509_PURPOSE_SSL_CLIENT)
        case .tlsServer: X509_VERIFY_PARAM_set_purpose(parameters, X509_PURPOSE_SSL_SERVER)
        case .signing, .any: break
        }

        guard X509_verify_cert(context) == 1 else {
            let code = X509_STORE_CTX_get_error(context)
            let depth = Int(X509_STORE_CTX_get_error_depth(context))
            let current = X509_STORE_CTX_get_current_cert(context)
            let subject = current.map { X509_up_ref($0); return Certificate(owning: $0).subject } ?? leaf.subject
            throw ChainVerificationError(code: code, depth: depth, subject: subject)
        }

        // OpenSSL has no purpose for "document signing"; the keyUsage check is ours. A signing
        // certificate must state its usage: a missing keyUsage extension is refused as well.
        if usage == .signing {
            guard let keyUsage = leaf.keyUsage, keyUsage.contains(.digitalSignature) else {
                throw ChainVerificationError(code: X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE, depth: 0, subject: leaf.subject)
            }
            // Nor a TLS certificate (its extendedKeyUsage serverAuth or clientAuth only: the key
            // of a TLS front end is not a signer's) or a CA's.
            guard gw_eku_tls_only(leaf.pointer) == 0, X509_check_ca(leaf.pointer) == 0 else {
                throw ChainVerificationError(code: X509_V_ERR_INVALID_PURPOSE, depth: 0, subject: leaf.subject)
            }
        }

        var chain: [Certificate] = []
        if let built = X509_STORE_CTX_get0_chain(context) {
            for index in 0..<gw_sk_X509_num(built) {
                guard let certificate = gw_sk_X509_value(built, index) else { continue }
                X509_up_ref(certificate)
                chain.append(Certificate(owning: certificate))
            }
        }
        if chain.isEmpty { chain = [leaf] }
        return VerifiedChain(certificates: chain)
    }
}
