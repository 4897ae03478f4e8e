// TLSClientSettings: who we are and whom we trust, for one endpoint's mutual TLS.
//
// SECURITY: there is deliberately no field to turn server verification off. The server's
// certificate is always verified against `caBundlePath` only (never the system store) and
// its name against the URL's host; `pinnedPublicKey` can narrow that further, never widen it.

/// The mutual-TLS material for requests to one endpoint.
public struct TLSClientSettings: Sendable, Hashable, CustomStringConvertible {
    /// PEM file with our client certificate followed by its intermediates (sent in the handshake).
    public var clientCertificatePath: String
    /// PEM file with the client certificate's private key (unencrypted; mode 600).
    public var clientKeyPath: String
    /// The key itself (PEM), read and checked once by the caller: used instead of
    /// `clientKeyPath`, so that libcurl never reads the file on its own at each connection.
    public var clientKeyPEM: [UInt8]? = nil
    /// The certificate chain itself (PEM), read together with the key: used instead of
    /// `clientCertificatePath`.
    public var clientCertificatePEM: [UInt8]? = nil
    /// PEM file with the anchors the endpoint's server certificate must chain to.
    public var caBundlePath: String
    /// Optional pin of the server's public key in curl's form, `sha256//BASE64`
    /// (several pins may be joined with `;`). A mismatch fails as `.serverCertificate`.
    public var pinnedPublicKey: String?
    /// Optional PEM file of CRLs: the server's chain is then checked for revocation, and
    /// every CA of it needs a CRL there (libcurl checks the whole chain).
    public var crlPath: String?

    /// - Parameters:
    ///   - clientCertificatePath: our certificate chain (leaf first), PEM.
    ///   - clientKeyPath: our private key, PEM.
    ///   - caBundlePath: the anchors for the endpoint's server certificate, PEM.
    ///   - pinnedPublicKey: optional `sha256//BASE64` pin of the server's key.
    ///   - crlPath: optional CRLs for the server's chain, PEM.
    public init(clientCertificatePath: String, clientKeyPath: String, caBundlePath: String,
                pinnedPublicKey: String? = nil, crlPath: String? = nil) {
        self.clientCertificatePath = clientCertificatePath
        self.clientKeyPath = clientKeyPath
        self.caBundlePath = caBundlePath
        self.pinnedPublicKey = pinnedPublicKey
        self.crlPath = crlPath
    }

    /// Without the key's bytes (an error message or a log line may print the settings).
    public var description: String {
        "TLSClientSettings(certificate: \(clientCertificatePEM == nil ? clientCertificatePath : "given"), key: \(clientKeyPEM == nil ? clientKeyPath : "given"), "
            + "ca: \(caBundlePath), pin: \(pinnedPublicKey ?? "none"), crl: \(crlPath ?? "none"))"
    }
}
