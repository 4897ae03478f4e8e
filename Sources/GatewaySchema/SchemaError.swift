// SchemaError: why a schema cannot be registered or compiled. Raised at load time, never
// while validating a message: a schema problem is the operator's, not the unit's.

/// A schema could not be loaded, registered or compiled.
public struct SchemaError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case unreadable
        case invalidJSON
        case duplicateURI
        case unresolvedReference
        case invalidKeyword
        case invalidPattern
        case tooDeep
        case unknownSchema
    }

    public let kind: Kind
    public let message: String
    /// The URI (with a JSON Pointer fragment) or file path where the problem is.
    public let location: String

    init(_ kind: Kind, _ message: String, location: String) {
        self.kind = kind
        self.message = message
        self.location = location
    }

    public var description: String { "\(location): \(message)" }
}
