// NAME
//   DeliveryEngine: takes due deliveries from the queue and sends them, per endpoint, within
//   its concurrency limit, rate limit and circuit breaker; records every outcome.
//
// DESCRIPTION
//   One scheduler thread owns all endpoint state (breakers, limiters, in-flight counts)
//   and every store call; the transport's completions only append to an outcome list
//   and wake it. Each loop: record finished attempts (one transaction for all of them),
//   then for each endpoint with free slots claim what is due, most urgent first, and
//   send. An `immediate` message may use one slot beyond the concurrency limit, so it
//   never waits for a routine transfer to finish.
//
// SECURITY
//   A 2xx is a delivery only with a valid receipt where the endpoint requires one
//   (ReceiptCheck). TLS settings come from the configuration and cannot disable
//   verification (the transport has no such switch).

import CGatewaySys
import Foundation
import GatewayJSON
import GatewayModel
import GatewaySchema
import GatewayStore
import Logging

public final class DeliveryEngine: DeliveryService, @unchecked Sendable {
    // Everything below `condition` is guarded by it; endpoint runtimes are touched only by
    // the scheduler thread.
    struct Runtime {
        var config: GatewayConfig.Endpoint
        var breaker: CircuitBreaker
        var limiter: RateLimiter?
        var receipts: ReceiptCheck
        var inFlight = 0
        var wanted = true            // something may be due: look on the next pass
        var nextDeferredDue: Millis? = nil
        var publishedBreaker: String? = nil
        /// When undecidable receipts (stale CRLs) were last logged (monotonic seconds).
        var undecidedLogged = -Double.infinity
        /// When a receipt dated outside the gateway's times was last logged (monotonic seconds).
        var receiptTimeLogged = -Double.infinity
        /// Gone from the configuration but with transfers still in flight: kept (never
        /// scheduled) until they end, so that their outcomes are checked and recorded.
        var retired = false

        /// Whether a transfer could start now: the breaker lets one through (closed, a
        /// probe due) and a slot is free. The slot reserved for immediate messages counts
        /// only for immediate traffic, which wakes the loop itself; deliveries coming due
        /// (any priority) need a regular one, or the loop would look every millisecond
        /// while all regular slots are busy.
        func canSend(now seconds: Double) -> Bool {
            guard !retired, inFlight < config.concurrency else { return false }
            switch breaker.state {
            case .closed: return true
            case .open: return breaker.waitTime(now: seconds) <= 0
            case .halfOpen: return !breaker.probeInFlight
            }
        }
    }

    struct Finished {
        let job: DeliveryJob
        let startedAt: Millis
        let started: UInt64
        let result: Result<DeliveryResponse, DeliveryFailure>
    }

    let store: QueueStore
    let reports: ReportWriter
    let transport: any DeliveryTransport
    let logger: Logger
    let clock: @Sendable () -> Millis
    /// Scheduler thread only after init (a reload brings a new one with its configuration).
    private var receiptSchema: Schema
    private let condition = MonotonicCondition()
    private var finished: [Finished] = []
    private var wakeEndpoints = Set<String>()
    private var pendingConfig: (config: GatewayConfig, receiptSchema: Schema?)? = nil
    /// Callers of update(config:) waiting for the scheduler to apply it.
    private var configWaiters: [ConfigWaiter] = []
    /// A stop is coming (`stopWaitingForUpdates`): an update from then on does not wait.
    private var updatesAbandoned = false
    final class ConfigWaiter: @unchecked Sendable {
        // `applied` is written before the semaphore is signalled and read after the wait.
        let done = DispatchSemaphore(value: 0)
        var applied = false
        var abandoned = false
    }
    private var running = false
    private var stopping = false
    private var thread: Thread?
    private let stoppedGroup = DispatchGroup()
    private var runtimes: [String: Runtime] = [:]
    private var config: GatewayConfig
    private let reportQueue = DispatchQueue(label: "delivery-reports")
    private let reportPending = Locked(false)
    /// A delayed report flush scheduled and not run yet (waited for at stop).
    private let reportScheduled = DispatchGroup()
    /// Monotonic seconds of the last look at every endpoint.
    private var lastFullScan = -Double.infinity
    private var passes = 0
    /// Outcomes the queue could not take (a full disk, say): tried again on every pass, so
    /// that they are recorded once it can (their deliveries stay `sending` meanwhile; a
    /// restart would return them to the queue, and the endpoint would answer 409).
    private var unrecorded: [QueueStore.Resolution] = []
    /// The queue failed a write (recording or claiming): nothing more is claimed, and the
    /// write is tried again, no sooner than `retryAt` (0.25 s, doubling to 1 s: a claim that
    /// finds nothing due proves nothing, so the first delivery after the trouble waits at
    /// most that), until it works. Logged when it starts and then once a minute.
    private var storeTrouble: (since: Double, retryAt: Double, delay: Double, logged: Double)? = nil   // monotonic seconds

    /// - Parameter receiptSchema: receipt.schema.json (`ReceiptCheck.loadSchema()`); every
    ///   receipt's payload must follow it.
    public init(config: GatewayConfig, store: QueueStore, reports: ReportWriter, transport: any DeliveryTransport, logger: Logger,
                receiptSchema: Schema, clock: @escaping @Sendable () -> Millis = { Date().millis }) throws {
        self.receiptSchema = receiptSchema
        self.config = config
        self.store = store
        self.reports = reports
        self.transport = transport
        self.logger = logger
        self.clock = clock
        runtimes = try Self.makeRuntimes(config, previous: [:], receiptSchema: receiptSchema)
    }

    /// Seconds on the monotonic clock: breakers, rate limits and the scheduler's own timing
    /// use it, so that a wall clock stepped back (NTP, a VM resumed) holds none of them;
    /// times stored in the queue stay wall-clock.
    static func uptime() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func makeRuntimes(_ config: GatewayConfig, previous: [String: Runtime], receiptSchema: Schema) throws -> [String: Runtime] {
        var result: [String: Runtime] = [:]
        for (name, e) in config.endpoints {
            let receipts = try ReceiptCheck(anchorsPath: e.receiptTrustAnchors, crlPath: e.crl, signer: e.receiptSigner, schema: receiptSchema)
            if var old = previous[name] {
                old.retired = false
                old.config = e
                old.receipts = receipts
                old.breaker.reconfigure(failureThreshold: e.breakerFailureThreshold, openFor: e.breakerOpenFor)
                if old.limiter?.rate != e.rateLimit { old.limiter = e.rateLimit.map { RateLimiter(rate: $0, now: Self.uptime()) } }
                result[name] = old
            } else {
                result[name] = Runtime(config: e, breaker: CircuitBreaker(failureThreshold: e.breakerFailureThreshold, openFor: e.breakerOpenFor),
                                       limiter: e.rateLimit.map { RateLimiter(rate: $0, now: Self.uptime()) }, receipts: receipts)
            }
        }
        for (name, old) in previous where result[name] == nil && old.inFlight > 0 {
            var kept = old
            kept.retired = true
            result[name] = kept
        }
        return result
    }

    // MARK: DeliveryService

    public func start() {
        condition.lock()
        running = true
        condition.unlock()
        stoppedGroup.enter()
        let t = Thread { [self] in
            gw_set_thread_name("delivery")
            self.loop()
            self.stoppedGroup.leave()
        }
        t.name = "delivery"
        thread = t
        t.start()
    }

    public func stop() {
        condition.lock()
        guard running else { condition.unlock(); return }
        stopping = true
        condition.broadcast()
        condition.unlock()
        stoppedGroup.wait()
    }

    public func wake(endpoints: Set<String>) {
        condition.lock()
        wakeEndpoints.formUnion(endpoints)
        condition.signal()
        condition.unlock()
    }

    /// Returns once the scheduler has applied it (at most five seconds; at once when the
    /// engine is not running, which applies it when it starts): what is recorded from then
    /// on is recorded under it.
    /// - Parameter receiptSchema: receipt.schema.json as the reload read it (nil: keep).
    /// Says whether it was applied in that time, not yet, or refused.
    /// How long `reconfigure` waits for the scheduler (tests make it long, to tell a wait
    /// ended by a stop request from one that ran out).
    public var reconfigureWait: Double = 5

    public func reconfigure(config: GatewayConfig, receiptSchema: Schema?) -> ConfigUpdate {
        let waiter = ConfigWaiter()
        condition.lock()
        pendingConfig = (config, receiptSchema)
        let abandoned = updatesAbandoned
        let wait = running && !stopping && !abandoned
        if wait { configWaiters.append(waiter) }
        condition.signal()
        condition.unlock()
        // Not running: applied when it starts; a stop coming: not waited for (not applied yet).
        guard wait else { return abandoned ? .pending : .applied }
        if waiter.done.wait(timeout: .now() + reconfigureWait) == .timedOut {
            logger.warning("the delivery engine has not applied the new configuration within \(Int(reconfigureWait)) s; it will")
            return .pending
        }
        if waiter.abandoned {
            logger.notice("stopping: not waiting for the delivery engine to apply the new configuration")
            return .pending
        }
        return waiter.applied ? .applied : .refused
    }

    public func stopWaitingForUpdates() {
        condition.lock()
        updatesAbandoned = true
        let waiters = configWaiters
        configWaiters.removeAll()
        condition.unlock()
        for waiter in waiters {
            waiter.abandoned = true
            waiter.done.signal()
        }
    }

    /// Circuit-breaker states, for tests and the log.
    public func breakerStates() -> [String: CircuitBreaker.State] {
        condition.lock()
        defer { condition.unlock() }
        return runtimes.mapValues { $0.breaker.state }
    }

    // MARK: the scheduler thread

    private func loop() {
        var drainDeadline: Double? = nil
        while true {
            condition.lock()
            let done = finished
            finished.removeAll()
            let woken = wakeEndpoints
            wakeEndpoints.removeAll()
            let newConfig = pendingConfig
            pendingConfig = nil
            let waiters = configWaiters
            configWaiters.removeAll()
            let isStopping = stopping
            condition.unlock()

            let applied = newConfig.map { apply($0.config, receiptSchema: $0.receiptSchema ?? receiptSchema) } ?? false
            for waiter in waiters {
                waiter.applied = applied
                waiter.done.signal()
            }
            for name in woken { runtimes[name]?.wanted = true }
            if !done.isEmpty || (!unrecorded.isEmpty && storeTrouble.map { Self.uptime() >= $0.retryAt } ?? true) { record(done) }

            let inFlight = runtimes.values.reduce(0) { $0 + $1.inFlight }
            if isStopping {
                if inFlight == 0 { break }
                // Let in-flight attempts finish for a while, then cancel them (they return to the queue).
                if drainDeadline == nil {
                    let longest = runtimes.values.map(\.config.timeout).max() ?? 10
                    drainDeadline = Self.uptime() + min(10, longest)
                    logger.notice("delivery stopping: waiting for in-flight attempts", metadata: ["inFlight": "\(inFlight)"])
                } else if Self.uptime() > drainDeadline! {
                    transport.shutdown()
                    drainDeadline = .infinity
                }
            } else {
                schedule()
            }
            condition.lock()
            if finished.isEmpty && wakeEndpoints.isEmpty && pendingConfig == nil && !(stopping && !isStopping) {
                condition.wait(seconds: waitTime())
            }
            condition.unlock()
        }
        transport.shutdown()
        // A last try, whatever the back-off says.
        if !unrecorded.isEmpty, (try? store.resolve(unrecorded, now: clock())) != nil { unrecorded = [] }
        if !unrecorded.isEmpty {
            logger.error("delivery outcomes not recorded at stop; these deliveries go back to the queue at the next start",
                         metadata: ["count": "\(unrecorded.count)"])
        }
        flushReports(now: true)
    }

    private func apply(_ next: GatewayConfig, receiptSchema nextSchema: Schema) -> Bool {
        do {
            runtimes = try Self.makeRuntimes(next, previous: runtimes, receiptSchema: nextSchema)
            config = next
            receiptSchema = nextSchema
            // Connections verified under the files as they were (anchors, CRLs, pins) carry
            // nothing more: the reload's trust applies to the next request, not the next
            // connection (libcurl matches a connection by the CA file's path, not its bytes).
            transport.renewConnections()
            for name in runtimes.keys { runtimes[name]!.wanted = true }
            return true
        } catch {
            logger.error("delivery kept its previous endpoints: \(error)")
            return false
        }
    }

    /// How long to sleep: until a deferred delivery or an open breaker comes due, at most 1 s;
    /// while the queue cannot be written, until the next try.
    private func waitTime() -> Double {
        if let trouble = storeTrouble { return min(1, max(0.01, trouble.retryAt - Self.uptime())) }
        let now = clock()
        var wait = 1.0
        for r in runtimes.values {
            if r.breaker.state == .open {
                // Nothing goes out before the probe time, however much is due.
                wait = min(wait, max(0.01, r.breaker.waitTime(now: Self.uptime())))
                continue
            }
            // A probe or a full set of transfers in flight: their outcome wakes the loop.
            guard r.canSend(now: Self.uptime()) else { continue }
            let somethingDue = r.wanted || (r.nextDeferredDue.map { $0 <= now } ?? false)
            if let l = r.limiter, l.waitTime() > 0, somethingDue {
                // No token yet: nothing goes out before one comes, however much is due (else
                // a due delivery behind the rate limit had the loop look every millisecond).
                wait = min(wait, max(0.001, l.waitTime()))
                continue
            }
            if let due = r.nextDeferredDue { wait = min(wait, max(0.001, Double(due - now) / 1000)) }
            if let l = r.limiter, r.wanted { wait = min(wait, max(0.001, l.waitTime())) }
        }
        return wait
    }

    /// Passes of the scheduler so far (tests: an endpoint that cannot send must not keep
    /// the loop busy).
    public var schedulingPasses: Int {
        condition.lock()
        defer { condition.unlock() }
        return passes
    }

    private func schedule() {
        condition.withLock { passes += 1 }
        // Outcomes not yet recorded come first; and after a failed write, nothing is claimed
        // before the next try (each claim is a write, and each send another outcome to keep).
        if !unrecorded.isEmpty { return }
        if let trouble = storeTrouble, Self.uptime() < trouble.retryAt { return }
        let now = clock()
        let seconds = Self.uptime()
        // Once a second look at every endpoint: operators release, retry and requeue from
        // another process, and deferred deliveries come due.
        let fullScan = seconds - lastFullScan >= 1
        if fullScan { lastFullScan = seconds }
        var requests: [QueueStore.ClaimRequest] = []
        var tokensTaken: [String: Int] = [:]
        for name in runtimes.keys.sorted() {
            var r = runtimes[name]!
            defer { runtimes[name] = r }
            // Due deliveries count only where something could be sent now.
            guard !r.retired else { continue }
            let due = r.canSend(now: seconds) && (r.nextDeferredDue.map { $0 <= now } ?? false)
            guard r.wanted || due || fullScan else { continue }
            r.wanted = false
            if fullScan || due { r.nextDeferredDue = try? store.nextDeferredDue(endpoint: name) }
            // A CRL file replaced (fresh CRLs fetched) is read again without a reload.
            if fullScan, let refreshed = r.receipts.refreshed() {
                switch refreshed {
                case .success(let check):
                    r.receipts = check
                    logger.notice("endpoint CRLs read again", metadata: ["endpoint": "\(name)", "file": "\(r.config.crl ?? "")"])
                case .failure(let failure):
                    // Not retried until the file changes again; the CRLs read before stay.
                    r.receipts = r.receipts.keeping(stamp: failure.stamp)
                    logger.error("cannot read the endpoint's CRLs again; the ones read before stay in use", metadata: ["endpoint": "\(name)", "error": "\(failure.error)"])
                }
            }
            // One slot beyond the limit is kept for immediate traffic.
            let limit = r.config.concurrency
            var budget = r.breaker.permits(now: seconds, limit: max(0, limit + 1 - r.inFlight))
            if r.limiter != nil {
                budget = min(budget, r.limiter!.take(now: seconds, limit: budget))
                tokensTaken[name] = budget
            }
            guard budget > 0 else {
                if r.inFlight < limit { r.wanted = true }  // rate-limited or breaker: look again after the wait
                continue
            }
            requests.append(.init(endpoint: name, immediate: min(1, budget), regular: min(budget, max(0, limit - r.inFlight))))
        }
        let claimed: [String: [DeliveryJob]]
        do {
            let t0 = DispatchTime.now().uptimeNanoseconds
            claimed = try store.claimDue(requests, now: now)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            if ms >= 20 { logger.debug("slow claim", metadata: ["ms": "\(Int(ms))", "claimed": "\(claimed.values.reduce(0) { $0 + $1.count })"]) }
            // Only a claim that took something wrote anything.
            if claimed.values.contains(where: { !$0.isEmpty }) { storeWorked() }
        } catch {
            storeFailed("cannot claim deliveries", error, count: requests.count)
            // Nothing was claimed: look at every endpoint again on the next try.
            for request in requests { runtimes[request.endpoint]?.wanted = true }
            return
        }
        for request in requests {
            let jobs = claimed[request.endpoint] ?? []
            guard var r = runtimes[request.endpoint] else { continue }
            // Tokens taken for deliveries that were not there go back.
            if let taken = tokensTaken[request.endpoint] { r.limiter?.giveBack(taken - jobs.count) }
            // A full claim means more may be waiting: look again on the next pass.
            if jobs.count >= request.regular && request.regular > 0 { r.wanted = true }
            for job in jobs {
                // Nothing is sent against the configuration in force: a route or ceiling that
                // changed since the delivery was queued (a reload, or a race with one) holds it.
                if let why = Self.notAllowed(job, config: config) {
                    runtimes[request.endpoint] = r
                    record([Finished(job: job, startedAt: now, started: DispatchTime.now().uptimeNanoseconds,
                                     result: .failure(DeliveryFailure(kind: .cancelled, message: why)))], heldBecause: why)
                    r = runtimes[request.endpoint]!
                    continue
                }
                // Past its expiry: expired, unless the agency answered for it before (it has the
                // message: an operator released it, or a stop returned it to the queue, and it is
                // asked once more for a receipt; held again if that proves nothing either).
                if let expires = job.expiresAt, expires <= now, (try? store.wasAnswered(deliveryId: job.deliveryId)) != true {
                    runtimes[request.endpoint] = r
                    record([Finished(job: job, startedAt: now, started: DispatchTime.now().uptimeNanoseconds,
                                     result: .failure(DeliveryFailure(kind: .cancelled, message: "expired")))], expiredAt: now)
                    r = runtimes[request.endpoint]!
                    continue
                }
                r.inFlight += 1
                r.breaker.started()
                send(job, endpoint: r.config)
            }
            runtimes[request.endpoint] = r
        }
        publishBreakers()
    }

    private func send(_ job: DeliveryJob, endpoint: GatewayConfig.Endpoint) {
        let request = DeliveryRequest(
            url: endpoint.url,
            headers: [("Content-Type", "application/jose+json"), ("Idempotency-Key", job.messageId), ("Accept", "application/jose+json"),
                      ("X-Gateway-Sender", job.sender), ("X-Gateway-Priority", job.priority.rawValue)],
            body: job.jws, clientCertificate: config.tls.clientCertificate, clientKey: config.tls.clientKey, caBundle: endpoint.ca,
            pinnedKey: endpoint.pinnedKey, connectTimeout: endpoint.connectTimeout, totalTimeout: endpoint.timeout, proxy: endpoint.proxy,
            http2: endpoint.http2, crl: endpoint.crl)
        let startedAt = clock()
        let started = DispatchTime.now().uptimeNanoseconds
        transport.post(request) { [weak self] result in
            guard let self else { return }
            self.condition.lock()
            self.finished.append(Finished(job: job, startedAt: startedAt, started: started, result: result))
            self.condition.signal()
            self.condition.unlock()
        }
    }

    // MARK: outcomes

    /// Why the configuration in force does not allow sending `job` (nil: it does).
    static func notAllowed(_ job: DeliveryJob, config: GatewayConfig) -> String? {
        guard config.routes[job.recipient] == job.endpoint, let endpoint = config.endpoints[job.endpoint] else {
            return QueueStore.gatewayHoldPrefix + "\(job.recipient) is no longer routed to endpoint \(job.endpoint)"
        }
        let classification = Classification(rawValue: job.classification) ?? .secret
        if classification > endpoint.classificationCeiling {
            return QueueStore.gatewayHoldPrefix + "\(job.classification) is above the ceiling of endpoint \(job.endpoint) (\(endpoint.classificationCeiling.rawValue))"
        }
        return nil
    }

    private func record(_ done: [Finished], expiredAt: Millis? = nil, heldBecause: String? = nil) {
        let now = clock()
        var resolutions: [QueueStore.Resolution] = []
        for f in done {
            let job = f.job
            let durationMs = Int64((DispatchTime.now().uptimeNanoseconds - f.started) / 1_000_000)
            if let heldBecause {
                resolutions.append(.init(job: job, attempt: nil, resolution: .held(reason: heldBecause)))
                logger.warning("delivery held: the configuration in force does not allow it",
                               metadata: ["messageId": "\(job.messageId)", "recipient": "\(job.recipient)", "reason": "\(heldBecause)"])
                continue
            }
            if expiredAt != nil {
                resolutions.append(.init(job: job, attempt: nil, resolution: .expired(reason: "expired before it could be sent"),
                                         owing: report(job, kind: "expired", now: now, reason: "not delivered before it expired")))
                continue
            }
            guard var r = runtimes[job.endpoint] else { continue }
            r.inFlight -= 1
            defer { runtimes[job.endpoint] = r }
            let seconds = Self.uptime()
            switch f.result {
            case .failure(let failure) where failure.kind == .cancelled:
                resolutions.append(.init(job: job, attempt: nil, resolution: .requeued(reason: "attempt cancelled at shutdown")))
            case .failure(let failure):
                r.breaker.failed(now: seconds)
                let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint, httpStatus: nil,
                                            outcome: "transient", error: failure.description)
                if failure.kind == .serverCertificate || failure.kind == .clientCertificateRejected {
                    logger.error("TLS trust failure", metadata: ["endpoint": "\(job.endpoint)", "error": "\(failure.message)"])
                } else if failure.kind == .localConfiguration {
                    logger.error("delivery cannot start: TLS files or settings on the gateway's side (client certificate or key, the endpoint's CA or CRL file)",
                                 metadata: ["endpoint": "\(job.endpoint)", "error": "\(failure.message)"])
                }
                resolutions.append(deferral(job, attempt: attempt, reason: failure.description, retryAfter: nil, now: now))
            case .success(let response):
                let verdict = OutcomeClassifier.classify(status: response.status, retryAfterHeader: response.headers["retry-after"])
                switch verdict {
                case .delivered(let duplicate):
                    let check = r.receipts.check(response.body, job: job, now: now)
                    switch check {
                    case .valid(let receipt, let timeNote):
                        r.breaker.succeeded()
                        if let timeNote, seconds - r.receiptTimeLogged >= 60 {
                            r.receiptTimeLogged = seconds
                            logger.warning("receipt dated outside the gateway's times (said once a minute per endpoint; each such attempt records it)",
                                           metadata: ["endpoint": "\(job.endpoint)", "messageId": "\(job.messageId)", "detail": "\(timeNote)"])
                        }
                        let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint,
                                                    httpStatus: response.status, outcome: duplicate ? "duplicate" : "delivered", error: timeNote)
                        resolutions.append(.init(job: job, attempt: attempt, resolution: .delivered(receipt: receipt, duplicate: duplicate),
                                                 owing: report(job, kind: "delivered", now: now, embedsReceipt: true, duplicate: duplicate)))
                    case _ where !r.config.requireReceipt:
                        // The endpoint's answer is the proof it asks for (SPEC 5): a receipt it sent
                        // that does not hold is said in the log and the attempt, and not kept.
                        r.breaker.succeeded()
                        var why: String? = nil
                        if case .invalid(let reason) = check { why = reason }
                        if case .undecided(let reason) = check { why = reason }
                        if let why {
                            logger.warning("receipt not kept (the endpoint does not require one; its answer stands)",
                                           metadata: ["endpoint": "\(job.endpoint)", "messageId": "\(job.messageId)", "reason": "\(why)"])
                        }
                        let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint,
                                                    httpStatus: response.status, outcome: duplicate ? "duplicate" : "delivered",
                                                    error: why.map { "receipt not kept: \($0)" })
                        resolutions.append(.init(job: job, attempt: attempt, resolution: .delivered(receipt: nil, duplicate: duplicate),
                                                 owing: report(job, kind: "delivered", now: now, duplicate: duplicate)))
                    case .undecided(let why):
                        // The agency took it; whether its receipt is proof waits for fresh CRLs:
                        // tried again (the agency answers with the same receipt), said once a minute.
                        r.breaker.succeeded()
                        if seconds - r.undecidedLogged >= 60 {
                            r.undecidedLogged = seconds
                            logger.error("receipts cannot be checked for revocation; deliveries retried until the endpoint's CRLs are current (gatewayd reads the crl file again when it changes)",
                                         metadata: ["endpoint": "\(job.endpoint)", "reason": "\(why)"])
                        }
                        let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint,
                                                    httpStatus: response.status, outcome: QueueStore.undecidedOutcome, error: why)
                        // Past the expiry the queue holds it rather than expire it (the agency
                        // has it): an operator decides (release once the CRLs are current, or cancel).
                        resolutions.append(deferral(job, attempt: attempt, reason: why, retryAfter: nil, now: now))
                    case .absent where duplicate, .invalid where duplicate:
                        // 409: the agency says it has the message (an earlier answer was lost) but
                        // proves nothing. Neither failed (it may well have it) nor delivered (no
                        // proof): held for an operator, who asks the agency, then retries or cancels.
                        r.breaker.succeeded()
                        let why: String
                        if case .invalid(let reason) = check { why = reason } else { why = "no receipt in the answer" }
                        logger.error("receipt refused", metadata: ["endpoint": "\(job.endpoint)", "messageId": "\(job.messageId)", "reason": "\(why)"])
                        let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint,
                                                    httpStatus: response.status, outcome: QueueStore.unprovenDuplicateOutcome, error: why)
                        resolutions.append(.init(job: job, attempt: attempt, resolution: .held(reason:
                            "the endpoint answered HTTP 409 (it has the message already) without a valid receipt (\(why)): ask the agency for its receipt, then release to try again, or cancel")))
                    case .absent, .invalid:
                        // The endpoint answered, so it is up; but without a valid receipt this is
                        // not a delivery. An endpoint that signs wrongly will not improve by
                        // retrying: dead-letter it for an operator (who can requeue).
                        r.breaker.succeeded()
                        let why: String
                        if case .invalid(let reason) = check { why = reason } else { why = "no receipt in the answer" }
                        let reason = "HTTP \(response.status) without a valid receipt (\(why))"
                        logger.error("receipt refused", metadata: ["endpoint": "\(job.endpoint)", "messageId": "\(job.messageId)", "reason": "\(why)"])
                        let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint,
                                                    httpStatus: response.status, outcome: QueueStore.invalidReceiptOutcome, error: why)
                        resolutions.append(.init(job: job, attempt: attempt, resolution: .failed(reason: reason),
                                                 owing: report(job, kind: "failed", now: now, reason: reason, status: response.status)))
                    }
                case .permanent(let reason):
                    r.breaker.succeeded()
                    let detail = Self.problemDetail(response.body)
                    let full = reason + (detail.map { ": \($0)" } ?? "")
                    let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint,
                                                httpStatus: response.status, outcome: "permanent", error: full)
                    resolutions.append(.init(job: job, attempt: attempt, resolution: .failed(reason: full),
                                             owing: report(job, kind: "failed", now: now, reason: full, status: response.status)))
                case .transient(let reason, let retryAfter):
                    r.breaker.failed(now: seconds)
                    let attempt = AttemptRecord(startedAt: f.startedAt, durationMs: durationMs, endpoint: job.endpoint,
                                                httpStatus: response.status, outcome: "transient", error: reason)
                    resolutions.append(deferral(job, attempt: attempt, reason: reason, retryAfter: retryAfter, now: now))
                }
            }
            r.wanted = true
        }
        // An attempt that started before a reload removed or re-routed its endpoint (or
        // lowered the ceiling) does not wait on it again: held for gatewayd, which releases it
        // onto the route in force (the reload's reconcile saw it `sending` and left it).
        for i in resolutions.indices {
            let waitsAgain: String?
            switch resolutions[i].resolution {
            case .deferred(_, let reason), .requeued(let reason): waitsAgain = reason
            default: waitsAgain = nil
            }
            if let waitsAgain, let why = Self.notAllowed(resolutions[i].job, config: config) {
                resolutions[i].resolution = .held(reason: "\(why) (its attempt: \(waitsAgain))")
            }
        }
        // A removed endpoint's runtime goes once its last transfer has ended.
        for (name, r) in runtimes where r.retired && r.inFlight <= 0 { runtimes[name] = nil }
        // Earlier outcomes the queue could not take go first, in the order they came.
        if !unrecorded.isEmpty {
            resolutions = unrecorded + resolutions
            unrecorded = []
        }
        guard !resolutions.isEmpty else { return }
        do {
            try store.resolve(resolutions, now: now)
            if storeTrouble != nil { logger.notice("delivery outcomes recorded after a failure", metadata: ["count": "\(resolutions.count)"]) }
            storeWorked()
        } catch where QueueStore.isTransient(error) {
            // Kept and tried again (the deliveries stay `sending` until then; nothing new is
            // claimed meanwhile, so the list grows only by what was in flight).
            storeFailed("cannot record delivery outcomes; kept to try again", error, count: resolutions.count)
            unrecorded = resolutions
            return
        } catch {
            // Retrying would not help (a corrupt queue, a constraint): these deliveries stay
            // `sending` and go back to the queue at the next start; delivery goes on.
            logger.error("cannot record delivery outcomes; their deliveries return to the queue at the next start",
                         metadata: ["error": "\(error)", "count": "\(resolutions.count)"])
            return
        }
        for res in resolutions {
            if case .deferred(let until, _) = res.resolution, var r = runtimes[res.job.endpoint] {
                r.nextDeferredDue = min(r.nextDeferredDue ?? until, until)
                runtimes[res.job.endpoint] = r
            }
        }
        if resolutions.contains(where: { $0.report != nil }) { flushReports() }
    }

    private func storeFailed(_ message: Logger.Message, _ error: Error, count: Int) {
        let now = Self.uptime()
        if var trouble = storeTrouble {
            trouble.delay = min(1, trouble.delay * 2)
            trouble.retryAt = now + trouble.delay
            if now - trouble.logged >= 60 {
                trouble.logged = now
                logger.error(message, metadata: ["error": "\(error)", "count": "\(count)", "since": "\(Int(now - trouble.since))s"])
            }
            storeTrouble = trouble
        } else {
            logger.error(message, metadata: ["error": "\(error)", "count": "\(count)"])
            storeTrouble = (now, now + 0.25, 0.25, now)
        }
    }

    private func storeWorked() {
        guard let trouble = storeTrouble else { return }
        storeTrouble = nil
        logger.notice("the queue takes writes again", metadata: ["seconds": "\(Int(Self.uptime() - trouble.since))"])
    }

    private func deferral(_ job: DeliveryJob, attempt: AttemptRecord, reason: String, retryAfter: Double?, now: Millis) -> QueueStore.Resolution {
        let backoff = Backoff(initial: config.retry.initialBackoff, maximum: config.retry.maxBackoff,
                              multiplier: config.retry.multiplier, jitter: config.retry.jitter)
        // Bounded before it becomes a time (a configured maximum of centuries, say).
        let delay = min(backoff.delay(afterAttempt: job.attempts + 1, retryAfter: retryAfter), 366 * 86_400)
        let until = now + Int64(delay * 1000)
        if let expires = job.expiresAt, until >= expires {
            // A last try a second before the expiry (a long Retry-After, a back-off longer
            // than the time left), unless that moment has come.
            let lastTry = expires - 1000
            if lastTry > now {
                return .init(job: job, attempt: attempt, resolution: .deferred(until: lastTry, reason: "\(reason); a last try before the message's expiry"))
            }
            return .init(job: job, attempt: attempt, resolution: .expired(reason: "\(reason); the next attempt would be after the expiry"),
                         owing: report(job, kind: "expired", now: now, reason: "not delivered before it expired (last attempt: \(reason))"))
        }
        return .init(job: job, attempt: attempt, resolution: .deferred(until: until, reason: reason))
    }

    /// The "detail" of an RFC 9457 problem document, if the body is one (shortened).
    static func problemDetail(_ body: [UInt8]) -> String? {
        guard !body.isEmpty, body.count < 65_536, let doc = try? JSON.parse(body) else { return nil }
        let text = doc["detail"]?.stringValue ?? doc["title"]?.stringValue
        return text.map { Printable.line($0, limit: 500) }
    }

    /// The body (canonical) and file name of a report owed to the unit.
    /// `embedsReceipt`: the verified receipt (stored with the outcome) goes in as the unit's
    /// proof; the body holds a placeholder for it until the report is written (ReportReceipt).
    private func report(_ job: DeliveryJob, kind: String, now: Millis, embedsReceipt: Bool = false, duplicate: Bool = false,
                        reason: String? = nil, status: Int? = nil) -> (body: String, file: String, embedsReceipt: Bool)? {
        let file = job.sourceFile ?? "\(job.messageId).json"
        var body: [String: JSON] = [
            "kind": .string(kind), "messageId": .string(job.messageId), "sender": .string(job.sender), "recipient": .string(job.recipient),
            "endpoint": .string(job.endpoint), "file": .string(file),
            "at": .string(RFC3339.format(millis: now)), "attempts": .number(Double(job.attempts + 1)), "gateway": .string(config.gatewayId),
            "digest": .string(job.contentDigest),
        ]
        if embedsReceipt { body["receipt"] = .string(ReportReceipt.placeholder) }
        if duplicate { body["duplicate"] = true }
        if let reason { body["reason"] = .string(String(reason.prefix(2000))) }
        if let status { body["httpStatus"] = .number(Double(status)) }
        do {
            return (try JSON.object(body).canonicalString(), ReportWriter.name(file: file, kind: kind, recipient: job.recipient), embedsReceipt)
        } catch {
            // Only strings and whole numbers go in: this cannot happen, but if it did the unit
            // would miss a report, so say so.
            logger.error("cannot make the report; the unit gets none for this outcome",
                         metadata: ["messageId": "\(job.messageId)", "recipient": "\(job.recipient)", "kind": "\(kind)", "error": "\(error)"])
            return nil
        }
    }

    /// Writes owed reports off the scheduler thread, coalescing bursts.
    private func flushReports(now: Bool = false) {
        if now {
            // At stop: a delayed flush still to come or under way goes first (at most its
            // delay), then everything recorded since is written (waiting for a flush another
            // thread runs).
            reportScheduled.wait()
            reports.flush(wait: true)
            return
        }
        let schedule = reportPending.withLock { p -> Bool in if p { return false }; p = true; return true }
        guard schedule else { return }
        // A short delay gathers the reports of several passes into one flush (one syncfs,
        // one transaction) under load.
        reportScheduled.enter()
        reportQueue.asyncAfter(deadline: .now() + .milliseconds(20)) { [reports, reportPending, reportScheduled] in
            reportPending.withLock { $0 = false }
            reports.flush()
            reportScheduled.leave()
        }
    }

    private func publishBreakers() {
        for (name, r) in runtimes where r.publishedBreaker != r.breaker.state.rawValue {
            runtimes[name]!.publishedBreaker = r.breaker.state.rawValue
            if r.publishedBreaker != nil || r.breaker.state != .closed {
                logger.notice("circuit breaker \(r.breaker.state.rawValue)", metadata: ["endpoint": "\(name)", "failures": "\(r.breaker.consecutiveFailures)"])
            }
            try? store.setEndpointState(name, breaker: r.breaker.state.rawValue, consecutiveFailures: r.breaker.consecutiveFailures)
        }
    }
}

extension QueueStore.Resolution {
    /// With the report owed for it: a canonical body and its file name.
    init(job: DeliveryJob, attempt: AttemptRecord?, resolution: DeliveryResolution, owing report: (body: String, file: String, embedsReceipt: Bool)?) {
        self.init(job: job, attempt: attempt, resolution: resolution, report: report?.body, reportFile: report?.file,
                  reportEmbedsReceipt: report?.embedsReceipt ?? false)
    }
}
