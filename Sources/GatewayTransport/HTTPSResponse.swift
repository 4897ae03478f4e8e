// HTTPSResponse: what came back, with the timings and connection facts the delivery
// engine records with each attempt.

/// A complete HTTP response (any status: a 503 is a response, not a TransportError).
public struct HTTPSResponse: Sendable {
    /// The HTTP status code of the final response (after any 100 Continue).
    public var status: Int
    /// Header fields, names lower-cased; repeated fields are joined with ", " (RFC 9110 §5.3).
    public var headers: [String: String]
    /// The body, at most the request's `maxResponseBytes`.
    public var body: [UInt8]
    /// "1.0", "1.1", "2" or "3".
    public var httpVersion: String
    /// Seconds from start until the TCP connection was up (about 0 when a connection was reused).
    public var connectSeconds: Double
    /// Seconds the TLS handshake took (0 when a connection was reused).
    public var tlsSeconds: Double
    /// Seconds for the whole exchange.
    public var totalSeconds: Double
    /// How many new connections the request opened: 0 when an existing one was reused.
    public var newConnections: Int

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = [], httpVersion: String = "1.1",
                connectSeconds: Double = 0, tlsSeconds: Double = 0, totalSeconds: Double = 0,
                newConnections: Int = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.httpVersion = httpVersion
        self.connectSeconds = connectSeconds
        self.tlsSeconds = tlsSeconds
        self.totalSeconds = totalSeconds
        self.newConnections = newConnections
    }

    /// A header's value by case-insensitive name.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}
