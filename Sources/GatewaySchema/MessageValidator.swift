// NAME
//   MessageValidator: the gateway's check of a unit's message against schemas/.
//
// DESCRIPTION
//   Loads the schemas directory once, compiles the envelope (which applies the type's body
//   schema itself, so body errors point at /body/...) and validates messages from any
//   thread. Format assertion is on: a createdAt of "yesterday" is an error, not an
//   annotation. Also validates any JSON against any loaded schema (gatewayctl validate)
//   and builds the NAME.error.json document (schemas/error.schema.json).
//
// SECURITY
//   Bytes are parsed by the strict I-JSON parser first (duplicate names, lone surrogates,
//   depth); validation is bounded (see Evaluation). Nothing here touches the network.

import Foundation
import GatewayJSON

/// Validates gateway messages (envelope + body) and other gateway documents.
public struct MessageValidator: Sendable {
    public static let envelopeURI = "https://gateway.example/schemas/envelope.schema.json"

    /// The registry the schemas were loaded into (meta-schemas included).
    public let registry: SchemaRegistry
    /// The compiled envelope schema.
    public let envelope: Schema
    public let options: ValidationOptions

    /// Loads every schema under `directory` (the project's `schemas/`) and compiles the envelope.
    public init(schemasDirectory directory: URL, options: ValidationOptions = MessageValidator.defaultOptions) throws(SchemaError) {
        var registry = SchemaRegistry()
        try registry.addDirectory(directory)
        try self.init(registry: registry, options: options)
    }

    /// Uses an already-loaded registry that holds the envelope schema.
    public init(registry: SchemaRegistry, envelopeURI: String = MessageValidator.envelopeURI,
                options: ValidationOptions = MessageValidator.defaultOptions) throws(SchemaError) {
        self.registry = registry
        self.options = options
        self.envelope = try registry.schema(envelopeURI, options: options)
    }

    /// Format assertion on; the other bounds at their defaults.
    public static let defaultOptions = ValidationOptions(formatAssertion: true)

    /// Validates a parsed message against the envelope and its type's body schema.
    public func validate(_ message: JSON) -> ValidationResult {
        envelope.validate(message)
    }

    /// Parses `bytes` as strict I-JSON and validates the message. A parse error is returned
    /// as a one-error result whose message carries the line and column.
    public func validate(bytes: some Collection<UInt8>) -> ValidationResult {
        do {
            return validate(try JSON.parse(bytes))
        } catch {
            return ValidationResult(errors: [ValidationError(instanceLocation: "", keywordLocation: "", absoluteKeywordLocation: "",
                                                             keyword: "json", message: "not valid I-JSON: \(error)")])
        }
    }

    /// Compiles a loaded schema by URI or name ("envelope", "receipt", "types/alert", a file
    /// name): for validating documents other than messages.
    public func schema(named name: String) throws(SchemaError) -> Schema {
        guard let uri = registry.uri(forName: name) else {
            throw SchemaError(.unknownSchema, "no schema named \"\(name)\" (known: \(registry.fileNames.keys.sorted().joined(separator: ", ")))", location: name)
        }
        return try registry.schema(uri, options: options)
    }

    // MARK: the rejected/NAME.error.json document

    /// The error document for a file refused at `stage` (see schemas/error.schema.json).
    public static func errorDocument(file: String, refusedAt: String, stage: String, messageId: String? = nil,
                                     errors: [ValidationError]) -> JSON {
        var members: [String: JSON] = [
            "file": .string(file),
            "refusedAt": .string(refusedAt),
            "stage": .string(stage),
            "errors": .array(errors.map { error in
                var unit: [String: JSON] = ["message": .string(error.description)]
                if !error.keywordLocation.isEmpty || !error.absoluteKeywordLocation.isEmpty {
                    unit["instanceLocation"] = .string(error.instanceLocation)
                    unit["keywordLocation"] = .string(error.keywordLocation)
                    unit["absoluteKeywordLocation"] = .string(error.absoluteKeywordLocation)
                }
                return .object(unit)
            }),
        ]
        if let messageId { members["messageId"] = .string(messageId) }
        return .object(members)
    }

    /// The error document for a file that is not I-JSON (stage "json"), with line and column.
    public static func errorDocument(file: String, refusedAt: String, parseError: JSONParseError) -> JSON {
        .object([
            "file": .string(file),
            "refusedAt": .string(refusedAt),
            "stage": "json",
            "errors": [.object([
                "message": .string("line \(parseError.line), column \(parseError.column): \(parseError.detail)"),
                "line": .number(Double(parseError.line)),
                "column": .number(Double(parseError.column)),
            ])],
        ])
    }
}
