// MockState: everything the mock remembers at run time: what each agency received (for
// de-duplication and for the tests' `GET /received`), counters, and the faults in force.
//
// One lock guards it all. Each critical section is a few dictionary operations (the
// cryptography runs outside), so at the several thousand requests a second this mock
// sees on two cores, contention is negligible; an actor would add a hop per request.
import Foundation
import GatewayJSON
import GatewayModel

public final class MockState: @unchecked Sendable {
    /// One message as an agency saw it.
    struct Record {
        let messageId: String
        let sender: String
        let digest: String
        let priority: String?
        /// The receipt sent the first time, replayed byte for byte on a 409.
        let receipt: [UInt8]
        var count: Int
        let firstAt: Int64
        var lastAt: Int64

        var json: JSON {
            .object([
                "messageId": .string(messageId), "sender": .string(sender), "digest": .string(digest),
                "count": .number(Double(count)), "firstAt": .string(RFC3339.format(millis: firstAt)),
                "lastAt": .string(RFC3339.format(millis: lastAt)), "priority": priority.map { .string($0) } ?? .null,
            ])
        }
    }

    struct Ledger {
        var records: [String: Record] = [:]
        /// Message ids in the order first received (dictionary order is arbitrary).
        var order: [String] = []
        var received = 0
        var duplicates = 0
        var rejected: [String: Int] = [:]
        var faults: [String: Int] = [:]
        /// Requests by protocol ("HTTP/1.1", "HTTP/2").
        var protocols: [String: Int] = [:]

        var statsJSON: JSON {
            .object([
                "received": .number(Double(received)), "duplicates": .number(Double(duplicates)),
                "rejected": .object(rejected.mapValues { .number(Double($0)) }),
                "faults": .object(faults.mapValues { .number(Double($0)) }),
                "messages": .number(Double(order.count)),
                "protocols": .object(protocols.mapValues { .number(Double($0)) }),
            ])
        }
    }

    /// The outcome of de-duplication by Idempotency-Key.
    public enum Deduplication: Sendable, Equatable {
        /// Not seen before (and, after `insert`, now recorded).
        case new
        /// Seen with the same digest: answer 409 with this receipt.
        case duplicate(receipt: [UInt8])
        /// Seen with another digest: the key is being reused for a different message.
        case conflict(existingDigest: String)
    }

    public static let allAgencies = "*"

    private let lock = NSLock()
    private let agencyIDs: [String]
    private var ledgers: [String: Ledger]
    private var faultSets: [String: Faults] = [:]

    public init(agencies: [String]) {
        agencyIDs = agencies
        ledgers = Dictionary(uniqueKeysWithValues: agencies.map { ($0, Ledger()) })
    }

    public func knows(agency: String) -> Bool { ledgers[agency] != nil }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: faults

    /// The agency's own fault set, else the one for "*", else none.
    public func faults(for agency: String) -> Faults {
        locked { faultSets[agency] ?? faultSets[Self.allAgencies] ?? Faults() }
    }

    public func setFaults(_ faults: Faults, for key: String) {
        locked { faultSets[key] = faults.isEmpty ? nil : faults }
    }

    /// Clears one key's faults, or all of them when `key` is nil.
    public func clearFaults(_ key: String?) {
        locked {
            if let key { faultSets[key] = nil } else { faultSets.removeAll() }
        }
    }

    public var faultsJSON: JSON {
        locked { .object(faultSets.mapValues(\.json)) }
    }

    // MARK: messages

    /// Looks the key up; a duplicate is counted (count, lastAt, duplicates) as it is answered.
    public func check(agency: String, messageId: String, digest: String, at now: Int64) -> Deduplication {
        locked { Self.match(&ledgers[agency, default: Ledger()], messageId: messageId, digest: digest, at: now) ?? .new }
    }

    /// Records a new message with its receipt, unless a concurrent request with the same key
    /// got there first (then that one's answer applies to this request too).
    public func insert(agency: String, messageId: String, sender: String, digest: String, priority: String?,
                       receipt: [UInt8], at now: Int64) -> Deduplication {
        locked {
            if let existing = Self.match(&ledgers[agency, default: Ledger()], messageId: messageId, digest: digest, at: now) {
                return existing
            }
            ledgers[agency, default: Ledger()].records[messageId] = Record(
                messageId: messageId, sender: sender, digest: digest, priority: priority, receipt: receipt,
                count: 1, firstAt: now, lastAt: now)
            ledgers[agency, default: Ledger()].order.append(messageId)
            ledgers[agency, default: Ledger()].received += 1
            return .new
        }
    }

    private static func match(_ ledger: inout Ledger, messageId: String, digest: String, at now: Int64) -> Deduplication? {
        guard var record = ledger.records[messageId] else { return nil }
        guard record.digest == digest else { return .conflict(existingDigest: record.digest) }
        record.count += 1
        record.lastAt = now
        ledger.records[messageId] = record
        ledger.duplicates += 1
        return .duplicate(receipt: record.receipt)
    }

    public func countRejection(agency: String, reason: String) {
        locked { ledgers[agency, default: Ledger()].rejected[reason, default: 0] += 1 }
    }

    public func countRequest(agency: String, protocol name: String) {
        locked { ledgers[agency, default: Ledger()].protocols[name, default: 0] += 1 }
    }

    public func countFault(agency: String, kind: String) {
        locked { ledgers[agency, default: Ledger()].faults[kind, default: 0] += 1 }
    }

    // MARK: reports

    /// `[{messageId, sender, digest, count, firstAt, lastAt, priority}]` in order of arrival.
    public func receivedJSON(agency: String) -> JSON {
        locked {
            guard let ledger = ledgers[agency] else { return .array([]) }
            return .array(ledger.order.compactMap { ledger.records[$0]?.json })
        }
    }

    /// `{"EU-EUROPOL": {received, duplicates, rejected: {reason: n}, faults: {kind: n}, messages, protocols: {"HTTP/2": n}}, ...}`
    public var statsJSON: JSON {
        locked { .object(ledgers.mapValues(\.statsJSON)) }
    }

    /// Forgets everything: received messages, counters and faults.
    public func reset() {
        locked {
            ledgers = Dictionary(uniqueKeysWithValues: agencyIDs.map { ($0, Ledger()) })
            faultSets.removeAll()
        }
    }
}
