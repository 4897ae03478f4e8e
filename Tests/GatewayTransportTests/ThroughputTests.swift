// Throughput over a few reused connections. The Python server (one thread per connection,
// the GIL) is the bottleneck here, so this proves that thousands of requests flow through
// the engine without loss or stalls, and prints the rate; it does not assert a rate, which
// would depend on the machine's load.
import GatewayTestSupport
import Foundation
import Testing
@testable import GatewayTransport

@Suite("HTTPSClient: throughput")
struct ThroughputTests {
    @Test("2000 POSTs over 4 connections complete exactly once, reusing the connections")
    func manyRequestsFewConnections() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient(maxConnectionsPerHost: 4)
        defer { client.shutdown() }
        let tls = try DevPKI.tls()
        let body = Array(repeating: UInt8(ascii: "j"), count: 2048)
        let total = 2000
        let log = CompletionLog()
        let started = Date()
        for index in 0..<total {
            client.send(HTTPSRequest(url: server.url("/echo"), body: body, tls: tls), completion: log.handler(index))
        }
        #expect(await log.wait(seconds: 180))
        let elapsed = Date().timeIntervalSince(started)
        let results = log.results
        var opened = 0
        for index in 0..<total {
            let calls = results[index] ?? []
            #expect(calls.count == 1)
            let response = try #require(calls.first?.response, "request \(index): \(String(describing: calls.first?.error))")
            #expect(response.status == 200)
            opened += response.newConnections
        }
        #expect(opened <= 4)
        print("throughput: \(total) mutual-TLS POSTs in \(String(format: "%.2f", elapsed)) s"
              + " = \(Int(Double(total) / elapsed))/s over \(opened) connections")
    }
}
