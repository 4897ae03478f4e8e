// Faults: what the control API can make an agency do wrong, and the dice that decide
// whether one request gets it.
//
// A fault set is set for one agency or for "*" (every agency without its own set). Setting
// a fault set replaces the previous one for that key: the body of `POST /faults` is the
// whole description, so a test never inherits a leftover rate from an earlier step.
import GatewayJSON

/// The faults configured for one agency (or "*").
public struct Faults: Sendable, Equatable {
    /// Fraction of requests answered with `status` (plus `Retry-After` if set).
    public var failRate: Double = 0
    public var status: Int = 503
    public var retryAfter: String?
    /// Fraction of requests held `stallSeconds` before they are answered.
    public var stallRate: Double = 0
    public var stallSeconds: Double = 0
    /// Fraction of requests whose connection is reset without an HTTP response.
    public var resetRate: Double = 0
    /// Receipts are served with a corrupted signature.
    public var badReceipt = false
    /// Every new connection is reset at once; requests on open connections too.
    public var down = false

    public init() {}

    /// Parses the JSON body of `POST /faults` (without its `agency` member).
    /// - Throws: a sentence naming the bad member.
    public init(json members: [String: JSON]) throws(FaultError) {
        let known: Set<String> = ["agency", "failRate", "status", "retryAfter", "stallRate", "stallSeconds",
                                  "resetRate", "badReceipt", "down"]
        if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw FaultError("unknown member \"\(unknown)\" (expected one of: \(known.sorted().joined(separator: ", ")))")
        }
        func rate(_ name: String) throws(FaultError) -> Double? {
            guard let value = members[name] else { return nil }
            guard case .number(let d) = value, d >= 0, d <= 1 else { throw FaultError("\(name) must be a number from 0 to 1") }
            return d
        }
        func flag(_ name: String) throws(FaultError) -> Bool {
            guard let value = members[name] else { return false }
            guard case .bool(let b) = value else { throw FaultError("\(name) must be true or false") }
            return b
        }
        failRate = try rate("failRate") ?? 0
        if let value = members["status"] {
            guard case .number(let d) = value, d == d.rounded(), d >= 100, d <= 599 else {
                throw FaultError("status must be an HTTP status code (100-599)")
            }
            status = Int(d)
        }
        switch members["retryAfter"] {
        case nil: retryAfter = nil
        case .string(let s)? where !s.isEmpty && s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }): retryAfter = s
        case .number(let d)? where d >= 0 && d == d.rounded(): retryAfter = String(Int(d))
        default: throw FaultError("retryAfter must be seconds (\"2\" or 2) or an HTTP date")
        }
        if let value = members["stallSeconds"] {
            guard case .number(let d) = value, d >= 0, d <= 3_600 else {
                throw FaultError("stallSeconds must be a number of seconds from 0 to 3600")
            }
            stallSeconds = d
        }
        // A stall without a rate means every request: the usual "exceed the client's timeout" test.
        stallRate = try rate("stallRate") ?? (stallSeconds > 0 ? 1 : 0)
        resetRate = try rate("resetRate") ?? 0
        badReceipt = try flag("badReceipt")
        down = try flag("down")
    }

    /// True when nothing is switched on.
    public var isEmpty: Bool { self == Faults() }

    public var json: JSON {
        var members: [String: JSON] = [
            "failRate": .number(failRate), "status": .number(Double(status)),
            "stallRate": .number(stallRate), "stallSeconds": .number(stallSeconds),
            "resetRate": .number(resetRate), "badReceipt": .bool(badReceipt), "down": .bool(down),
        ]
        if let retryAfter { members["retryAfter"] = .string(retryAfter) }
        return .object(members)
    }

    /// What happens to one request, decided once, up front.
    public struct Decision: Sendable {
        public var reset = false
        /// The reset is the `down` fault meeting a connection opened before it was set.
        public var down = false
        public var stall: Double?
        public var fail: (status: Int, retryAfter: String?)?
        public var badReceipt = false
    }

    /// Rolls the dice for one request. Down wins, then reset (no answer at all), then a
    /// stall, which may be followed by a failure status (stall then 503 is a real pattern).
    public func decide() -> Decision {
        var decision = Decision()
        decision.badReceipt = badReceipt
        if down || Self.roll(resetRate) {
            decision.reset = true
            decision.down = down
            return decision
        }
        if stallSeconds > 0, Self.roll(stallRate) { decision.stall = stallSeconds }
        if Self.roll(failRate) { decision.fail = (status, retryAfter) }
        return decision
    }

    /// Rate 1 always fires and rate 0 never does, whatever the random source.
    static func roll(_ rate: Double) -> Bool {
        rate >= 1 || (rate > 0 && Double.random(in: 0..<1) < rate)
    }
}

public struct FaultError: Swift.Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
