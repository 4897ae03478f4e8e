// Certificates on both sides: the server's must chain to the endpoint's anchors, be valid,
// name the host and match the pin when one is set; ours must be accepted by the server,
// and our own unreadable material is a local configuration error.
import GatewayTestSupport
import Foundation
import Testing
@testable import GatewayTransport

@Suite("HTTPSClient: certificate verification")
struct TLSVerificationTests {
    private func send(_ server: TestServer, _ tls: TLSClientSettings) async -> Result<HTTPSResponse, TransportError> {
        let client = HTTPSClient()
        defer { client.shutdown() }
        return await client.send(HTTPSRequest(url: server.url("/echo"), body: Array("{}".utf8), tls: tls,
                                              connectTimeout: 10, totalTimeout: 20))
    }

    @Test("a server certificate that does not chain to the configured CA is refused")
    func wrongServerCA() async throws {
        let server = try await TestServer.start()
        let error = try #require(await send(server, try DevPKI.tls(anchors: "ca/wrong-root-ca.pem")).error)
        #expect(error.kind == .serverCertificate)
        #expect(error.curlCode == 60)
        #expect(error.message.contains("unable to get local issuer certificate"))
    }

    @Test("server certificates from the bad set are refused", arguments: [
        ("bad/expired", "expired"), ("bad/wrong-ca", "issuer"), ("bad/not-yet-valid", "not yet valid"),
    ])
    func badServerCertificates(identity: String, words: String) async throws {
        let server = try await TestServer.start(identity: identity)
        let error = try #require(await send(server, try DevPKI.tls()).error)
        #expect(error.kind == .serverCertificate)
        #expect(error.curlCode == 60)
        #expect(error.message.contains(words), "\(error.message)")
        #expect(!error.isTransient)
    }

    @Test("an endpoint's CA file is read again for each new connection: anchors an operator removed are not trusted from a cache")
    func caFileNotCached() async throws {
        let anchors = try TestPaths.temporaryDirectory("anchors").appendingPathComponent("ca.pem")
        try FileManager.default.copyItem(atPath: try DevPKI.path("trust/agencies/europol-tls.pem"), toPath: anchors.path)
        var tls = try DevPKI.tls()
        tls.caBundlePath = anchors.path
        let client = HTTPSClient()
        defer { client.shutdown() }
        let first = try await TestServer.start()
        let ok = await client.send(HTTPSRequest(url: first.url("/echo"), body: Array("{}".utf8), tls: tls, connectTimeout: 10, totalTimeout: 20))
        #expect(ok.error == nil, "\(String(describing: ok.error))")
        // The operator replaces the anchors (same path); the next connection must use them.
        try FileManager.default.removeItem(at: anchors)
        try FileManager.default.copyItem(atPath: try DevPKI.path("ca/wrong-root-ca.pem"), toPath: anchors.path)
        let second = try await TestServer.start()
        let refused = await client.send(HTTPSRequest(url: second.url("/echo"), body: Array("{}".utf8), tls: tls, connectTimeout: 10, totalTimeout: 20))
        #expect(refused.error?.kind == .serverCertificate, "\(String(describing: refused.error))")
    }

    @Test("with the endpoint's CRLs a revoked server certificate is refused and a good one passes; without them it is not caught")
    func revokedServerCertificate() async throws {
        var withCRLs = try DevPKI.tls()
        withCRLs.crlPath = try DevPKI.path("ca/crls.pem")
        let revoked = try await TestServer.start(identity: "bad/revoked-tls-server")
        let error = try #require(await send(revoked, withCRLs).error)
        #expect(error.kind == .serverCertificate && error.message.contains("revoked"), "\(error)")
        #expect(await send(revoked, try DevPKI.tls()).error == nil, "without CRLs revocation is not known")
        let good = try await TestServer.start()
        let ok = await send(good, withCRLs)
        #expect(ok.error == nil, "\(String(describing: ok.error))")
        // Every CA of the chain needs its CRL: the issuing CA's alone leaves the root's unknown.
        var partial = try DevPKI.tls()
        partial.crlPath = try DevPKI.path("ca/issuing-ca.crl.pem")
        #expect(await send(good, partial).error?.kind == .serverCertificate)
    }

    @Test("a server certificate for another name is refused (no SAN for 127.0.0.1)")
    func wrongHostName() async throws {
        // The receipt-signing certificate chains to the right CA but names no host.
        let server = try await TestServer.start(identity: "agencies/europol/receipt")
        let error = try #require(await send(server, try DevPKI.tls()).error)
        #expect(error.kind == .serverCertificate)
        #expect(error.message.contains("127.0.0.1"), "\(error.message)")
    }

    @Test("a matching pinned key is accepted")
    func pinMatch() async throws {
        let server = try await TestServer.start()
        let pin = try DevPKI.pin(ofCertificate: "agencies/europol/tls-server.pem")
        let result = await send(server, try DevPKI.tls(pin: pin))
        #expect(result.response?.status == 200, "\(String(describing: result.error))")
        // Several pins, one matching (key rollover).
        let other = try DevPKI.pin(ofCertificate: "agencies/frontex/tls-server.pem")
        #expect(await send(server, try DevPKI.tls(pin: "\(other);\(pin)")).response?.status == 200)
    }

    @Test("a pinned key mismatch is refused, although the chain is valid")
    func pinMismatch() async throws {
        let server = try await TestServer.start()
        let pin = try DevPKI.pin(ofCertificate: "agencies/frontex/tls-server.pem")
        let error = try #require(await send(server, try DevPKI.tls(pin: pin)).error)
        #expect(error.kind == .serverCertificate)
        #expect(error.curlCode == 90)
    }

    @Test("a server refusing our client certificate gives clientCertificateRejected", arguments: [
        "bad/wrong-ca", "bad/expired",
    ])
    func clientCertificateRejected(identity: String) async throws {
        let server = try await TestServer.start()
        let error = try #require(await send(server, try DevPKI.tls(client: identity)).error)
        // TLS 1.3: the alert comes with the first read (56) or write (55); TLS 1.2: during
        // the handshake (35). The kind comes from the alert text, not from the code; when
        // the server closed before libcurl could read the alert, there is no text to go by
        // and the kind is network, with a message naming the likely cause.
        #expect([35, 55, 56].contains(error.curlCode), "\(error)")
        #expect(error.message.contains("client certificate"), "\(error)")
        if error.message.contains("alert") {
            #expect(error.kind == .clientCertificateRejected, "\(error)")
        } else {
            #expect(error.kind == .network, "\(error)")
        }
    }

    @Test("a server that asks for no client certificate still works (we send ours anyway)")
    func serverWithoutClientAuth() async throws {
        let server = try await TestServer.start(clientCA: nil)
        let response = try #require(await send(server, try DevPKI.tls()).response)
        #expect(try Echo(response).clientSubject == "")
    }

    @Test("our own unreadable key, certificate or CA file is a local configuration error")
    func localConfiguration() async throws {
        let server = try await TestServer.start()
        var missingKey = try DevPKI.tls()
        missingKey.clientKeyPath = "/nonexistent/tls-client.key"
        let keyError = try #require(await send(server, missingKey).error)
        #expect(keyError.kind == .localConfiguration)
        #expect(keyError.curlCode == 58)

        var missingCertificate = try DevPKI.tls()
        missingCertificate.clientCertificatePath = "/nonexistent/tls-client-chain.pem"
        #expect(await send(server, missingCertificate).error?.kind == .localConfiguration)

        var missingCA = try DevPKI.tls()
        missingCA.caBundlePath = "/nonexistent/ca.pem"
        let caError = try #require(await send(server, missingCA).error)
        #expect(caError.kind == .localConfiguration)
        #expect(caError.curlCode == 77)

        // A key that does not belong to the certificate.
        var mismatched = try DevPKI.tls()
        mismatched.clientKeyPath = try DevPKI.path("gateway/signing.key")
        let mismatchError = try #require(await send(server, mismatched).error)
        #expect(mismatchError.kind == .localConfiguration)
        #expect(mismatchError.curlCode == 58)
    }

    @Test("a client key handed over as bytes is used instead of any file (and a wrong one still fails)")
    func clientKeyAsBytes() async throws {
        let server = try await TestServer.start()
        let client = HTTPSClient()
        defer { client.shutdown() }
        var given = try DevPKI.tls()
        given.clientKeyPEM = [UInt8](try Data(contentsOf: URL(fileURLWithPath: given.clientKeyPath)))
        given.clientKeyPath = "/nonexistent/never-read.key"
        let ok = await client.send(HTTPSRequest(url: server.url("/echo"), body: Array("{}".utf8), tls: given, connectTimeout: 10, totalTimeout: 20))
        #expect(ok.error == nil, "\(String(describing: ok.error))")
        #expect(try Echo(ok.get()).clientSubject.contains("PL-GW"))
        // The chain too, as bytes, the files never read.
        var both = given
        both.clientCertificatePEM = [UInt8](try Data(contentsOf: URL(fileURLWithPath: both.clientCertificatePath)))
        both.clientCertificatePath = "/nonexistent/never-read-chain.pem"
        let second = try await TestServer.start()
        let withBoth = await client.send(HTTPSRequest(url: second.url("/echo"), body: Array("{}".utf8), tls: both, connectTimeout: 10, totalTimeout: 20))
        #expect(withBoth.error == nil, "\(String(describing: withBoth.error))")
        // The same easy handles then serve a request with the files again (a new server:
        // a new connection, so the handshake reads them).
        let third = try await TestServer.start()
        let fromFile = await client.send(HTTPSRequest(url: third.url("/echo"), body: Array("{}".utf8), tls: try DevPKI.tls(), connectTimeout: 10, totalTimeout: 20))
        #expect(fromFile.error == nil, "\(String(describing: fromFile.error))")
        #expect(!"\(both)".contains("PRIVATE KEY"), "the settings never print the key")
        var wrong = try DevPKI.tls()
        wrong.clientKeyPEM = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try DevPKI.path("gateway/signing.key"))))
        #expect(await send(server, wrong).error?.kind == .localConfiguration)
    }
}
