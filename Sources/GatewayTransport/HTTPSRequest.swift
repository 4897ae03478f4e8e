// HTTPSRequest: one request for HTTPSClient; validated before any I/O (see validated()).

/// One HTTPS request: where, what, with which TLS identity, and how long to wait.
public struct HTTPSRequest: Sendable {
    /// `https://` only; anything else is refused with `.invalidRequest` before any I/O.
    public var url: String
    /// "POST" for deliveries; "GET", "PUT" and "DELETE" are accepted too.
    public var method: String
    /// Request header fields, sent in this order. Names and values must not contain
    /// CR, LF or NUL (header injection); names must be HTTP tokens.
    public var headers: [(name: String, value: String)]
    /// The request body (sent with Content-Length; empty for none).
    public var body: [UInt8]
    /// Client certificate, key and server anchors.
    public var tls: TLSClientSettings
    /// Seconds allowed for TCP connect plus the TLS handshake.
    public var connectTimeout: Double
    /// Seconds allowed for the whole exchange, connect included.
    public var totalTimeout: Double
    /// Optional proxy URL (e.g. `http://proxy:3128`); the request tunnels through it with
    /// CONNECT, so TLS stays end to end. When nil, no proxy is used, whatever the
    /// environment's `https_proxy` says.
    public var proxy: String?
    /// Larger response bodies fail with `.responseTooLarge` (protects the gateway's memory).
    public var maxResponseBytes: Int = 1 << 20
    /// Offer HTTP/2 in ALPN (true, the default) or speak HTTP/1.1 only.
    public var allowHTTP2: Bool = true

    /// - Parameters:
    ///   - url: the `https://` URL.
    ///   - method: "POST" (default), "GET", "PUT" or "DELETE".
    ///   - headers: header fields in order.
    ///   - body: the body bytes.
    ///   - tls: the mutual-TLS settings.
    ///   - connectTimeout: seconds for connect + handshake (default 10).
    ///   - totalTimeout: seconds for the whole exchange (default 60).
    ///   - proxy: optional proxy URL.
    ///   - maxResponseBytes: the response body cap (default 1 MiB).
    ///   - allowHTTP2: offer HTTP/2 in ALPN (default) or speak HTTP/1.1 only.
    public init(url: String, method: String = "POST", headers: [(name: String, value: String)] = [],
                body: [UInt8] = [], tls: TLSClientSettings, connectTimeout: Double = 10,
                totalTimeout: Double = 60, proxy: String? = nil, maxResponseBytes: Int = 1 << 20, allowHTTP2: Bool = true) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.proxy = proxy
        self.maxResponseBytes = maxResponseBytes
        self.allowHTTP2 = allowHTTP2
    }
}

extension HTTPSRequest {
    /// The methods the engine knows how to send.
    static let supportedMethods: Set<String> = ["GET", "POST", "PUT", "DELETE"]

    /// Why this request must not be sent, or nil. Checked before the request is queued,
    /// so a refused request never opens a socket.
    func validationFailure() -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("https://") else {
            return "only https:// URLs are allowed, got \(Self.scheme(of: url))"
        }
        let authority = lower.dropFirst("https://".count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if authority.isEmpty || authority.hasPrefix(":") || authority.hasPrefix("@") {
            return "the URL has no host: \(url)"
        }
        if url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return "the URL contains spaces or control characters"
        }
        guard Self.supportedMethods.contains(method) else {
            return "method \(method) is not supported (\(Self.supportedMethods.sorted().joined(separator: ", ")))"
        }
        for (name, value) in headers {
            if name.isEmpty || !name.utf8.allSatisfy(Self.isTokenByte) {
                return "header name \"\(name)\" is not an HTTP token"
            }
            if value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                return "header \(name) has CR, LF or NUL in its value"
            }
        }
        for (label, path) in [("client certificate", tls.clientCertificatePath),
                              ("client key", tls.clientKeyPath), ("CA bundle", tls.caBundlePath)]
            where path.isEmpty {
            return "the \(label) path is empty: mutual TLS needs all three files"
        }
        if let pin = tls.pinnedPublicKey, !pin.hasPrefix("sha256//") {
            return "the pinned public key must be curl's sha256//BASE64 form"
        }
        if let proxy, proxy.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return "the proxy URL contains spaces or control characters"
        }
        guard connectTimeout.isFinite, connectTimeout > 0, totalTimeout.isFinite, totalTimeout > 0 else {
            return "timeouts must be positive numbers of seconds"
        }
        guard maxResponseBytes >= 0 else { return "maxResponseBytes must not be negative" }
        return nil
    }

    private static func scheme(of url: String) -> String {
        guard let colon = url.firstIndex(of: ":") else { return "no scheme" }
        return "\(url[..<colon]):"
    }

    /// RFC 9110 tchar.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
