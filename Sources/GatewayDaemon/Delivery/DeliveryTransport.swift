// The delivery engine's seam to the network: one HTTPS POST with mutual TLS. The real one
// is libcurl (CurlDeliveryTransport); tests may script outcomes.

import Foundation

public struct DeliveryRequest: Sendable {
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    public var clientCertificate: String
    public var clientKey: String
    public var caBundle: String
    public var pinnedKey: String?
    public var connectTimeout: Double
    public var totalTimeout: Double
    public var proxy: String?
    /// Offer HTTP/2 (the endpoint's `http2`) or speak HTTP/1.1 only; nil: the transport
    /// decides (the curl transport offers it where its libcurl handles it, see
    /// docs/transport.md).
    public var http2: Bool? = nil
    /// CRLs the server's chain is checked against (every CA of it needs one).
    public var crl: String? = nil
}

public struct DeliveryResponse: Sendable {
    public var status: Int
    /// Lower-cased names.
    public var headers: [String: String]
    public var body: [UInt8]
    public var httpVersion: String

    public init(status: Int, headers: [String: String] = [:], body: [UInt8] = [], httpVersion: String = "1.1") {
        self.status = status
        self.headers = headers
        self.body = body
        self.httpVersion = httpVersion
    }
}

/// A request that got no HTTP answer (connection refused, TLS failure, time-out, reset).
public struct DeliveryFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case resolve, connect, timeout, serverCertificate, tls, clientCertificateRejected, network, responseTooLarge, invalidRequest,
             localConfiguration, cancelled
    }
    public var kind: Kind
    public var message: String
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "\(kind.rawValue): \(message)" }
}

public protocol DeliveryTransport: Sendable {
    /// Sends `request`; `completion` is called exactly once, on any thread.
    func post(_ request: DeliveryRequest, completion: @escaping @Sendable (Result<DeliveryResponse, DeliveryFailure>) -> Void)
    /// Fails what is in flight with `.cancelled` and stops.
    func shutdown()
    /// Nothing posted from now on uses a connection opened before: those finish what they
    /// carry and close (a reload: anchors, CRLs and pins as they are now apply to every
    /// request after it, not only to new connections).
    func renewConnections()
}
