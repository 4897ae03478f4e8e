// TransportError: why an HTTPS exchange produced no response.
//
// The kind is what the caller acts on; `message` is for the operator (libcurl's text plus
// its error-buffer detail, e.g. "SSL peer certificate or SSH remote key was not OK: SSL
// certificate problem: certificate has expired"). The CURLcode → kind table is in
// TransportError+Curl.swift and docs/transport.md.

/// A failed exchange: no HTTP response was obtained (or it was refused, e.g. too large).
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The host name (or the proxy's) did not resolve.
        case resolve
        /// The TCP connection could not be made (refused, unreachable).
        case connect
        /// The connect or total timeout passed.
        case timeout
        /// The server's certificate failed verification: chain, validity, name, or pinned key.
        case serverCertificate
        /// The TLS handshake failed for another reason (protocol, cipher, alert).
        case tls
        /// The server refused our client certificate (its TLS alert names a certificate problem).
        case clientCertificateRejected
        /// The connection broke: reset, closed without a reply, HTTP/2 stream error.
        case network
        /// The response exceeded `maxResponseBytes` (or the header limit).
        case responseTooLarge
        /// The request was refused before any I/O (not https, bad header, bad method...).
        case invalidRequest
        /// Our own TLS material or libcurl setup is at fault (unreadable key/cert/CA file...).
        case localConfiguration
        /// The client shut down, or the caller cancelled, before the exchange finished.
        case cancelled
    }

    public var kind: Kind
    /// The CURLcode (0 when the error did not come from libcurl, e.g. `.invalidRequest`).
    public var curlCode: Int
    /// libcurl's text plus the error buffer's detail, or our own explanation.
    public var message: String

    public init(kind: Kind, curlCode: Int = 0, message: String) {
        self.kind = kind
        self.curlCode = curlCode
        self.message = message
    }

    public var description: String {
        curlCode == 0 ? "\(kind.rawValue): \(message)" : "\(kind.rawValue) (curl \(curlCode)): \(message)"
    }

    /// Whether sending the same request again later may succeed without anyone changing
    /// anything: true for resolve, connect, timeout, network, tls and cancelled. The other
    /// kinds need an operator (a certificate or configuration fix) or a different request;
    /// the delivery engine still decides what to do (e.g. hold rather than dead-letter).
    public var isTransient: Bool {
        switch kind {
        case .resolve, .connect, .timeout, .network, .tls, .cancelled: return true
        case .serverCertificate, .clientCertificateRejected, .responseTooLarge, .invalidRequest,
             .localConfiguration: return false
        }
    }
}
