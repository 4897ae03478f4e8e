// The delivery engine's transport over libcurl (GatewayTransport's HTTPSClient).

import Foundation
import GatewayTransport

public final class CurlDeliveryTransport: DeliveryTransport, Sendable {
    let client: HTTPSClient

    public init(maxConnectionsPerHost: Int = 16) {
        client = HTTPSClient(maxConnectionsPerHost: maxConnectionsPerHost)
    }

    public func post(_ request: DeliveryRequest, completion: @escaping @Sendable (Result<DeliveryResponse, DeliveryFailure>) -> Void) {
        let https = HTTPSRequest(
            url: request.url, method: "POST", headers: request.headers, body: request.body,
            tls: TLSClientSettings(clientCertificatePath: request.clientCertificate, clientKeyPath: request.clientKey,
                                   caBundlePath: request.caBundle, pinnedPublicKey: request.pinnedKey),
            connectTimeout: request.connectTimeout, totalTimeout: request.totalTimeout, proxy: request.proxy,
            allowHTTP2: request.http2 ?? HTTPSClient.http2ByDefault)
        client.send(https) { result in
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
        client.shutdown()
    }
}
