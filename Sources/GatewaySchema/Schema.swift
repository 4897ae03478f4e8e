// NAME
//   Schema: a compiled JSON Schema, ready to validate any number of instances from any
//   number of threads.
//
// DESCRIPTION
//   Compile once (SchemaRegistry.schema(_:) or .compile(_:)), validate many times. A
//   Schema is an immutable value over an immutable graph; each validate() call keeps its
//   working state on its own stack, so concurrent calls share nothing mutable.

import Foundation
import GatewayJSON

/// How a schema validates. Safety bounds have defaults that suit operational messages.
public struct ValidationOptions: Sendable {
    /// Assert `format` (date-time, email, uuid, …) instead of treating it as an annotation.
    public var formatAssertion: Bool
    /// Nested schema evaluations allowed (through applicators and `$ref`) before the
    /// validation stops with "schema recursion deeper than N". Bounds stack use.
    public var maxDepth: Int
    /// Subschema evaluations allowed per validation: bounds time on schemas whose
    /// applicators multiply (anyOf of anyOf of …).
    public var maxSteps: Int
    /// Wall-clock budget for regular-expression matching in one validation, in seconds;
    /// a match still running past it is stopped and the validation fails.
    public var patternTimeLimit: Double
    /// At most this many errors are reported (the validation still fails as a whole).
    public var maxErrors: Int

    public init(formatAssertion: Bool = false, maxDepth: Int = 256, maxSteps: Int = 2_000_000,
                patternTimeLimit: Double = 1.0, maxErrors: Int = 100) {
        self.formatAssertion = formatAssertion
        self.maxDepth = maxDepth
        self.maxSteps = maxSteps
        self.patternTimeLimit = patternTimeLimit
        self.maxErrors = maxErrors
    }
}

/// A compiled schema.
public struct Schema: Sendable {
    let graph: CompiledGraph
    /// The URI the schema was compiled from.
    public let uri: String
    public let options: ValidationOptions

    /// Validates `instance`, collecting errors in the shape of JSON Schema's "basic" output.
    public func validate(_ instance: JSON) -> ValidationResult {
        // The verdict is `isValid`'s, so the two always agree: collecting errors evaluates a
        // failing branch of anyOf/oneOf whole, and could reach a bound (steps) on an instance
        // the verdict alone passes. Errors are built only for an instance found invalid.
        if isValid(instance) { return ValidationResult(errors: []) }
        var evaluation = Evaluation(graph: graph, options: options, collectErrors: true)
        _ = evaluation.run(instance)   // for its errors: the verdict above decided
        var errors = evaluation.errors
        if let abort = evaluation.abort { errors = [abort] }
        if errors.isEmpty {
            // Never report "invalid" with no reason (the current keywords always give one).
            errors = [ValidationError(instanceLocation: "", keywordLocation: "", absoluteKeywordLocation: uri, keyword: "", message: "the value does not match the schema")]
        }
        // Objects are unordered, so errors come in no fixed order: sort by instance location
        // (stable, keeping the keyword order at one location) for reproducible reports.
        let ordered = errors.enumerated().sorted { a, b in
            a.element.instanceLocation != b.element.instanceLocation ? a.element.instanceLocation < b.element.instanceLocation : a.offset < b.offset
        }.map(\.element)
        // The same sentence at the same place twice (an envelope and a type schema both
        // saying "expected object") is noise: keep the first.
        var seen: Set<String> = []
        let distinct = ordered.filter { seen.insert($0.instanceLocation + "\u{0}" + $0.message).inserted }
        if evaluation.truncated && evaluation.abort == nil {
            let note = ValidationError(instanceLocation: "", keywordLocation: "", absoluteKeywordLocation: uri, keyword: "",
                                       message: "more than \(evaluation.errorLimit) problems: the rest are not listed")
            return ValidationResult(errors: Array(distinct.prefix(max(0, options.maxErrors - 1))) + [note])
        }
        return ValidationResult(errors: Array(distinct.prefix(options.maxErrors)))
    }

    /// Only whether `instance` is valid: faster, no error is built.
    public func isValid(_ instance: JSON) -> Bool {
        var evaluation = Evaluation(graph: graph, options: options, collectErrors: false)
        return evaluation.run(instance)
    }
}

extension SchemaRegistry {
    /// Compiles the registered schema at `uri` (a fragment may point inside it, as in `$ref`).
    public func schema(_ uri: String, options: ValidationOptions = ValidationOptions()) throws(SchemaError) -> Schema {
        guard let location = resolve(uri, base: uri) else {
            throw SchemaError(.unknownSchema, "no schema is registered as \(uri)", location: uri)
        }
        var compiler = SchemaCompiler(registry: self, options: options)
        let graph = try compiler.compile(root: location)
        return Schema(graph: graph, uri: uri, options: options)
    }

    /// Compiles a schema that is not registered (it may `$ref` registered ones), leaving the
    /// registry unchanged.
    public func compile(_ schema: JSON, uri: String? = nil, options: ValidationOptions = ValidationOptions()) throws(SchemaError) -> Schema {
        var scratch = self
        let registered = try scratch.add(schema, uri: uri)
        return try scratch.schema(registered, options: options)
    }
}
