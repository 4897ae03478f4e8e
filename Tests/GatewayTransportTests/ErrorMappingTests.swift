// The CURLcode → kind table, as a table: each row is a code libcurl 7.88 can return to the
// gateway and the kind the delivery engine will act on.
import GatewayTestSupport
import Testing
@testable import GatewayTransport

@Suite("TransportError: CURLcode mapping")
struct ErrorMappingTests {
    typealias Context = TransportError.FailureContext

    @Test("codes whose kind needs no context", arguments: [
        (6, TransportError.Kind.resolve), (5, .resolve), (7, .connect), (28, .timeout),
        (60, .serverCertificate), (51, .serverCertificate), (90, .serverCertificate), (91, .serverCertificate),
        (83, .serverCertificate), (98, .clientCertificateRejected),
        (35, .tls), (80, .tls), (58, .localConfiguration), (77, .localConfiguration), (59, .localConfiguration),
        (53, .localConfiguration), (54, .localConfiguration), (66, .localConfiguration), (4, .localConfiguration),
        (52, .network), (55, .network), (56, .network), (16, .network), (92, .network), (18, .network),
        (8, .network), (23, .network), (63, .responseTooLarge), (1, .invalidRequest), (3, .invalidRequest),
        (42, .cancelled), (9999, .network),
    ])
    func plainCodes(code: Int, kind: TransportError.Kind) {
        #expect(TransportError.kind(forCurlCode: code, detail: "Failure when receiving data from the peer",
                                    context: Context()) == kind)
    }

    @Test("55, 56 and 35 with a certificate alert before any response: clientCertificateRejected", arguments: [35, 55, 56])
    func certificateAlerts(code: Int) {
        let detail = "OpenSSL SSL_read: OpenSSL/3.0.19: error:0A000418:SSL routines::tlsv1 alert unknown ca, errno 0"
        #expect(TransportError.kind(forCurlCode: code, detail: detail, context: Context()) == .clientCertificateRejected)
        // Once a response had begun, the server had accepted us: a later failure is not about our certificate.
        var started = Context()
        started.responseStarted = true
        #expect(TransportError.kind(forCurlCode: code, detail: detail, context: started) != .clientCertificateRejected)
    }

    @Test("23 is responseTooLarge only when our callback hit the cap")
    func writeError() {
        var context = Context()
        context.exceededCap = true
        #expect(TransportError.kind(forCurlCode: 23, detail: "", context: context) == .responseTooLarge)
    }

    @Test("a cancelled transfer is cancelled whatever the code")
    func cancelledWins() {
        var context = Context()
        context.cancelled = true
        #expect(TransportError.kind(forCurlCode: 56, detail: "", context: context) == .cancelled)
    }

    @Test("the message carries libcurl's text and the error buffer")
    func messageText() {
        let error = TransportError(curl: CurlError(easy: .init(rawValue: 60), detail: "SSL certificate problem: certificate has expired"),
                                   context: Context())
        #expect(error.kind == .serverCertificate)
        #expect(error.curlCode == 60)
        #expect(error.message.contains("SSL peer certificate"))
        #expect(error.message.contains("certificate has expired"))
        #expect(error.description.hasPrefix("serverCertificate (curl 60): "))
    }
}

@Suite("TransportError: messages that explain")
struct ErrorMessageTests {
    @Test("55/56 right after our handshake, with no alert text, is network and names the client certificate")
    func closedAfterHandshake() {
        var context = TransportError.FailureContext()
        context.completedHandshake = true
        let error = TransportError(curl: CurlError(easy: .init(rawValue: 55),
                                                   detail: "getpeername() failed with errno 107: Transport endpoint is not connected"),
                                   context: context)
        #expect(error.kind == .network)
        #expect(error.message.contains("client certificate"))
        // On a reused connection (no handshake by this transfer) the hint would mislead.
        let reused = TransportError(curl: CurlError(easy: .init(rawValue: 55), detail: "Connection reset by peer"),
                                    context: .init())
        #expect(!reused.message.contains("client certificate"))
    }
}
