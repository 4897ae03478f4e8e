import Foundation
import GatewayTestSupport
import Testing
@testable import GatewayTransport

@Suite("HTTP/2 against agency-mock offering it")
struct HTTP2Tests {
    func post(_ client: HTTPSClient, _ url: String, http2: Bool) async throws -> HTTPSResponse {
        let request = HTTPSRequest(url: url, method: "POST", headers: [("Content-Type", "application/jose+json"), ("Idempotency-Key", "m-1")],
                                   body: Array(#"{"not":"a JWS"}"#.utf8), tls: try DevPKI.tls(), allowHTTP2: http2)
        let result = await client.send(request)
        return try #require(result.response, "\(String(describing: result.error))")
    }

    @Test("h2 is negotiated when offered and a burst multiplexes on one connection; HTTP/1.1 when switched off")
    func negotiation() async throws {
        try await MockProcess.with(config: try MockProcess.configuration(http2: true)) { mock in
            let client = HTTPSClient()
            defer { client.shutdown() }
            let h2 = try await post(client, mock.url(), http2: true)
            #expect(h2.httpVersion == "2")
            #expect(h2.status == 400, "the mock answers a malformed JWS with 400 either way")
            // Sixteen at once: multiplexed on the h2 connection already open.
            let responses = try await withThrowingTaskGroup(of: HTTPSResponse.self) { group in
                for _ in 0..<16 { group.addTask { try await post(client, mock.url(), http2: true) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(responses.count == 16 && responses.allSatisfy { $0.status == 400 && $0.httpVersion == "2" })
            #expect(responses.map(\.newConnections).reduce(0, +) <= 1, "\(responses.map(\.newConnections))")
            let h1 = try await post(client, mock.url(), http2: false)
            #expect(h1.httpVersion == "1.1")
            #expect(h1.status == 400)
            let stats = try await Self.protocols(mock)
            #expect(stats == ["HTTP/2": 17, "HTTP/1.1": 1])
        }
    }

    @Test("HTTP/2 is offered by default only with a libcurl that does not reset every stream")
    func defaultFollowsTheLibcurl() {
        let v = HTTPSClient.libcurlVersion.split(separator: ".").compactMap { Int($0) }
        #expect(v.count == 3, "\(HTTPSClient.libcurlVersion)")
        let safe = v.count == 3 && (v[0], v[1], v[2]) >= HTTPSClient.http2SafeFrom
        #expect(HTTPSClient.http2ByDefault == (safe && HTTPSClient.supportsHTTP2))
    }

    @Test("under sustained load every request is answered on HTTP/2 (libcurl 7.88 reset every stream and lost connections to GOAWAY ENHANCE_YOUR_CALM; docs/transport.md)")
    func sustainedLoad() async throws {
        try await MockProcess.with(config: try MockProcess.configuration(http2: true)) { mock in
            let client = HTTPSClient()
            defer { client.shutdown() }
            var failures: [String] = []
            let tls = try DevPKI.tls()
            // 960 requests in bursts of 16 on one multiplexed connection.
            for _ in 0..<60 {
                let results = await withTaskGroup(of: Result<HTTPSResponse, TransportError>.self) { group in
                    for _ in 0..<16 {
                        group.addTask {
                            await client.send(HTTPSRequest(url: mock.url(), method: "POST", headers: [("Content-Type", "application/jose+json")],
                                                                  body: Array(repeating: 0x41, count: 4_300), tls: tls))
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                for case .failure(let error) in results { failures.append(error.description) }
            }
            // Every request must get its answer. libcurl 7.88 sent RST_STREAM(STREAM_CLOSED)
            // after each response whose END_STREAM came in a trailing empty DATA frame (seen in
            // a decrypted frame trace), and NIOHTTP2 ends a connection with GOAWAY
            // ENHANCE_YOUR_CALM after 200 client resets in 30 s (its rapid-reset protection):
            // 960 requests are far past that, so one reset per request fails some of them
            // with curl error 16. With such a libcurl HTTP/2 is not offered by default, and
            // this stays a known issue.
            if HTTPSClient.http2ByDefault {
                #expect(failures.isEmpty, "\(failures.count) of 960 failed with libcurl \(HTTPSClient.libcurlVersion), e.g. \(failures.first ?? "")")
            } else {
                withKnownIssue("libcurl \(HTTPSClient.libcurlVersion) resets every HTTP/2 stream; NIOHTTP2 answers 200 resets with GOAWAY ENHANCE_YOUR_CALM", isIntermittent: true) {
                    #expect(failures.isEmpty, "\(failures.count) of 960 failed, e.g. \(failures.first ?? "")")
                }
                #expect(failures.count < 96, "more than 10 % failing is a different problem: \(failures.prefix(3))")
            }
        }
    }

    static func protocols(_ mock: MockProcess) async throws -> [String: Int] {
        let result = try Subprocess.run("/usr/bin/curl", ["-sS", "\(mock.controlURL)/stats"])
        guard let data = result.stdout.data(using: .utf8),
              let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let europol = doc["EU-EUROPOL"] as? [String: Any], let protocols = europol["protocols"] as? [String: Int] else { return [:] }
        return protocols
    }
}

@Suite("HTTP/2 offered to an HTTP/1.1 server")
struct HTTP2OfferedToHTTP1Tests {
    @Test("a slow answer does not hold back the next request (no waiting for a connection that cannot multiplex)")
    func slowAnswerDoesNotHoldBackOthers() async throws {
        let server = try await TestServer.start()   // HTTP/1.1 only
        let client = HTTPSClient()
        defer { client.shutdown() }
        let tls = try DevPKI.tls()
        let log = CompletionLog()
        let started = Date()
        // Both queued at once with HTTP/2 offered: the stalled one's connection is still
        // being set up when the second starts, and turns out HTTP/1.1.
        client.send(HTTPSRequest(url: server.url("/stall?seconds=20"), tls: tls, connectTimeout: 15, totalTimeout: 30, allowHTTP2: true),
                    completion: log.handler(1))
        client.send(HTTPSRequest(url: server.url("/echo"), tls: tls, connectTimeout: 15, totalTimeout: 30, allowHTTP2: true),
                    completion: log.handler(0))
        // Only the echo is waited for (the stall ends with the client's shutdown).
        let deadline = Date().addingTimeInterval(25)
        while log.completedAt(0) == nil && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let echo = try #require(log.results[0]?.first)
        #expect(echo.response?.status == 200, "\(String(describing: echo.error))")
        #expect(echo.response?.httpVersion == "1.1")
        // Had it waited for the stalled transfer's connection (PIPEWAIT), it would have
        // failed at its connect timeout (15 s) or come after the stall (20 s).
        let took = try #require(log.completedAt(0)).timeIntervalSince(started)
        #expect(took < 10, "took \(took) s")
    }
}
