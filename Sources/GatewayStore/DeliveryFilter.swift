// Which deliveries an operator means: the filter behind `gatewayctl queue list`, hold,
// release, retry, cancel and requeue. Turned into one parameterised WHERE clause.

import GRDB
import GatewayModel

public struct DeliveryFilter: Sendable, Equatable {
    public var states: [DeliveryState] = []
    public var recipients: [String] = []
    public var senders: [String] = []
    public var endpoints: [String] = []
    public var priorities: [Priority] = []
    public var types: [String] = []
    /// A message id (the unit's), or "#<row>" for the queue's own delivery id.
    public var messageIds: [String] = []
    public var deliveryIds: [Int64] = []
    /// Accepted at or after / before (milliseconds).
    public var acceptedFrom: Millis? = nil
    public var acceptedBefore: Millis? = nil
    /// Deliveries made up to this one only: an operator's action applies to what was
    /// counted and confirmed, not to messages accepted while the operator read the count.
    public var upToDeliveryId: Int64? = nil
    /// Deliveries whose reason starts so (gatewayd releasing its own holds checks, in the
    /// same transaction, that an operator has not held one since with a reason of theirs).
    public var reasonPrefix: String? = nil

    public init() {}

    public var isEmpty: Bool { self == DeliveryFilter() }

    /// SQL over `delivery d JOIN message m`, with its arguments.
    func whereClause() -> (String, StatementArguments) {
        var parts: [String] = []
        var args = StatementArguments()
        func list(_ column: String, _ values: [some DatabaseValueConvertible]) {
            guard !values.isEmpty else { return }
            parts.append("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))")
            for v in values { _ = args.append(contentsOf: [v]) }
        }
        list("d.state", states.map(\.rawValue))
        list("d.recipient", recipients)
        list("m.sender", senders)
        list("d.endpoint", endpoints)
        list("d.priority_rank", priorities.map(\.rank))
        list("m.type", types)
        list("m.message_id", messageIds)
        list("d.id", deliveryIds)
        if let acceptedFrom {
            parts.append("d.accepted_at >= ?")
            _ = args.append(contentsOf: [acceptedFrom])
        }
        if let acceptedBefore {
            parts.append("d.accepted_at < ?")
            _ = args.append(contentsOf: [acceptedBefore])
        }
        if let upToDeliveryId {
            parts.append("d.id <= ?")
            _ = args.append(contentsOf: [upToDeliveryId])
        }
        if let reasonPrefix {
            parts.append("substr(d.reason, 1, ?) = ?")
            _ = args.append(contentsOf: [reasonPrefix.count, reasonPrefix])
        }
        return (parts.isEmpty ? "1" : parts.joined(separator: " AND "), args)
    }
}
