// The circuit breaker of one endpoint, as a plain value: closed (sending), open (not
// sending until `openFor` has passed), half-open (one probe at a time; success closes,
// failure opens again). Only transient failures count: a permanent 4xx means the
// endpoint is up and answering.

public struct CircuitBreaker: Sendable, Equatable {
    public enum State: String, Sendable { case closed, open, halfOpen = "half-open" }

    public private(set) var state: State = .closed
    public private(set) var consecutiveFailures = 0
    public private(set) var openedAt: Double? = nil
    public private(set) var probeInFlight = false
    public private(set) var failureThreshold: Int
    public private(set) var openFor: Double

    public init(failureThreshold: Int, openFor: Double) {
        self.failureThreshold = max(1, failureThreshold)
        self.openFor = openFor
    }

    /// New limits from a reloaded configuration; the state is kept.
    public mutating func reconfigure(failureThreshold: Int, openFor: Double) {
        self.failureThreshold = max(1, failureThreshold)
        self.openFor = openFor
    }

    /// How many attempts may start now (at most `limit`); moves open → half-open when due.
    public mutating func permits(now: Double, limit: Int) -> Int {
        switch state {
        case .closed:
            return limit
        case .open:
            guard let openedAt, now - openedAt >= openFor else { return 0 }
            state = .halfOpen
            probeInFlight = false
            return permits(now: now, limit: limit)
        case .halfOpen:
            return probeInFlight ? 0 : min(1, limit)
        }
    }

    /// An attempt started (in half-open, it is the probe).
    public mutating func started() {
        if state == .halfOpen { probeInFlight = true }
    }

    public mutating func succeeded() {
        state = .closed
        consecutiveFailures = 0
        openedAt = nil
        probeInFlight = false
    }

    public mutating func failed(now: Double) {
        consecutiveFailures += 1
        probeInFlight = false
        if state == .halfOpen || consecutiveFailures >= failureThreshold {
            state = .open
            openedAt = now
        }
    }

    /// Seconds until an open breaker lets a probe through (0 when not open).
    public func waitTime(now: Double) -> Double {
        guard state == .open, let openedAt else { return 0 }
        return max(0, openFor - (now - openedAt))
    }
}
