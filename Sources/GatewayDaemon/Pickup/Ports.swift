// The daemon's seams to the validator and the signer. The real ones (GatewaySchema and
// GatewayCrypto) are adapted in Services/ (SchemaMessageValidator, JWSGatewaySigner);
// tests may pass twins.

import GatewayJSON

/// One schema problem in a message, in JSON Schema's "basic" output shape.
public struct ValidationProblem: Sendable, Equatable {
    public var instanceLocation: String
    public var keywordLocation: String
    public var message: String
    public var absoluteKeywordLocation: String?

    public init(instanceLocation: String, keywordLocation: String, message: String, absoluteKeywordLocation: String? = nil) {
        self.instanceLocation = instanceLocation
        self.keywordLocation = keywordLocation
        self.message = message
        self.absoluteKeywordLocation = absoluteKeywordLocation
    }
}

/// Validates a message against the envelope and its type's schema.
public protocol MessageValidating: Sendable {
    func validate(message: JSON) -> [ValidationProblem]
    /// An equal validator that shares no mutable or reference-counted state with this one,
    /// for one pickup worker thread: threads validating through one shared compiled schema
    /// contend on its reference counts (≈ 10 % of the processing with two cores).
    func replica() throws -> any MessageValidating
}

extension MessageValidating {
    public func replica() throws -> any MessageValidating { self }
}

/// Signs canonical bytes as the gateway (JWS, flattened JSON serialisation).
public protocol GatewaySigning: Sendable {
    /// The wire form of the signed payload (the bytes POSTed to the endpoint).
    func sign(payload: [UInt8]) throws -> [UInt8]
    /// An equal signer (same key, same chain) for one thread, without shared caches.
    func replica() throws -> any GatewaySigning
    /// Why this signer cannot sign now (its certificate expired or revoked), nil when it can.
    var unavailable: String? { get }
}

extension GatewaySigning {
    public func replica() throws -> any GatewaySigning { self }
    /// Why this signer cannot sign now (its certificate expired or revoked), nil when it can.
    public var unavailable: String? { nil }
}
