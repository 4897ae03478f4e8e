// NAME
//   CompiledGraph: the internal form a schema compiles into.
//
// DESCRIPTION
//   Every subschema becomes a Node in one flat array; applicators and references name
//   their targets by index, so `$ref` cycles are just cycles of integers and nothing is
//   resolved, parsed or looked up while validating. Keyword arguments are pre-digested
//   (type masks, regexes compiled, enum hash sets, `additionalProperties` knowing its
//   siblings). The graph is immutable once built, hence Sendable and shareable between
//   threads.

import GatewayJSON

/// JSON types as a bit mask, for `type`.
struct TypeMask: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = TypeMask(rawValue: 1)
    static let boolean = TypeMask(rawValue: 2)
    static let object = TypeMask(rawValue: 4)
    static let array = TypeMask(rawValue: 8)
    static let number = TypeMask(rawValue: 16)
    static let string = TypeMask(rawValue: 32)
    static let integer = TypeMask(rawValue: 64)

    static func named(_ name: String) -> TypeMask? {
        switch name {
        case "null": return .null
        case "boolean": return .boolean
        case "object": return .object
        case "array": return .array
        case "number": return .number
        case "string": return .string
        case "integer": return .integer
        default: return nil
        }
    }

    func admits(_ value: JSON) -> Bool {
        switch value {
        case .null: return contains(.null)
        case .bool: return contains(.boolean)
        case .object: return contains(.object)
        case .array: return contains(.array)
        case .string: return contains(.string)
        case .number(let d):
            if contains(.number) { return true }
            return contains(.integer) && d.isFinite && d.rounded(.towardZero) == d
        }
    }
}

/// A subschema reached through an applicator, with the evaluation-path token that leads to it
/// ("0" for the first of `allOf`, the property name for `properties`).
struct Branch: Sendable {
    let token: String
    let node: Int
}

/// One compiled keyword of a schema object. A class, so that walking a node's keywords
/// costs one reference count per keyword rather than one per field.
final class Keyword: Sendable {
    /// The keyword's name: the evaluation-path token.
    let name: String
    /// Absolute keyword location (schema URI with a JSON Pointer fragment), for errors.
    let absolute: String
    let op: Op

    init(name: String, absolute: String, op: Op) {
        self.name = name
        self.absolute = absolute
        self.op = op
    }

    enum Op: Sendable {
        // core
        case ref(Int)
        case dynamicRef(initial: Int, anchor: String?)
        // applicator, in place
        case allOf([Branch])
        case anyOf([Branch])
        case oneOf([Branch])
        case not(Int)
        case conditional(condition: Int, then: Int?, else: Int?)
        case dependentSchemas([(property: String, branch: Branch)])
        // applicator, on children
        case prefixItems([Int])
        case items(Int, prefixCount: Int)
        case contains(Int, min: Int, max: Int?)
        case properties([String: Branch])
        case patternProperties([(regex: PatternRegex, branch: Branch)])
        case additionalProperties(Int, known: Set<String>, patterns: [PatternRegex])
        case propertyNames(Int)
        // unevaluated
        case unevaluatedItems(Int)
        case unevaluatedProperties(Int)
        // validation
        case type(TypeMask, names: [String])
        case enumeration([JSON], set: Set<JSON>?)
        case constant(JSON)
        case multipleOf(Double)
        case maximum(Double)
        case exclusiveMaximum(Double)
        case minimum(Double)
        case exclusiveMinimum(Double)
        case maxLength(Int)
        case minLength(Int)
        case pattern(PatternRegex)
        case maxItems(Int)
        case minItems(Int)
        case uniqueItems
        case maxProperties(Int)
        case minProperties(Int)
        case required([String])
        case dependentRequired([(property: String, required: [String])])
        // format assertion (format as an annotation compiles to nothing)
        case format(Format)
    }
}

/// One subschema.
struct Node: Sendable {
    /// For the boolean schemas `true` and `false`.
    var boolean: Bool?
    /// Keywords in evaluation order; `unevaluated*` come last because they read what their
    /// siblings evaluated.
    var keywords: [Keyword] = []
    /// Index of the schema resource this node belongs to (dynamic scope).
    var resource: Int = 0
    /// Absolute URI of this subschema (resource URI + "#" + JSON Pointer).
    var location: String = ""
    /// The node reads annotations (it has `unevaluatedItems` or `unevaluatedProperties`).
    var needsAnnotations = false
    /// `errorMessage` (a gateway extension): replaces this node's errors with one sentence.
    var errorMessage: String?
}

/// A schema resource: what `$dynamicRef` searches in the dynamic scope.
struct Resource: Sendable {
    let uri: String
    /// `$dynamicAnchor` name → node.
    var dynamicAnchors: [String: Int] = [:]
}

/// A built node, frozen: what evaluation reads (one reference count per visit).
final class FrozenNode: Sendable {
    let boolean: Bool?
    let keywords: [Keyword]
    let resource: Int
    let location: String
    let needsAnnotations: Bool
    let errorMessage: String?

    init(_ node: Node) {
        boolean = node.boolean
        keywords = node.keywords
        resource = node.resource
        location = node.location
        needsAnnotations = node.needsAnnotations
        errorMessage = node.errorMessage
    }
}

/// The compiled, immutable graph of one schema and everything it references.
final class CompiledGraph: Sendable {
    let nodes: [FrozenNode]
    let resources: [Resource]
    let root: Int

    init(nodes: [Node], resources: [Resource], root: Int) {
        self.nodes = nodes.map(FrozenNode.init)
        self.resources = resources
        self.root = root
    }
}
