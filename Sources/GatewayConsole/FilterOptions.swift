// The filter options shared by queue list and the actions (hold, release, retry, cancel,
// requeue): state, recipient, sender, endpoint, priority, type, age or date range.

import ArgumentParser
import Foundation
import GatewayModel
import GatewayStore

struct FilterOptions: ParsableArguments {
    @Option(name: .long, parsing: .upToNextOption, help: "Delivery states (queued, sending, deferred, delivered, failed, held, cancelled, expired).")
    var state: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Recipients, e.g. EU-EUROPOL.")
    var recipient: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Sending units, e.g. PL-KGP.")
    var sender: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Endpoints by configured name, e.g. europol.")
    var endpoint: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Priorities (immediate, urgent, routine).")
    var priority: [String] = []

    @Option(name: .long, parsing: .upToNextOption, help: "Message types, e.g. alert.")
    var type: [String] = []

    @Option(name: .long, help: "Accepted at or after: an RFC 3339 time or a date (2026-11-01).")
    var since: String?

    @Option(name: .long, help: "Accepted before: an RFC 3339 time or a date.")
    var until: String?

    @Option(name: .customLong("older-than"), help: "Accepted longer ago than this age (30m, 2h, 3d).")
    var olderThan: String?

    @Option(name: .customLong("newer-than"), help: "Accepted within this age (30m, 2h, 3d).")
    var newerThan: String?

    func validate() throws {
        for s in state where DeliveryState(rawValue: s) == nil {
            throw ValidationError("unknown state \"\(s)\" (states: \(DeliveryState.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        for p in priority where Priority(rawValue: p) == nil {
            throw ValidationError("unknown priority \"\(p)\" (immediate, urgent, routine)")
        }
        _ = try filter(ids: [])
    }

    static func time(_ text: String, option: String) throws -> Int64 {
        if let ms = RFC3339.millis(text) { return ms }
        if let ms = RFC3339.millis(text + "T00:00:00Z") { return ms }
        throw ValidationError("\(option) \"\(text)\" is not a date (2026-11-01) or an RFC 3339 time (2026-11-01T08:00:00Z)")
    }

    static func age(_ text: String, option: String) throws -> Int64 {
        guard let s = Quantity.seconds(text) else { throw ValidationError("\(option) \"\(text)\" is not an age such as 30m, 2h or 3d") }
        return Int64(s * 1000)
    }

    /// The store's filter; `ids` are message ids or "#delivery" numbers.
    func filter(ids: [String], now: Int64 = Date().millis) throws -> DeliveryFilter {
        var f = DeliveryFilter()
        f.states = state.compactMap(DeliveryState.init(rawValue:))
        f.recipients = recipient
        f.senders = sender
        f.endpoints = endpoint
        f.priorities = priority.compactMap(Priority.init(rawValue:))
        f.types = type
        for id in ids {
            if id.hasPrefix("#"), let n = Int64(id.dropFirst()) { f.deliveryIds.append(n) } else { f.messageIds.append(id) }
        }
        if let since { f.acceptedFrom = try Self.time(since, option: "--since") }
        if let until { f.acceptedBefore = try Self.time(until, option: "--until") }
        if let olderThan {
            let cut = now - (try Self.age(olderThan, option: "--older-than"))
            f.acceptedBefore = min(f.acceptedBefore ?? cut, cut)
        }
        if let newerThan {
            let cut = now - (try Self.age(newerThan, option: "--newer-than"))
            f.acceptedFrom = max(f.acceptedFrom ?? cut, cut)
        }
        return f
    }
}
