// The delivery engine's transport over libcurl (GatewayTransport's HTTPSClient).

import Foundation
import GatewayModel
import GatewayTransport
import Logging

public final class CurlDeliveryTransport: DeliveryTransport, Sendable {
    /// The client requests go to, and those replaced by renewConnections() that may still
    /// be finishing theirs (shutdown() cancels them too).
    private let clients: Locked<(current: HTTPSClient, retired: [HTTPSClient])>
    let maxConnectionsPerHost: Int
    /// The TLS client key and certificate chain as read and checked at start
    /// (GatewayKeys.clientTLSIdentity); nil: the requests' files.
    let clientKeyPEM: [UInt8]?
    let clientCertificatePEM: [UInt8]?

    public init(maxConnectionsPerHost: Int = 16, clientKeyPEM: [UInt8]? = nil, clientCertificatePEM: [UInt8]? = nil) {
        self.maxConnectionsPerHost = maxConnectionsPerHost
        clients = Locked((HTTPSClient(maxConnectionsPerHost: maxConnectionsPerHost), []))
        self.clientKeyPEM = clientKeyPEM
        self.clientCertificatePEM = clientCertificatePEM
    }

    /// Says once at start which libcurl delivers and which endpoints are offered HTTP/2, so
    /// that an operator wondering why an endpoint speaks HTTP/1.1 finds the reason in the log.
    public static func logProtocols(_ config: GatewayConfig, logger: Logger) {
        let offered = config.endpoints.values.filter { offersHTTP2($0.http2) }.map(\.name).sorted()
        logger.notice("delivery over HTTPS", metadata: [
            "libcurl": "\(HTTPSClient.libcurlVersion)",
            "http2Offered": "\(offered.isEmpty ? "none" : offered.joined(separator: ","))",
            "http2Default": "\(HTTPSClient.http2ByDefault ? "offered" : "HTTP/1.1 (libcurl older than 8.14.1 resets every HTTP/2 stream; docs/transport.md)")",
        ])
    }

    /// An endpoint's `http2` setting, or this libcurl's default where it has none.
    static func offersHTTP2(_ configured: Bool?) -> Bool { configured ?? HTTPSClient.http2ByDefault }

    public func post(_ request: DeliveryRequest, completion: @escaping @Sendable (Result<DeliveryResponse, DeliveryFailure>) -> Void) {
        let https = HTTPSRequest(
            url: request.url, method: "POST", headers: request.headers, body: request.body,
            tls: { () -> TLSClientSettings in
                var tls = TLSClientSettings(clientCertificatePath: request.clientCertificate, clientKeyPath: request.clientKey,
                                            caBundlePath: request.caBundle, pinnedPublicKey: request.pinnedKey, crlPath: request.crl)
                tls.clientKeyPEM = clientKeyPEM
                tls.clientCertificatePEM = clientCertificatePEM
                return tls
            }(),
            connectTimeout: request.connectTimeout, totalTimeout: request.totalTimeout, proxy: request.proxy,
            allowHTTP2: Self.offersHTTP2(request.http2))
        clients.withLock { $0.current }.send(https) { result in
            switch result {
            case .success(let r):
                completion(.success(DeliveryResponse(status: r.status, headers: r.headers, body: r.body, httpVersion: r.httpVersion)))
            case .failure(let e):
                let kind = DeliveryFailure.Kind(rawValue: e.kind.rawValue) ?? .network
                completion(.failure(DeliveryFailure(kind: kind, message: e.description)))
            }
        }
    }

    public func shutdown() {
        let all = clients.withLock { [$0.current] + $0.retired }
        for client in all { client.shutdown() }
    }

    public func renewConnections() {
        let fresh = HTTPSClient(maxConnectionsPerHost: maxConnectionsPerHost)
        let old = clients.withLock { state -> HTTPSClient in
            let old = state.current
            state.retired.removeAll { $0.inFlight == 0 }   // finished: their threads have ended or are ending
            state.retired.append(old)
            state.current = fresh
            return old
        }
        old.retire()
    }
}
