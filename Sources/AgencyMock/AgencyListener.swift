// AgencyListener: one agency's HTTPS endpoint: TLS with a required client certificate,
// HTTP/1.1 with keep-alive, one route (POST /messages), faults applied before the message
// is looked at.
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdTLS
import Logging
import NIOCore

/// The request context of an agency route: Hummingbird's basics plus the connection, which
/// the reset fault needs.
struct AgencyRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    var maxUploadSize: Int { MessageIntake.maxBodyBytes }
}

enum AgencyListener {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let retryAfter = HTTPField.Name("Retry-After")!

    /// The Hummingbird application serving `agency` on 127.0.0.1.
    static func application(
        _ agency: AgencySetup, state: MockState, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        let router = Router(context: AgencyRequestContext.self)
        let intake = agency.intake
        let id = agency.id
        router.post("/messages") { request, context -> Response in
            await handle(request, context: context, intake: intake, state: state)
        }
        let tls = agency.tls
        // TLS offering HTTP/2 and HTTP/1.1 by ALPN (or HTTP/1.1 only), behind the gate that
        // implements the `down` fault.
        let refuse: @Sendable () -> Bool = {
            guard state.faults(for: id).down else { return false }
            state.countFault(agency: id, kind: "down")
            return true
        }
        let server: HTTPServerBuilder
        if agency.http2 {
            server = HTTPServerBuilder { responder in
                GatedChannel(base: try HTTP2UpgradeChannel(
                    tlsConfiguration: tls, configuration: .init(idleTimeout: .seconds(300)), responder: responder), refuse: refuse)
            }
        } else {
            server = HTTPServerBuilder { responder in
                let http = HTTP1Channel(responder: responder, configuration: .init(idleTimeout: .seconds(300)))
                return GatedChannel(base: try TLSChannel(http, tlsConfiguration: tls), refuse: refuse)
            }
        }
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname("127.0.0.1", port: agency.port), serverName: "agency-mock"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? agency.port) },
            logger: logger)
    }

    static func handle(_ request: Request, context: AgencyRequestContext, intake: MessageIntake, state: MockState) async -> Response {
        let id = intake.agency
        // An HTTP/2 request arrives on a stream channel whose parent is the connection
        // (an HTTP/1.1 request on the connection itself, whose parent is the listener).
        state.countRequest(agency: id, protocol: context.channel.parent?.parent != nil ? "HTTP/2" : "HTTP/1.1")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > MessageIntake.maxBodyBytes {
            state.countRejection(agency: id, reason: "tooLarge")
            return response(tooLarge)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: MessageIntake.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            state.countRejection(agency: id, reason: "tooLarge")
            return response(tooLarge)
        } catch {
            return response(.problem(400, title: "Bad Request", detail: "cannot read the body: \(error)", reason: "body"))
        }

        // Faults first: a faulted request is answered (or dropped) before verification and
        // de-duplication, so it leaves no trace among the received messages.
        let decision = state.faults(for: id).decide()
        if decision.reset {
            state.countFault(agency: id, kind: decision.down ? "down" : "reset")
            await ConnectionGate.abort(channel: context.channel)
            return Response(status: .internalServerError)   // never sent: the connection is gone
        }
        if let seconds = decision.stall {
            state.countFault(agency: id, kind: "stall")
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        }
        if let fail = decision.fail {
            state.countFault(agency: id, kind: "status")
            return response(.problem(fail.status, title: "Injected Fault", detail: "fault injected by agency-mock",
                                     reason: "fault", retryAfter: fail.retryAfter))
        }
        let reply = intake.handle(contentType: request.headers[.contentType], idempotencyKey: request.headers[idempotencyKey],
                                  body: Array(buffer: body), badReceipt: decision.badReceipt)
        if decision.badReceipt, reply.status == 201 || reply.status == 409 {
            state.countFault(agency: id, kind: "badReceipt")
        }
        return response(reply)
    }

    static let tooLarge = Reply.problem(413, title: "Content Too Large",
                                        detail: "the body exceeds \(MessageIntake.maxBodyBytes) bytes", reason: "tooLarge")

    static func response(_ reply: Reply) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = reply.contentType
        if let retryAfter = reply.retryAfter { headers[Self.retryAfter] = retryAfter }
        return Response(status: .init(code: reply.status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
    }
}
