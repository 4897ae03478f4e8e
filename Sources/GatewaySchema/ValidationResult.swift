// ValidationResult and ValidationError: what a validation says, shaped as JSON Schema's
// "basic" output format (2020-12 core §12.4.2): a flat list of errors, each with the
// instance location, the evaluation path and the absolute schema location, plus a sentence
// a person can act on.

import GatewayJSON

/// One reason an instance is invalid.
public struct ValidationError: Sendable, Hashable, CustomStringConvertible {
    /// JSON Pointer to the offending value in the instance ("" is the whole document).
    public let instanceLocation: String
    /// JSON Pointer along the evaluation path, through `$ref`s (e.g. "/properties/priority/enum").
    public let keywordLocation: String
    /// Absolute URI of the failing keyword in its schema document.
    public let absoluteKeywordLocation: String
    /// The failing keyword ("enum", "required", …).
    public let keyword: String
    /// A sentence saying what is wrong and what was expected.
    public let message: String

    public init(instanceLocation: String, keywordLocation: String, absoluteKeywordLocation: String, keyword: String, message: String) {
        self.instanceLocation = instanceLocation
        self.keywordLocation = keywordLocation
        self.absoluteKeywordLocation = absoluteKeywordLocation
        self.keyword = keyword
        self.message = message
    }

    /// "/recipients/0: "EU-INTERPOL" is not one of …"; the root shows as "/".
    public var description: String {
        "\(instanceLocation.isEmpty ? "/" : instanceLocation): \(message)"
    }

    /// This error as a "basic" output unit.
    public var json: JSON {
        .object([
            "instanceLocation": .string(instanceLocation),
            "keywordLocation": .string(keywordLocation),
            "absoluteKeywordLocation": .string(absoluteKeywordLocation),
            "error": .string(message),
        ])
    }
}

/// The outcome of a validation.
public struct ValidationResult: Sendable, CustomStringConvertible {
    public let errors: [ValidationError]

    public var isValid: Bool { errors.isEmpty }

    /// The "basic" output format: `{"valid": true}` or `{"valid": false, "errors": [...]}`.
    public var basicOutput: JSON {
        if isValid { return ["valid": true] }
        return .object(["valid": false, "errors": .array(errors.map(\.json))])
    }

    public var description: String {
        isValid ? "valid" : errors.map(\.description).joined(separator: "\n")
    }
}
