// Why a spool file was refused, written beside it in rejected/ as NAME.error.json.

import GatewayJSON
import GatewayModel

public struct Refusal: Sendable, Error {
    public enum Stage: String, Sendable {
        /// Not a regular, single-link file within the size cap; a bad name.
        case file
        /// Not strict I-JSON.
        case json
        /// The schemas said no.
        case schema
        /// The sender is not the folder's unit.
        case sender
        /// A recipient without a route, or a classification above a route's ceiling.
        case routing
        /// An attachment's size or digest does not match its content.
        case attachment
        /// Already past its expiry at pickup.
        case expiry
        /// The same messageId was already accepted with other content.
        case duplicate
        /// Signing failed (a gateway problem, not the unit's).
        case signing
    }

    public struct Item: Sendable, Equatable {
        public var instanceLocation: String
        public var keywordLocation: String?
        public var absoluteKeywordLocation: String?
        public var message: String
        public var line: Int?
        public var column: Int?

        public init(_ instanceLocation: String, _ message: String, keywordLocation: String? = nil, absoluteKeywordLocation: String? = nil,
                    line: Int? = nil, column: Int? = nil) {
            self.instanceLocation = instanceLocation
            self.keywordLocation = keywordLocation
            self.absoluteKeywordLocation = absoluteKeywordLocation
            self.message = message
            self.line = line
            self.column = column
        }
    }

    public var stage: Stage
    public var items: [Item]
    public var messageId: String?
    /// For a refusal that depends on the configuration or the clock (routing, expiry): the
    /// message's content digest, so that a message already queued (its file back after a
    /// crash, or dropped again) is recognised as the duplicate it is rather than refused.
    public var contentDigest: String?

    public init(_ stage: Stage, _ items: [Item], messageId: String? = nil) {
        self.stage = stage
        self.items = items
        self.messageId = messageId
    }

    public init(_ stage: Stage, _ message: String, at location: String = "", messageId: String? = nil) {
        self.init(stage, [Item(location, message)], messageId: messageId)
    }

    /// The NAME.error.json document (schemas/error.schema.json).
    public func document(file: String, unit: String, refusedAt: Int64) -> JSON {
        var doc: [String: JSON] = [
            "file": .string(file), "unit": .string(unit), "refusedAt": .string(RFC3339.format(millis: refusedAt)),
            "stage": .string(stage.rawValue),
            "errors": .array(items.map { item in
                var e: [String: JSON] = ["instanceLocation": .string(item.instanceLocation), "message": .string(item.message)]
                if let k = item.keywordLocation { e["keywordLocation"] = .string(k) }
                if let a = item.absoluteKeywordLocation, !a.isEmpty { e["absoluteKeywordLocation"] = .string(a) }
                if let l = item.line { e["line"] = .number(Double(l)) }
                if let c = item.column { e["column"] = .number(Double(c)) }
                return .object(e)
            }),
        ]
        if let messageId { doc["messageId"] = .string(messageId) }
        return .object(doc)
    }

    /// One line for the log: the stage and the first problem's location (never content).
    public var summary: String {
        let first = items.first.map { "\($0.instanceLocation.isEmpty ? "(document)" : $0.instanceLocation)" } ?? ""
        return "\(stage.rawValue) \(first)\(items.count > 1 ? " (+\(items.count - 1) more)" : "")"
    }
}
