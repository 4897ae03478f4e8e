// HTTPSClient: the gateway's HTTPS client, mutual TLS over libcurl's multi interface.
//
// One client runs one engine thread (CurlEngine) that carries every request; create one
// client per process (or per independent subsystem) and share it: connections are
// reused only within one client. See docs/transport.md.

/// Sends HTTPS requests with mutual TLS; thread-safe; reuses connections per host.
public final class HTTPSClient: Sendable {
    private let engine: CurlEngine?
    /// Why the engine could not start (libcurl failed to initialise); every send then fails.
    private let startFailure: TransportError?

    /// Starts the engine thread.
    /// - Parameters:
    ///   - maxConnectionsPerHost: parallel connections to one host (HTTP/2 multiplexes
    ///     requests over fewer); further requests wait for a free connection.
    ///   - maxTotalConnections: parallel connections in all; also the idle connection cache size.
    public init(maxConnectionsPerHost: Int = 16, maxTotalConnections: Int = 256) {
        do {
            engine = try CurlEngine(maxConnectionsPerHost: maxConnectionsPerHost,
                                    maxTotalConnections: maxTotalConnections)
            startFailure = nil
        } catch {
            engine = nil
            startFailure = TransportError(curl: error, context: .init())
        }
    }

    deinit { engine?.release() }

    /// Queues the request. `completion` runs exactly once, on the engine's thread: keep it
    /// short (hand the result to a queue or resume a continuation), since every other
    /// transfer waits while it runs. A request that fails validation, or one sent after
    /// shutdown(), completes at once on the caller's thread, without any I/O.
    public func send(_ request: HTTPSRequest,
                     completion: @escaping @Sendable (Result<HTTPSResponse, TransportError>) -> Void) {
        _ = enqueue(request, completion: completion)
    }

    /// Sends the request and waits for its outcome. Cancelling the calling task cancels
    /// the request (it then fails with `.cancelled`).
    public func send(_ request: HTTPSRequest) async -> Result<HTTPSResponse, TransportError> {
        let ticket = CancellationTicket()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let id = enqueue(request) { continuation.resume(returning: $0) }
                if let id, let engine { ticket.arm(id: id, engine: engine) }
            }
        } onCancel: {
            ticket.cancel()
        }
    }

    /// Requests queued or running.
    public var inFlight: Int { engine?.inFlight ?? 0 }

    /// Fails queued and in-flight requests with `.cancelled` and stops the engine thread.
    /// Idempotent; returns once the thread has stopped (unless called from a completion).
    public func shutdown() {
        engine?.stop()
    }

    /// Lets the requests it has finish, then closes its connections and ends its thread,
    /// without waiting: for a client replaced by a new one (new trust: nothing sent from
    /// now on should ride a connection verified under the old). Sends from now on fail
    /// with `.cancelled`, without any I/O; shutdown() cancels what is left.
    public func retire() {
        engine?.retire()
    }

    /// The libcurl version in use, e.g. "7.88.1".
    public static var libcurlVersion: String { CurlGlobal.version }

    /// Whether this libcurl can negotiate HTTP/2.
    public static var supportsHTTP2: Bool { CurlGlobal.supportsHTTP2 }

    /// The oldest libcurl known to use HTTP/2 without resetting each stream it has read to
    /// the end: 7.88.1 (Debian 12's own) sends RST_STREAM after every response, which
    /// servers protecting themselves against "rapid reset" (CVE-2023-44487) answer by
    /// ending the connection; 8.14.1 (bookworm-backports) does not (HTTP2Tests; versions
    /// in between were not tried). See docs/transport.md.
    public static let http2SafeFrom = (8, 14, 1)

    /// Whether HTTP/2 is offered where the configuration does not say: this libcurl speaks
    /// it and is not older than `http2SafeFrom`.
    public static let http2ByDefault: Bool = supportsHTTP2 && CurlGlobal.versionNumber >= http2SafeFrom

    private func enqueue(_ request: HTTPSRequest,
                         completion: @escaping @Sendable (Result<HTTPSResponse, TransportError>) -> Void) -> UInt64? {
        if let reason = request.validationFailure() {
            completion(.failure(TransportError(kind: .invalidRequest, message: reason)))
            return nil
        }
        guard let engine else {
            completion(.failure(startFailure ?? TransportError(kind: .localConfiguration, message: "libcurl failed to start")))
            return nil
        }
        return engine.enqueue(request, completion: completion)
    }
}
