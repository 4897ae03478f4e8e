// NAME
//   Evaluation: one validation of one instance against a CompiledGraph.
//
// DESCRIPTION
//   Walks the graph node by node, keeping the instance path and the evaluation path as
//   stacks (rendered only when an error is recorded), the dynamic scope for `$dynamicRef`,
//   and the annotations that `unevaluatedItems`/`unevaluatedProperties` read. Annotations
//   are collected only below a node that needs them, so ordinary schemas pay nothing.
//   The keywords themselves are in Evaluation+Applicator.swift and
//   Evaluation+Validation.swift.
//
// SECURITY
//   The instance is hostile. Every bound ends the validation with an error, never a crash
//   or a hang: nesting of evaluations (maxDepth: stack), total subschema evaluations
//   (maxSteps: time, e.g. a `$ref` cycle that consumes no input, or multiplying anyOfs),
//   regular-expression time (patternTimeLimit, see PatternRegex), and uniqueItems hashes.

import Foundation
import GatewayJSON

/// A step of the instance path.
enum PathToken {
    case key(String)
    case index(Int)
}

/// What the in-place subschemas of one node evaluated (for the unevaluated* keywords).
struct Annotations {
    var properties: Set<String> = []
    var allProperties = false
    var itemsPrefix = 0
    var allItems = false
    var items: Set<Int> = []

    mutating func merge(_ other: Annotations) {
        if other.allProperties { allProperties = true } else if !other.properties.isEmpty { properties.formUnion(other.properties) }
        itemsPrefix = max(itemsPrefix, other.itemsPrefix)
        if other.allItems { allItems = true }
        if !other.items.isEmpty { items.formUnion(other.items) }
    }

    func hasEvaluated(property: String) -> Bool { allProperties || properties.contains(property) }
    func hasEvaluated(item index: Int) -> Bool { allItems || index < itemsPrefix || items.contains(index) }
}

struct Evaluation {
    let graph: CompiledGraph
    let options: ValidationOptions
    let patternDeadline: DispatchTime

    var instancePath: [PathToken] = []
    var keywordPath: [String] = []
    var errors: [ValidationError] = []
    /// False inside `not`, `if`, `contains`: only the verdict matters there.
    var collecting: Bool
    var depth = 0
    var steps = 0
    var dynamicScope: [Int] = []
    /// Set when a safety bound stops the validation; it is then the only error reported.
    private(set) var abort: ValidationError?
    /// `abort != nil`, as a plain flag: tested after every keyword, where comparing the
    /// optional struct showed in profiles.
    var aborted = false
    /// Errors no longer recorded past `errorLimit` (a hostile instance with millions of
    /// unknown members would otherwise make millions of errors to sort). The evaluation goes
    /// on for its verdict (a branch of anyOf that failed with many errors may be followed by
    /// one that matches); only errors are no longer built.
    var truncated = false
    var errorLimit: Int { max(options.maxErrors * 10, 1_000) }

    init(graph: CompiledGraph, options: ValidationOptions, collectErrors: Bool) {
        self.graph = graph
        self.options = options
        self.collecting = collectErrors
        self.patternDeadline = DispatchTime.now() + options.patternTimeLimit
        instancePath.reserveCapacity(16)
        keywordPath.reserveCapacity(32)
    }

    mutating func run(_ instance: JSON) -> Bool {
        var none: Annotations? = nil
        let valid = evaluate(graph.root, instance, &none)
        return valid && !aborted
    }

    // MARK: paths and errors

    var instanceLocation: String {
        var out = ""
        for token in instancePath {
            switch token {
            case .key(let key): out += "/" + JSONPointer.escape(key)
            case .index(let index): out += "/" + String(index)
            }
        }
        return out
    }

    var keywordLocation: String {
        keywordPath.isEmpty ? "" : "/" + keywordPath.map(JSONPointer.escape).joined(separator: "/")
    }

    /// Records an error for `keyword` at the current instance location. The message is built
    /// only when errors are being collected.
    mutating func fail(_ keyword: Keyword, _ message: @autoclosure () -> String) {
        guard collecting, admit() else { return }
        errors.append(ValidationError(instanceLocation: instanceLocation, keywordLocation: keywordLocation,
                                      absoluteKeywordLocation: keyword.absolute, keyword: keyword.name, message: message()))
    }

    /// Whether one more error may be recorded: every error is asked for here, and none is
    /// built past `errorLimit`.
    mutating func admit() -> Bool {
        if errors.count >= errorLimit {
            truncated = true
            return false
        }
        return true
    }

    /// Stops the whole validation because a safety bound was reached.
    mutating func stop(_ keyword: String, _ message: String, absolute: String) {
        guard !aborted else { return }
        aborted = true
        abort = ValidationError(instanceLocation: instanceLocation, keywordLocation: keywordLocation,
                                absoluteKeywordLocation: absolute, keyword: keyword, message: message)
    }

    // MARK: nodes

    /// Evaluates node `index` against `instance`. When `annotations` is non-nil, what this
    /// node evaluated (if it is valid) is merged into it.
    mutating func evaluate(_ index: Int, _ instance: JSON, _ annotations: inout Annotations?) -> Bool {
        if aborted { return false }
        let node = graph.nodes[index]
        if let boolean = node.boolean {
            if !boolean, collecting, admit() {
                errors.append(ValidationError(instanceLocation: instanceLocation, keywordLocation: keywordLocation,
                                              absoluteKeywordLocation: node.location, keyword: "false",
                                              message: "no value is allowed here (the schema is false)"))
            }
            return boolean
        }
        steps += 1
        if steps > options.maxSteps {
            stop("", "schema evaluation took more than \(options.maxSteps) steps; the schema multiplies work without bound", absolute: node.location)
            return false
        }
        if depth >= options.maxDepth {
            stop("", "schema recursion deeper than \(options.maxDepth) levels (a $ref cycle that consumes no input, or an instance nested too deep)", absolute: node.location)
            return false
        }
        depth += 1
        let enteredResource = dynamicScope.last != node.resource
        if enteredResource { dynamicScope.append(node.resource) }
        defer {
            depth -= 1
            if enteredResource { dynamicScope.removeLast() }
        }

        var local: Annotations? = (annotations != nil || node.needsAnnotations) ? Annotations() : nil
        let errorMark = errors.count
        let truncatedBefore = truncated
        var valid = true
        for keyword in node.keywords {
            keywordPath.append(keyword.name)
            let ok = apply(keyword, instance, &local)
            keywordPath.removeLast()
            if aborted { return false }
            if !ok {
                valid = false
                if !collecting { break }
            }
        }
        if valid {
            if annotations != nil, let local { annotations!.merge(local) }
        } else if let message = node.errorMessage, collecting {
            // The schema author's sentence (gateway extension `errorMessage`) replaces the detail.
            errors.removeSubrange(errorMark...)
            truncated = truncatedBefore   // the detail, overflow included, gives way to the sentence
            if admit() {
                errors.append(ValidationError(instanceLocation: instanceLocation, keywordLocation: keywordLocation,
                                              absoluteKeywordLocation: node.location, keyword: "errorMessage", message: message))
            }
        }
        return valid
    }

    /// Evaluates a child instance (an item or a property value) against node `index`.
    @inline(__always)
    mutating func evaluate(_ index: Int, child token: PathToken, _ instance: JSON) -> Bool {
        instancePath.append(token)
        defer { instancePath.removeLast() }
        var none: Annotations? = nil
        return evaluate(index, instance, &none)
    }

    mutating func apply(_ keyword: Keyword, _ instance: JSON, _ annotations: inout Annotations?) -> Bool {
        switch keyword.op {
        case .ref(let target):
            return evaluate(target, instance, &annotations)
        case .dynamicRef(let initial, let anchor):
            var target = initial
            if let anchor {
                // The outermost resource in the dynamic scope that has this dynamic anchor wins.
                for resource in dynamicScope {
                    if let found = graph.resources[resource].dynamicAnchors[anchor] {
                        target = found
                        break
                    }
                }
            }
            return evaluate(target, instance, &annotations)
        case .allOf, .anyOf, .oneOf, .not, .conditional, .dependentSchemas:
            return applyInPlace(keyword, instance, &annotations)
        case .prefixItems, .items, .contains, .unevaluatedItems:
            guard case .array(let items) = instance else { return true }
            return applyItems(keyword, items, &annotations)
        case .properties, .patternProperties, .additionalProperties, .propertyNames, .unevaluatedProperties:
            guard case .object(let members) = instance else { return true }
            return applyProperties(keyword, members, &annotations)
        default:
            return applyAssertion(keyword, instance)
        }
    }
}
