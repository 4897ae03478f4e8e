// The filter options shared by queue list and the actions (hold, release, retry, cancel,
// requeue): state, recipient, sender, endpoint, priority, type, age or date range.
// Each option takes one value (repeat it, or separate values with commas): an option that
// took every word up to the next option would swallow the message ids after it, and
// `cancel --recipient EU-OLAF olaf-1` would cancel everything to EU-OLAF.

import ArgumentParser
import Foundation
import GatewayModel
import GatewayStore

struct FilterOptions: ParsableArguments {
    @Option(name: .long, help: "A delivery state (queued, sending, deferred, delivered, failed, held, cancelled, expired); repeat it or separate with commas.")
    var state: [String] = []

    @Option(name: .long, help: "A recipient, e.g. EU-EUROPOL; repeat it or separate with commas.")
    var recipient: [String] = []

    @Option(name: .long, help: "A sending unit, e.g. PL-KGP; repeat it or separate with commas.")
    var sender: [String] = []

    @Option(name: .long, help: "An endpoint by configured name, e.g. europol; repeat it or separate with commas.")
    var endpoint: [String] = []

    @Option(name: .long, help: "A priority (immediate, urgent, routine); repeat it or separate with commas.")
    var priority: [String] = []

    @Option(name: .long, help: "A message type, e.g. alert; repeat it or separate with commas.")
    var type: [String] = []

    @Option(name: .long, help: "Accepted at or after: an RFC 3339 time or a date (2026-11-01).")
    var since: String?

    @Option(name: .long, help: "Accepted before: an RFC 3339 time or a date.")
    var until: String?

    @Option(name: .customLong("older-than"), help: "Accepted longer ago than this age (30m, 2h, 3d).")
    var olderThan: String?

    @Option(name: .customLong("newer-than"), help: "Accepted within this age (30m, 2h, 3d).")
    var newerThan: String?

    /// "a,b" and "c" → ["a", "b", "c"].
    static func values(_ given: [String]) -> [String] {
        given.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
    }

    func validate() throws {
        for s in Self.values(state) where DeliveryState(rawValue: s) == nil {
            throw ValidationError("unknown state \"\(s)\" (states: \(DeliveryState.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        for p in Self.values(priority) where Priority(rawValue: p) == nil {
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
        // Ages beyond any queue's (a thousand years) would overflow the arithmetic.
        guard s >= 0 && s <= 1000 * 366 * 86_400 else { throw ValidationError("\(option) \"\(text)\" is not an age from 0 to 1000 years") }
        return Int64(s * 1000)
    }

    /// The store's filter; `ids` are message ids or "#delivery" numbers.
    func filter(ids: [String], now: Int64 = Date().millis) throws -> DeliveryFilter {
        var f = DeliveryFilter()
        f.states = Self.values(state).compactMap(DeliveryState.init(rawValue:))
        f.recipients = Self.values(recipient)
        f.senders = Self.values(sender)
        f.endpoints = Self.values(endpoint)
        f.priorities = Self.values(priority).compactMap(Priority.init(rawValue:))
        f.types = Self.values(type)
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
