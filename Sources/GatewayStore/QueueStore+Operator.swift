// The operator's changes (gatewayctl hold, release, retry, cancel, requeue): each applies
// to the deliveries a filter selects, in transactions of a few thousand deliveries (a
// million-delivery cancel must not hold the queue's one writer for long: the daemon's
// commits wait behind it), with one audit record per delivery carrying the operator's name. Deliveries the action does not apply to (a
// delivered one cannot be held) are left alone and counted.

import Foundation
import GRDB
import GatewayJSON
import GatewayModel

public enum OperatorAction: String, Sendable, CaseIterable {
    case hold, release, retry, cancel, requeue

    /// The states the action applies to, and the state it moves them to.
    public var from: [DeliveryState] {
        switch self {
        case .hold: return [.queued, .deferred]
        case .release: return [.held]
        case .retry: return [.deferred]
        case .cancel: return [.queued, .deferred, .held, .failed]
        case .requeue: return [.failed]
        }
    }

    public var to: DeliveryState {
        switch self {
        case .hold: return .held
        case .release, .retry, .requeue: return .queued
        case .cancel: return .cancelled
        }
    }

    var auditEvent: String {
        switch self {
        case .hold: return "held"
        case .release: return "released"
        case .retry: return "retried"
        case .cancel: return "cancelled"
        case .requeue: return "requeued"
        }
    }
}

public struct OperatorResult: Sendable, Equatable {
    /// Deliveries changed.
    public var changed: Int
    /// Deliveries the filter selected that were in a state the action does not apply to.
    public var skipped: Int
    /// Of `skipped`: deliveries that would go back to the queue but whose recipient has no
    /// route in the configuration any more (they would wait there for nothing).
    public var unrouted: Int

    public init(changed: Int, skipped: Int, unrouted: Int = 0) {
        self.changed = changed
        self.skipped = skipped
        self.unrouted = unrouted
    }
}

extension QueueStore {
    /// How many deliveries `filter` selects that `action` would change (with `routes`, as
    /// `apply` would: those going back to the queue without a route are `unrouted`).
    public func count(_ action: OperatorAction, filter: DeliveryFilter, routes: [String: String]? = nil) throws -> OperatorResult {
        try pool.read { db in
            let (clause, args) = filter.whereClause()
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM delivery d JOIN message m ON m.id = d.message WHERE \(clause)", arguments: args) ?? 0
            var f = filter
            f.states = action.from.filter { filter.states.isEmpty || filter.states.contains($0) }
            let (c2, a2) = f.whereClause()
            let applicable = f.states.isEmpty ? 0 : try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM delivery d JOIN message m ON m.id = d.message WHERE \(c2)", arguments: a2) ?? 0
            var unrouted = 0
            if let routes, action.to == .queued, applicable > 0 {
                var a3 = a2
                let known = routes.keys.sorted()
                for r in known { _ = a3.append(contentsOf: [r]) }
                let notIn = known.isEmpty ? "" : " AND d.recipient NOT IN (\(Array(repeating: "?", count: known.count).joined(separator: ",")))"
                unrouted = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM delivery d JOIN message m ON m.id = d.message WHERE \(c2)\(notIn)", arguments: a3) ?? 0
            }
            return OperatorResult(changed: applicable - unrouted, skipped: total - applicable + unrouted, unrouted: unrouted)
        }
    }

    /// The newest delivery's number (0 when there is none): see `DeliveryFilter.upToDeliveryId`.
    public func highestDeliveryId() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM delivery") ?? 0 }
    }

    /// Applies `action` to what `filter` selects, `chunk` deliveries a transaction. `report`
    /// gives the body of a report owed to the unit for each change (a cancellation, say), or nil.
    /// `routes` (recipient → endpoint, the configuration's): deliveries going back to the
    /// queue take their recipient's endpoint now (a route moved since they were queued), and
    /// those whose recipient has none are left as they are (`unrouted`).
    @discardableResult
    public func apply(_ action: OperatorAction, filter: DeliveryFilter, actor: String, reason: String? = nil,
                      now: Millis = Date().millis, chunk: Int = 2_000, routes: [String: String]? = nil,
                      report: (@Sendable (ChangedDelivery) -> String?)? = nil) throws -> OperatorResult {
        var total = OperatorResult(changed: 0, skipped: 0)
        var after: Int64 = 0
        while true {
            let (result, last, full) = try applyChunk(action, filter: filter, after: after, limit: chunk, actor: actor, reason: reason, now: now,
                                                      routes: action.to == .queued ? routes : nil, report: report)
            total.changed += result.changed
            total.skipped += result.skipped
            total.unrouted += result.unrouted
            guard full, let last else { return total }
            after = last
        }
    }

    /// One transaction of `apply`: the selected deliveries numbered above `after`, at most
    /// `limit`; returns what it did, the last number it looked at, and whether it was full.
    private func applyChunk(_ action: OperatorAction, filter: DeliveryFilter, after: Int64, limit: Int, actor: String, reason: String?,
                            now: Millis, routes: [String: String]?,
                            report: (@Sendable (ChangedDelivery) -> String?)?) throws -> (OperatorResult, Int64?, Bool) {
        try pool.write { db in
            let (clause, args) = filter.whereClause()
            var arguments = args
            _ = arguments.append(contentsOf: [after, limit])
            let rows = try Row.fetchAll(db, sql: """
                SELECT d.id, d.state, d.recipient, d.endpoint, d.message, m.sender, m.message_id, m.source_file, m.content_digest
                FROM delivery d JOIN message m ON m.id = d.message WHERE \(clause) AND d.id > ? ORDER BY d.id LIMIT ?
                """, arguments: arguments)
            var audit = try AuditAppender(db, at: now)
            let update = try db.cachedStatement(sql: "UPDATE delivery SET state = ?, next_attempt_at = ?, updated_at = ?, reason = ?, endpoint = ? WHERE id = ?")
            var changed = 0
            var unrouted = 0
            let why = reason ?? "\(action.rawValue) by \(actor)"
            for row in rows {
                let state = DeliveryState(rawValue: row["state"]) ?? .queued
                guard action.from.contains(state), state.canMove(to: action.to) else { continue }
                let id: Int64 = row["id"]
                let recipient: String = row["recipient"]
                let was: String = row["endpoint"]
                var endpoint = was
                if let routes {
                    guard let now = routes[recipient] else {
                        unrouted += 1
                        continue
                    }
                    endpoint = now
                }
                try update.execute(arguments: [action.to.rawValue, action.to == .queued ? now : nil, now, why, endpoint, id])
                let change = ChangedDelivery(deliveryId: id, messageRowId: row["message"], sender: row["sender"],
                                             messageId: row["message_id"], recipient: recipient, endpoint: endpoint,
                                             from: state, to: action.to, reason: why,
                                             sourceFile: row["source_file"], contentDigest: row["content_digest"])
                var details: [String: JSON] = ["from": .string(state.rawValue), "to": .string(action.to.rawValue), "reason": .string(why)]
                if endpoint != was { details["endpoint"] = .string("\(was) → \(endpoint)") }
                try audit.append(AuditEvent(action.auditEvent, actor: actor, sender: change.sender, messageId: change.messageId,
                                            recipient: change.recipient, details: details), in: db)
                if let body = report?(change) {
                    try Self.oweReport(db, unit: change.sender, kind: action.auditEvent, message: change.messageRowId,
                                       recipient: change.recipient, body: body, now: now)
                }
                changed += 1
            }
            let last: Int64? = rows.last?["id"]
            return (OperatorResult(changed: changed, skipped: rows.count - changed, unrouted: unrouted), last, rows.count == limit)
        }
    }
}

/// A delivery an operator action changed.
public struct ChangedDelivery: Sendable, Equatable {
    public var deliveryId: Int64
    public var messageRowId: Int64
    public var sender: String
    public var messageId: String
    public var recipient: String
    public var endpoint: String
    public var from: DeliveryState
    public var to: DeliveryState
    public var reason: String
    /// The unit's file the message came in (its reports are named after it).
    public var sourceFile: String?
    public var contentDigest: String
}

/// Deliveries waiting to be sent (queued or deferred) that share what routing decides on.
public struct PendingRoute: Sendable, Equatable {
    public var recipient: String
    public var endpoint: String
    public var classification: String
    public var count: Int
}

extension QueueStore {
    /// The reason with which gatewayd holds a delivery its configuration does not allow (a
    /// route gone, a ceiling lowered): those, and only those, it releases itself when a
    /// later configuration allows them again. An operator's holds are the operator's.
    public static let gatewayHoldPrefix = "held by gatewayd: "

    /// Which deliveries a routing check looks at: the waiting ones, or those gatewayd held.
    private enum RoutingSet {
        case waiting, heldByGateway

        var condition: (sql: String, arguments: StatementArguments) {
            switch self {
            case .waiting: return ("d.state IN ('queued', 'deferred')", [])
            case .heldByGateway: return ("d.state = 'held' AND substr(d.reason, 1, ?) = ?", [QueueStore.gatewayHoldPrefix.count, QueueStore.gatewayHoldPrefix])
            }
        }
    }

    /// A set's deliveries by recipient, endpoint and classification (a few hundred groups
    /// however many deliveries).
    private func routeGroups(_ set: RoutingSet) throws -> [PendingRoute] {
        let (condition, arguments) = set.condition
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT d.recipient, d.endpoint, m.classification, count(*) AS n FROM delivery d JOIN message m ON m.id = d.message
                WHERE \(condition) GROUP BY d.recipient, d.endpoint, m.classification
                """, arguments: arguments)
                .map { PendingRoute(recipient: $0["recipient"], endpoint: $0["endpoint"], classification: $0["classification"], count: $0["n"]) }
        }
    }

    /// Up to `limit` ids of one group of a set, numbered above `after`, in order.
    private func routeGroupIds(_ set: RoutingSet, _ group: PendingRoute, after: Int64, limit: Int) throws -> [Int64] {
        let (condition, arguments) = set.condition
        var all = arguments
        _ = all.append(contentsOf: [group.recipient, group.endpoint, group.classification, after, limit])
        return try pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT d.id FROM delivery d JOIN message m ON m.id = d.message
                WHERE \(condition) AND d.recipient = ? AND d.endpoint = ? AND m.classification = ? AND d.id > ?
                ORDER BY d.id LIMIT ?
                """, arguments: all)
        }
    }

    /// The waiting deliveries by recipient, endpoint and classification, for checking them
    /// against a new configuration.
    public func pendingRoutes() throws -> [PendingRoute] { try routeGroups(.waiting) }

    /// Up to `limit` ids of the waiting deliveries of one such group.
    public func pendingIds(_ group: PendingRoute, limit: Int) throws -> [Int64] {
        try routeGroupIds(.waiting, group, after: 0, limit: limit)
    }

    /// Deliveries gatewayd held (`gatewayHoldPrefix`), by recipient, endpoint and classification.
    public func gatewayHeldRoutes() throws -> [PendingRoute] { try routeGroups(.heldByGateway) }

    /// Up to `limit` ids of one group of deliveries gatewayd held, numbered above `after`.
    public func gatewayHeldIds(_ group: PendingRoute, after: Int64, limit: Int) throws -> [Int64] {
        try routeGroupIds(.heldByGateway, group, after: after, limit: limit)
    }

    /// Moves waiting deliveries to another endpoint (their recipient's route changed), each
    /// audited as "rerouted"; those no longer waiting (sent meanwhile) are left. Returns how
    /// many moved.
    @discardableResult
    public func reroute(_ changes: [(deliveryId: Int64, endpoint: String)], actor: String, reason: String, now: Millis = Date().millis) throws -> Int {
        guard !changes.isEmpty else { return 0 }
        return try pool.write { db in
            var audit = try AuditAppender(db, at: now)
            let read = try db.cachedStatement(sql: """
                SELECT d.endpoint, d.recipient, m.sender, m.message_id FROM delivery d JOIN message m ON m.id = d.message
                WHERE d.id = ? AND d.state IN ('queued', 'deferred')
                """)
            let update = try db.cachedStatement(sql: "UPDATE delivery SET endpoint = ?, updated_at = ?, reason = ? WHERE id = ?")
            var moved = 0
            for change in changes {
                guard let row = try Row.fetchOne(read, arguments: [change.deliveryId]) else { continue }
                let from: String = row["endpoint"]
                try update.execute(arguments: [change.endpoint, now, reason, change.deliveryId])
                try audit.append(AuditEvent("rerouted", actor: actor, sender: row["sender"], messageId: row["message_id"], recipient: row["recipient"],
                                            details: ["from": .string(from), "to": .string(change.endpoint), "reason": .string(reason)]), in: db)
                moved += 1
            }
            return moved
        }
    }
}

extension QueueStore {
    /// A value the daemon keeps between runs (nil when never set).
    public func setting(_ key: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM setting WHERE key = ?", arguments: [key]) }
    }

    public func setSetting(_ key: String, _ value: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
        }
    }
}
