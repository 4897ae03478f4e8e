import Foundation
import GatewayDaemon
import Testing

@Suite("delivery state machines (no I/O)")
struct StateMachineTests {
    @Test("status classification per SPEC §5")
    func classification() {
        for s in [200, 201, 202, 204] { #expect(OutcomeClassifier.classify(status: s, retryAfterHeader: nil) == .delivered(duplicate: false)) }
        #expect(OutcomeClassifier.classify(status: 409, retryAfterHeader: nil) == .delivered(duplicate: true))
        for s in [400, 401, 403, 404, 413, 415, 422] {
            guard case .permanent = OutcomeClassifier.classify(status: s, retryAfterHeader: nil) else { Issue.record("\(s) not permanent"); continue }
        }
        for s in [408, 425, 429, 500, 502, 503, 504] {
            guard case .transient = OutcomeClassifier.classify(status: s, retryAfterHeader: nil) else { Issue.record("\(s) not transient"); continue }
        }
        #expect(OutcomeClassifier.classify(status: 429, retryAfterHeader: "7") == .transient(reason: "HTTP 429 Too Many Requests", retryAfter: 7))
        let now = Date(timeIntervalSince1970: 1_795_953_600)
        #expect(OutcomeClassifier.parseRetryAfter("Sun, 29 Nov 2026 12:00:30 GMT", now: now) == 30)
        #expect(OutcomeClassifier.parseRetryAfter("soon") == nil)
        // An endpoint's number is honoured up to a day, however large (it overflowed a time before).
        #expect(OutcomeClassifier.parseRetryAfter("10000000000000000") == OutcomeClassifier.maxRetryAfter)
        #expect(OutcomeClassifier.parseRetryAfter("99999999999999999999999999") == OutcomeClassifier.maxRetryAfter)
        #expect(OutcomeClassifier.parseRetryAfter("3600") == 3600)
        #expect(OutcomeClassifier.parseRetryAfter("Fri, 31 Dec 9999 23:59:59 GMT", now: now) == OutcomeClassifier.maxRetryAfter)
        #expect(OutcomeClassifier.parseRetryAfter("-5") == nil)
    }

    @Test("backoff grows exponentially within bounds, with jitter, and Retry-After wins")
    func backoff() {
        let b = Backoff(initial: 1, maximum: 60, multiplier: 2, jitter: 0.2)
        #expect(b.delay(afterAttempt: 1, random: 0) == 1)
        #expect(b.delay(afterAttempt: 4, random: 0) == 8)
        #expect(b.delay(afterAttempt: 30, random: 0) == 60)
        #expect(b.delay(afterAttempt: 4, random: 1) == 6.4)
        #expect(b.delay(afterAttempt: 1, retryAfter: 120, random: 0) == 120)
        for attempt in 1...20 {
            let d = b.delay(afterAttempt: attempt)
            #expect(d >= 0.8 && d <= 60)
        }
    }

    @Test("circuit breaker: opens at the threshold, half-opens after openFor with one probe, closes on success, reopens on failure")
    func breaker() {
        var b = CircuitBreaker(failureThreshold: 3, openFor: 10)
        #expect(b.permits(now: 0, limit: 8) == 8)
        b.failed(now: 0); b.failed(now: 0)
        #expect(b.state == .closed)
        b.failed(now: 1)
        #expect(b.state == .open)
        #expect(b.permits(now: 5, limit: 8) == 0)
        #expect(b.waitTime(now: 5) == 6)
        #expect(b.permits(now: 11, limit: 8) == 1)
        #expect(b.state == .halfOpen)
        b.started()
        #expect(b.permits(now: 11, limit: 8) == 0, "one probe at a time")
        b.failed(now: 12)
        #expect(b.state == .open)
        #expect(b.permits(now: 23, limit: 8) == 1)
        b.started()
        b.succeeded()
        #expect(b.state == .closed && b.consecutiveFailures == 0)
    }

    @Test("rate limiter: a burst, then the rate")
    func rateLimiter() {
        var r = RateLimiter(rate: 100, burst: 10, now: 0)
        #expect(r.take(now: 0, limit: 50) == 10)
        #expect(r.take(now: 0, limit: 50) == 0)
        #expect(r.take(now: 0.05, limit: 50) == 5)
        #expect(r.take(now: 10, limit: 50) == 10, "the bucket holds at most the burst")
    }
}
