// Exchanges that succeed, against the Python mutual-TLS server on loopback: the request
// arrives as sent (method, headers, body, our client certificate), responses come back
// whole, connections are reused, and many concurrent requests each complete once.
import GatewayTestSupport
import Foundation
import GatewayCrypto
import Testing
@testable import GatewayTransport

@Suite("HTTPSClient: successful exchanges")
struct HTTPSClientTests {
    @Test("a mutual-TLS POST round-trips method, headers and body; the server sees our certificate")
    func postRoundTrip() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        // Bytes that would break a C-string body: NUL, high bytes, larger than one TLS record.
        let body: [UInt8] = Array("{\"messageId\":\"m-1\"}".utf8) + [0, 0xFF, 0x80] + Array(repeating: 0x41, count: 40_000)
        let request = HTTPSRequest(url: server.url("/echo"), method: "POST",
                                   headers: [("Content-Type", "application/jose+json"), ("Idempotency-Key", "m-1")],
                                   body: body, tls: try DevPKI.tls())
        let result = await client.send(request)
        let response = try #require(result.response, "\(String(describing: result.error))")
        #expect(response.status == 200)
        #expect(response.httpVersion == "1.1")
        #expect(response.newConnections == 1)
        #expect(response.totalSeconds > 0)
        #expect(response.tlsSeconds > 0)
        let echo = try Echo(response)
        #expect(echo.method == "POST")
        #expect(echo.headers["Content-Type"] == "application/jose+json")
        #expect(echo.headers["Idempotency-Key"] == "m-1")
        #expect(echo.headers["Expect"] == nil, "Expect: 100-continue is switched off")
        #expect(echo.bodyLength == body.count)
        #expect(echo.bodySHA256 == SHA256.hex(body))
        #expect(echo.clientSubject.contains("commonName=PL-GW"))
        #expect(echo.tlsVersion == "TLSv1.3")
    }

    @Test("GET without a body, PUT and DELETE reach the server with their method")
    func otherMethods() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        for method in ["GET", "PUT", "DELETE"] {
            let body: [UInt8] = method == "GET" ? [] : Array("x=\(method)".utf8)
            let result = await client.send(HTTPSRequest(url: server.url("/echo"), method: method, body: body,
                                                        tls: try DevPKI.tls()))
            let echo = try Echo(try #require(result.response))
            #expect(echo.method == method)
            #expect(echo.bodySHA256 == SHA256.hex(body))
        }
    }

    @Test("sequential requests reuse one connection: newConnections is 0 after the first")
    func connectionReuse() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        var serverConnections: Set<Int> = []
        for index in 0..<5 {
            let result = await client.send(HTTPSRequest(url: server.url("/echo"), body: [UInt8(index)],
                                                        tls: try DevPKI.tls()))
            let response = try #require(result.response, "\(String(describing: result.error))")
            #expect(response.newConnections == (index == 0 ? 1 : 0))
            if index > 0 {
                #expect(response.tlsSeconds == 0)
                #expect(response.connectSeconds < 0.001, "\(response.connectSeconds)")
            }
            let echo = try Echo(response)
            #expect(echo.requestOnConnection == index + 1)
            serverConnections.insert(echo.connection)
        }
        #expect(serverConnections.count == 1)
    }

    @Test("a retired client finishes the requests it has, then closes its connections: sends after retire() are refused, never sent on them")
    func retiredClientDrains() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        #expect(await client.send(HTTPSRequest(url: server.url("/echo"), body: [1], tls: try DevPKI.tls())).error == nil)
        // A request running on its (kept-alive) connection when the client is retired.
        let tls = try DevPKI.tls()
        async let slow = client.send(HTTPSRequest(url: server.url("/stall?seconds=1"), tls: tls, totalTimeout: 30))
        // Polled without blocking: a blocked cooperative thread would starve this test's
        // own child task and the other tests' (two threads on this machine).
        for _ in 0..<500 where client.inFlight != 1 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(client.inFlight == 1)
        client.retire()
        // Sends from the moment it is retired fail at once, without any I/O, while what it
        // had goes on to its end.
        let refused = await client.send(HTTPSRequest(url: server.url("/echo"), body: [2], tls: tls)).error
        #expect(refused?.kind == .cancelled, "\(String(describing: refused))")
        #expect(client.inFlight == 1)
        let finished = await slow
        #expect(finished.response?.status == 200, "the retired client finished it: \(String(describing: finished.error))")
        // Then it closed its connection: the server sees only the observer's own.
        let observer = HTTPSClient()
        defer { observer.shutdown() }
        var open = -1
        for _ in 0..<250 where open != 1 {
            let answer = await observer.send(HTTPSRequest(url: server.url("/open"), tls: tls))
            struct Open: Decodable { let open: Int }
            open = (try? JSONDecoder().decode(Open.self, from: Data(answer.response?.body ?? [])))?.open ?? -1
            if open != 1 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(open == 1, "the retired client's kept-alive connection is closed")
    }

    @Test("200 concurrent requests all complete exactly once, over at most maxConnectionsPerHost connections")
    func concurrentRequests() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient(maxConnectionsPerHost: 8)
        defer { client.shutdown() }
        let log = CompletionLog()
        let tls = try DevPKI.tls()
        for index in 0..<200 {
            client.send(HTTPSRequest(url: server.url("/echo?n=\(index)"), body: Array("\(index)".utf8), tls: tls),
                        completion: log.handler(index))
        }
        #expect(await log.wait(seconds: 120))
        let results = log.results
        #expect(results.count == 200)
        var connections: Set<Int> = []
        var opened = 0
        for index in 0..<200 {
            let calls = try #require(results[index])
            #expect(calls.count == 1)
            let response = try #require(calls.first?.response, "request \(index): \(String(describing: calls.first?.error))")
            let echo = try Echo(response)
            #expect(echo.path == "/echo?n=\(index)")
            #expect(echo.bodySHA256 == SHA256.hex(Array("\(index)".utf8)))
            connections.insert(echo.connection)
            opened += response.newConnections
        }
        #expect(connections.count <= 8)
        #expect(opened == connections.count)
        #expect(client.inFlight == 0)
    }

    @Test("header names come back lower-cased; repeated fields are joined")
    func responseHeaders() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        let response = try #require(await client.send(HTTPSRequest(url: server.url("/headers"), method: "GET",
                                                                   tls: try DevPKI.tls())).response)
        #expect(response.headers["x-mixed-case"] == "Value One")
        #expect(response.headers["x-repeated"] == "a, b")
        #expect(response.headers["etag"] == "\"abc\"")
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.headers.keys.allSatisfy { $0 == $0.lowercased() })
    }

    @Test("a non-2xx status is a response, with Retry-After", arguments: [409, 429, 503])
    func statusWithRetryAfter(status: Int) async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        let result = await client.send(HTTPSRequest(url: server.url("/status/\(status)?retry-after=120"),
                                                    tls: try DevPKI.tls()))
        let response = try #require(result.response, "\(String(describing: result.error))")
        #expect(response.status == status)
        #expect(response.headers["retry-after"] == "120")
        #expect(response.body == Array("{\"status\":\(status)}".utf8))
    }

    @Test("a body exactly at the cap is accepted whole")
    func bodyAtTheCap() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        for chunked in ["0", "1"] {
            let result = await client.send(HTTPSRequest(url: server.url("/large?bytes=100000&chunked=\(chunked)"),
                                                        method: "GET", tls: try DevPKI.tls(), maxResponseBytes: 100_000))
            let response = try #require(result.response, "\(String(describing: result.error))")
            #expect(response.body.count == 100_000)
            #expect(response.body.allSatisfy { $0 == UInt8(ascii: "x") })
        }
    }

    @Test("this libcurl speaks HTTP/2 (nghttp2 linked; agency-mock offers it with `http2: true`)")
    func http2Available() {
        #expect(HTTPSClient.supportsHTTP2)
        #expect(HTTPSClient.libcurlVersion.split(separator: ".").count == 3)
    }
}
