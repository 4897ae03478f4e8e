// A reused connection must never carry a request under TLS settings it was not verified
// with: a different client identity, different anchors or a pin must each get their own
// connection (and its own handshake and checks), or reuse would bypass verification.
import Foundation
import GatewayTestSupport
import Testing
@testable import GatewayTransport

@Suite("HTTPSClient: connection isolation")
struct ConnectionIsolationTests {
    /// Anchors for client certificates from both the dev root and the unrelated root, so
    /// the server accepts two different client identities. Written once per test process
    /// into its own temporary directory (the PKI directory is shared with other suites).
    private static let bothRoots: Result<String, any Error> = Result {
        let file = try TestPaths.temporaryDirectory("gw-transport").appendingPathComponent("both-roots.pem")
        let data = try Data(contentsOf: URL(fileURLWithPath: try DevPKI.path("ca/root-ca.pem")))
            + Data(contentsOf: URL(fileURLWithPath: try DevPKI.path("ca/wrong-root-ca.pem")))
        try data.write(to: file)
        return file.path
    }

    @Test("a second client identity gets its own connection; the server sees each identity")
    func identitiesDoNotShareConnections() async throws {
        let server = try await TestServer.start(clientCA: try Self.bothRoots.get())
        let client = HTTPSClient()
        defer { client.shutdown() }
        let first = try #require(await client.send(HTTPSRequest(url: server.url("/echo"), tls: try DevPKI.tls())).response)
        let second = try #require(await client.send(HTTPSRequest(url: server.url("/echo"),
                                                                 tls: try DevPKI.tls(client: "bad/wrong-ca"))).response)
        let third = try #require(await client.send(HTTPSRequest(url: server.url("/echo"), tls: try DevPKI.tls())).response)
        #expect(try Echo(first).clientSubject.contains("commonName=PL-GW"))
        #expect(try Echo(second).clientSubject.contains("commonName=bad wrong CA"))
        #expect(second.newConnections == 1)
        #expect(try Echo(second).connection != Echo(first).connection)
        // The first identity's connection is still there for it.
        #expect(third.newConnections == 0)
        #expect(try Echo(third).connection == Echo(first).connection)
    }

    @Test("a pinned request does not ride an unpinned connection: a wrong pin still fails")
    func pinIsCheckedOnEveryConnectionChoice() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        #expect(await client.send(HTTPSRequest(url: server.url("/echo"), tls: try DevPKI.tls())).response?.status == 200)
        let wrongPin = try DevPKI.pin(ofCertificate: "agencies/frontex/tls-server.pem")
        let error = await client.send(HTTPSRequest(url: server.url("/echo"), tls: try DevPKI.tls(pin: wrongPin))).error
        #expect(error?.kind == .serverCertificate)
    }

    @Test("different anchors do not ride a connection verified with others: wrong anchors still fail")
    func anchorsAreCheckedOnEveryConnectionChoice() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        #expect(await client.send(HTTPSRequest(url: server.url("/echo"), tls: try DevPKI.tls())).response?.status == 200)
        let error = await client.send(HTTPSRequest(url: server.url("/echo"),
                                                   tls: try DevPKI.tls(anchors: "ca/wrong-root-ca.pem"))).error
        #expect(error?.kind == .serverCertificate)
    }
}
