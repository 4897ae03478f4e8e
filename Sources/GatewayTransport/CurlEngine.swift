// CurlEngine: the one thread that runs every transfer of an HTTPSClient.
//
// DESIGN: libcurl's multi interface drives any number of transfers from one thread.
// Other threads never touch a curl handle: `enqueue` appends to a locked pending list and
// calls curl_multi_wakeup (thread-safe), which makes the engine's curl_multi_poll return;
// the engine then attaches the new transfers, runs curl_multi_perform, collects finished
// ones with curl_multi_info_read and calls their completions, then polls again. The
// multi handle's connection cache is what reuses connections across requests (and
// HTTP/2 streams share one connection). Easy handles are reset and reused: cheaper than
// new ones, and they keep their DNS and TLS session caches.
//
// Shutdown: `stop` sets a flag and wakes the thread, which detaches every transfer, fails
// it (and everything still pending) with .cancelled, and exits; `stop` waits for that,
// unless it is called from a completion on the engine thread itself. `retire` lets the
// thread finish what it has instead: it exits once nothing is pending or running. Either
// way the thread closes the multi handle (and every connection it keeps) as it ends.
import CCurl
import CGatewaySys
import Foundation

final class CurlEngine: @unchecked Sendable {
    // @unchecked: `lock` guards `pending`, `cancelRequests`, `stopping`, `retiring`, `count`,
    // `nextID` and `threadID`; everything below "engine thread only" is touched by that thread alone
    // (and by deinit, when no thread is left).
    private let lock = NSLock()
    private var pending: [Transfer] = []
    private var cancelRequests: [UInt64] = []
    private var stopping = false
    /// Exit once idle (retire()).
    private var retiring = false
    private var count = 0
    private var nextID: UInt64 = 0
    private var threadID: pthread_t?
    private let exited = DispatchSemaphore(value: 0)

    private let multi: CurlMulti
    // Engine thread only.
    private var active: [UInt64: Transfer] = [:]
    /// The multi handle's failures in a row (engine thread only): the next try backs off.
    private var multiFailures = 0
    private var idleHandles: [CurlEasy] = []
    private static let maxIdleHandles = 64
    /// Origins whose last answer came on HTTP/2: their requests wait for a connection being
    /// set up (PIPEWAIT) instead of opening another.
    private var multiplexingOrigins: Set<String> = []

    /// How long the engine sleeps when nothing happens: a safety net only, since wakeup and
    /// libcurl's own timers end the wait whenever there is work.
    private static let idlePollMilliseconds = 1000

    init(maxConnectionsPerHost: Int, maxTotalConnections: Int) throws(CurlError) {
        multi = try CurlMulti()
        try multi.set(CURLMOPT_MAX_HOST_CONNECTIONS, max(1, maxConnectionsPerHost))
        try multi.set(CURLMOPT_MAX_TOTAL_CONNECTIONS, max(1, maxTotalConnections))
        // The connection cache keeps this many idle connections for reuse.
        try multi.set(CURLMOPT_MAXCONNECTS, max(1, maxTotalConnections))
        try multi.set(CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
        let thread = Thread { [self] in
            // The kernel's name (top -H, perf).
            gw_set_thread_name("curl-engine")
            run()
        }
        thread.name = "gateway-curl-engine"
        thread.start()
    }

    /// Requests queued or running.
    var inFlight: Int { lock.withLock { count } }

    /// Hands a request to the engine; returns its id for cancel(), or nil when the engine
    /// has stopped (the completion has then already been called with .cancelled).
    @discardableResult
    func enqueue(_ request: HTTPSRequest,
                 completion: @escaping @Sendable (Result<HTTPSResponse, TransportError>) -> Void) -> UInt64? {
        let queued = lock.withLock { () -> (id: UInt64, wake: Bool)? in
            guard !stopping && !retiring else { return nil }
            nextID += 1
            // Only the request that makes the list non-empty wakes the engine: the engine
            // takes the whole list after that wakeup, so later ones ride along (thousands of
            // sends per second need not cost a syscall each).
            let wake = pending.isEmpty
            pending.append(Transfer(id: nextID, request: request, completion: completion))
            count += 1
            return (nextID, wake)
        }
        guard let queued else {
            completion(.failure(TransportError(kind: .cancelled, message: "the HTTPS client has shut down")))
            return nil
        }
        if queued.wake { multi.wakeup() }
        return queued.id
    }

    /// Fails one transfer with .cancelled if it has not finished yet.
    func cancel(_ id: UInt64) {
        lock.withLock { cancelRequests.append(id) }
        multi.wakeup()
    }

    /// Cancels everything and stops the thread; idempotent. Waits for the thread unless
    /// called on it (from a completion), where waiting would deadlock.
    func stop() {
        let onEngineThread = lock.withLock { () -> Bool in
            stopping = true
            return threadID.map { pthread_equal($0, pthread_self()) != 0 } ?? false
        }
        multi.wakeup()
        guard !onEngineThread else { return }
        // The thread signals once when it exits; each waiter passes the signal on, so any
        // number of stop() calls, concurrent or later, all return.
        exited.wait()
        exited.signal()
    }

    /// Lets every transfer queued or running finish, refuses new ones (as after stop()),
    /// and ends the thread once idle, closing the connections, without waiting for it.
    /// stop() still cancels what is left.
    func retire() {
        lock.withLock { retiring = true }
        multi.wakeup()
    }

    /// stop(), unless the engine was retired (it then ends by itself once idle).
    func release() {
        if !lock.withLock({ retiring }) { stop() }
    }

    deinit {
        // The thread holds `self` strongly until it exits, so by now it is gone and no
        // transfer is attached; the idle handles and the multi handle go with their owners.
        idleHandles.removeAll()
    }

    // MARK: the engine thread

    private func run() {
        lock.withLock { threadID = pthread_self() }
        while true {
            let (batch, cancels, stop) = lock.withLock { () -> ([Transfer], [UInt64], Bool) in
                defer { pending.removeAll(keepingCapacity: true); cancelRequests.removeAll() }
                // Retired and idle: end.
                if retiring && pending.isEmpty && active.isEmpty { stopping = true }
                return (pending, cancelRequests, stopping)
            }
            if stop {
                for transfer in batch { finish(transfer, .failure(Self.shutdownError)) }
                break
            }
            for transfer in batch { start(transfer) }
            for id in cancels {
                if let transfer = active[id] {
                    finish(transfer, .failure(TransportError(kind: .cancelled, message: "cancelled by the caller")))
                }
            }
            do {
                try multi.perform()
                collectFinished()
                // Retired and now idle: end at once rather than after the poll.
                if active.isEmpty && lock.withLock({ retiring }) { continue }
                try multi.poll(milliseconds: Self.idlePollMilliseconds)
            } catch {
                // The multi handle itself failed (out of memory, a libcurl bug): nothing in
                // flight can be trusted to progress, so fail it all and keep serving.
                let failure = TransportError(kind: .network, message: "libcurl multi interface failed: \(error)")
                for transfer in active.values { finish(transfer, .failure(failure)) }
                // Not at once again: a handle that keeps failing would spin this thread.
                multiFailures += 1
                usleep(useconds_t(min(1_000_000, 10_000 << min(multiFailures - 1, 7))))
                continue
            }
            multiFailures = 0
        }
        for transfer in active.values { finish(transfer, .failure(Self.shutdownError)) }
        // enqueue refuses new work once `stopping` is set, and the batch taken with the flag
        // has been failed above: nothing can be left pending. The connections close now,
        // not when the last reference to the engine goes (a retired client may be kept).
        multi.close()
        exited.signal()
    }

    private static let shutdownError = TransportError(kind: .cancelled, message: "the HTTPS client shut down before the request finished")

    private func start(_ transfer: Transfer) {
        do throws(CurlError) {
            let easy: CurlEasy
            if let idle = idleHandles.popLast() { easy = idle } else { easy = try CurlEasy() }
            transfer.easy = easy
            try transfer.configure(easy, multiplexes: multiplexingOrigins.contains(transfer.origin))
            try multi.add(easy)
            active[transfer.id] = transfer
        } catch {
            finish(transfer, .failure(TransportError(curl: error, context: .init())))
        }
    }

    private func collectFinished() {
        while let (handle, code) = multi.nextFinished() {
            var context: UnsafeMutableRawPointer?
            _ = gw_curl_easy_getinfo_pointer(handle, CURLINFO_PRIVATE, &context)
            guard let context else { continue }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            guard let easy = transfer.easy else { continue }
            let result: Result<HTTPSResponse, TransportError>
            if code == CURLE_OK {
                do {
                    let response = try transfer.response(from: easy)
                    if response.httpVersion == "2" {
                        multiplexingOrigins.insert(transfer.origin)
                    } else {
                        multiplexingOrigins.remove(transfer.origin)
                    }
                    result = .success(response)
                } catch {
                    result = .failure(TransportError(curl: error, context: .init()))
                }
            } else {
                // A handshake this transfer completed (new connection, TLS done) tells a
                // failure right after it apart from one on a reused connection.
                let handshake = ((try? easy.info(long: CURLINFO_NUM_CONNECTS)) ?? 0) > 0
                    && ((try? easy.info(offset: CURLINFO_APPCONNECT_TIME_T)) ?? 0) > 0
                // Whatever the origin speaks now is learnt again from its next answer.
                multiplexingOrigins.remove(transfer.origin)
                let context = TransportError.FailureContext(exceededCap: transfer.exceededCap,
                                                            responseStarted: transfer.responseStarted,
                                                            completedHandshake: handshake)
                result = .failure(TransportError(curl: easy.error(code), context: context))
            }
            finish(transfer, result)
        }
    }

    /// Detaches the transfer, recycles its handle, calls its completion once, and counts it out.
    private func finish(_ transfer: Transfer, _ result: Result<HTTPSResponse, TransportError>) {
        guard !transfer.isCompleted else { return }
        if let easy = transfer.easy {
            transfer.easy = nil
            if active.removeValue(forKey: transfer.id) != nil {
                try? multi.remove(easy)
            }
            if idleHandles.count < Self.maxIdleHandles, (try? easy.reset()) != nil {
                idleHandles.append(easy)
            }
        }
        transfer.headerList = nil
        // Counted out first, so a completion that reads inFlight does not see itself.
        lock.withLock { count -= 1 }
        transfer.complete(result)
    }
}
