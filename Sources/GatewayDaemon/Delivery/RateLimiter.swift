// A token bucket: `rate` requests per second, bursts of up to `burst`.

public struct RateLimiter: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    private var tokens: Double
    private var last: Double

    public init(rate: Double, burst: Double? = nil, now: Double) {
        self.rate = rate
        self.burst = max(1, burst ?? max(1, rate / 10))
        tokens = self.burst
        last = now
    }

    /// How many requests may start now (taking their tokens), at most `limit`.
    public mutating func take(now: Double, limit: Int) -> Int {
        tokens = min(burst, tokens + (now - last) * rate)
        last = now
        let n = min(limit, Int(tokens))
        tokens -= Double(n)
        return max(0, n)
    }

    /// Returns tokens taken but not used (fewer deliveries were due than allowed).
    public mutating func giveBack(_ n: Int) {
        tokens = min(burst, tokens + Double(max(0, n)))
    }

    /// Seconds until one more token is there.
    public func waitTime() -> Double {
        tokens >= 1 ? 0 : (1 - tokens) / rate
    }
}
