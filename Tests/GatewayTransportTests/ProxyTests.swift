// Requests through a proxy tunnel (HTTP CONNECT): TLS stays end to end, so the server
// still sees our client certificate and the proxy sees only ciphertext.
import GatewayTestSupport
import Foundation
import Testing
@testable import GatewayTransport

@Suite("HTTPSClient: proxy")
struct ProxyTests {
    @Test("a request through a CONNECT proxy reaches the server with our certificate, whatever no_proxy in the environment says")
    func throughProxy() async throws {
        let server = try await TestServer.start()
        let proxy = try await TestServer.proxy()
        let client = HTTPSClient()
        defer { client.shutdown() }
        // The configured proxy is used for every host: `make test` runs the tests with
        // no_proxy=* (set for the whole run, never changed by a test while others run),
        // which would send this request around it.
        #expect(ProcessInfo.processInfo.environment["no_proxy"] == "*", "run through make test, which sets no_proxy=*")
        let request = HTTPSRequest(url: server.url("/echo"), body: Array("via proxy".utf8), tls: try DevPKI.tls(),
                                   proxy: "http://127.0.0.1:\(proxy.port)")
        let result = await client.send(request)
        let echo = try Echo(try #require(result.response, "\(String(describing: result.error))"))
        #expect(echo.clientSubject.contains("commonName=PL-GW"))
        #expect(echo.bodyLength == 9)
        // Give the proxy's output reader a moment; the tunnel line is printed before the reply.
        let deadline = Date().addingTimeInterval(5)
        while proxy.reports.isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(proxy.reports == ["TUNNEL 127.0.0.1:\(server.port)"])
    }

    // Without a proxy setting the connection is direct, whatever *_proxy variables say:
    // tested on the real gatewayd (GatewayConsoleTests start it with every proxy variable
    // pointing at a closed port and no_proxy empty, and its deliveries must succeed), since
    // setting them here would reach every test running in this process.

    @Test("a proxy that is down is .connect")
    func proxyDown() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        let request = HTTPSRequest(url: server.url("/echo"), tls: try DevPKI.tls(),
                                   proxy: "http://127.0.0.1:\(unusedLoopbackPort())")
        let error = try #require(await client.send(request).error)
        #expect(error.kind == .connect)
    }
}
