// Exponential backoff with jitter between configured bounds; Retry-After wins when it
// asks for longer (never shorter than the server asked, never longer than the maximum
// unless the server asked for it).

public struct Backoff: Sendable, Equatable {
    public var initial: Double
    public var maximum: Double
    public var multiplier: Double
    /// Fraction of the delay randomised, 0 … 1: delay × (1 − jitter … 1).
    public var jitter: Double

    public init(initial: Double, maximum: Double, multiplier: Double = 2, jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// Seconds before attempt number `attempt + 1` (`attempt` ≥ 1 attempts made so far).
    public func delay(afterAttempt attempt: Int, retryAfter: Double? = nil, random: Double = Double.random(in: 0...1)) -> Double {
        let exponent = Double(max(0, attempt - 1))
        var d = min(maximum, initial * pow(multiplier, min(exponent, 64)))
        d *= 1 - jitter * random
        d = max(d, min(initial, maximum) * (1 - jitter))
        if let retryAfter { d = max(d, retryAfter) }
        return d
    }
}

import Foundation
