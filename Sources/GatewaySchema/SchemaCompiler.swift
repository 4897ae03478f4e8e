// NAME
//   SchemaCompiler: turns registered schema JSON into a CompiledGraph.
//
// DESCRIPTION
//   A worklist, not recursion: a subschema gets its node index the first time it is named
//   and is built later, so `$ref` cycles and deep reference chains cost no stack. Every
//   keyword argument is checked here (a malformed schema fails at load time with its
//   location), references are resolved in the registry, and keywords of vocabularies that
//   the schema's meta-schema leaves out (`$vocabulary`) are skipped.

import Foundation
import GatewayJSON

struct SchemaCompiler {
    let registry: SchemaRegistry
    let options: ValidationOptions
    private var nodes: [Node] = []
    private var memo: [SchemaLocation: Int] = [:]
    private var pending: [(SchemaLocation, Int)] = []
    private var resources: [Resource] = []
    private var resourceIndex: [String: Int] = [:]
    private var vocabularyCache: [String: Vocabularies] = [:]
    private var regexCache: [String: PatternRegex] = [:]

    init(registry: SchemaRegistry, options: ValidationOptions) {
        self.registry = registry
        self.options = options
    }

    /// Which vocabularies a dialect enables. Unknown dialects get all of them.
    struct Vocabularies {
        var applicator = true
        var unevaluated = true
        var validation = true
        var formatAssertion = false
    }

    mutating func compile(root: SchemaLocation) throws(SchemaError) -> CompiledGraph {
        let rootIndex = node(root)
        var filled = 0
        repeat {
            while let (location, index) = pending.popLast() {
                nodes[index] = try build(location, index: index)
            }
            // `$dynamicRef` searches the dynamic scope for anchors of every resource the
            // evaluation can enter: compile those anchors too, which may add resources.
            while filled < resources.count {
                let uri = resources[filled].uri
                if let anchors = registry.dynamicAnchors[uri], let root = registry.resources[uri] {
                    for (name, pointer) in anchors {
                        resources[filled].dynamicAnchors[name] = node(SchemaLocation(document: root.document, pointer: pointer))
                    }
                }
                filled += 1
            }
        } while !pending.isEmpty
        return CompiledGraph(nodes: nodes, resources: resources, root: rootIndex)
    }

    /// The node index for a location, allocating it (and queueing its build) on first use.
    private mutating func node(_ location: SchemaLocation) -> Int {
        if let index = memo[location] { return index }
        let index = nodes.count
        nodes.append(Node())
        memo[location] = index
        pending.append((location, index))
        return index
    }

    private mutating func resource(_ uri: String) -> Int {
        if let index = resourceIndex[uri] { return index }
        resourceIndex[uri] = resources.count
        resources.append(Resource(uri: uri))
        return resources.count - 1
    }

    private mutating func vocabularies(_ dialect: String?) -> Vocabularies {
        guard let dialect else { return Vocabularies(formatAssertion: options.formatAssertion) }
        if let cached = vocabularyCache[dialect] { return cached }
        var result = Vocabularies(formatAssertion: options.formatAssertion)
        if let root = registry.resources[dialect], case .object(let declared)? = registry.json(at: root)?["$vocabulary"] {
            let prefix = "https://json-schema.org/draft/2020-12/vocab/"
            result.applicator = declared[prefix + "applicator"] != nil
            result.unevaluated = declared[prefix + "unevaluated"] != nil
            result.validation = declared[prefix + "validation"] != nil
            result.formatAssertion = options.formatAssertion || declared[prefix + "format-assertion"] != nil
        }
        vocabularyCache[dialect] = result
        return result
    }

    // MARK: building one node

    private mutating func build(_ location: SchemaLocation, index: Int) throws(SchemaError) -> Node {
        let info = registry.info(at: location)
        var node = Node()
        node.resource = resource(info.resource)
        let relative = location.pointer.hasPrefix(info.resourcePointer) ? String(location.pointer.dropFirst(info.resourcePointer.count)) : location.pointer
        node.location = info.resource + "#" + relative
        guard let json = registry.json(at: location) else {
            throw SchemaError(.unresolvedReference, "no schema at this location", location: node.location)
        }
        switch json {
        case .bool(let value):
            node.boolean = value
            return node
        case .object(let members):
            let context = KeywordContext(members: members, location: location, absolute: node.location, base: info.resource, vocabularies: vocabularies(info.dialect))
            node.keywords = try keywords(context)
            node.needsAnnotations = node.keywords.contains {
                if case .unevaluatedItems = $0.op { return true }
                if case .unevaluatedProperties = $0.op { return true }
                return false
            }
            if case .string(let message)? = members["errorMessage"] { node.errorMessage = message }
            return node
        default:
            throw SchemaError(.invalidKeyword, "a schema must be an object or a boolean, found \(json.typeName)", location: node.location)
        }
    }

    struct KeywordContext {
        let members: [String: JSON]
        let location: SchemaLocation
        let absolute: String
        let base: String
        let vocabularies: Vocabularies

        func at(_ keyword: String) -> String { absolute + "/" + JSONPointer.escape(keyword) }
        func fail(_ keyword: String, _ message: String) -> SchemaError {
            SchemaError(.invalidKeyword, "\(keyword): \(message)", location: at(keyword))
        }
    }

    mutating func subschema(_ context: KeywordContext, _ path: String...) -> Int {
        let pointer = context.location.pointer + path.map { "/" + JSONPointer.escape($0) }.joined()
        return node(SchemaLocation(document: context.location.document, pointer: pointer))
    }

    private mutating func keywords(_ c: KeywordContext) throws(SchemaError) -> [Keyword] {
        var out: [Keyword] = []
        let m = c.members
        func add(_ name: String, _ op: Keyword.Op) { out.append(Keyword(name: name, absolute: c.at(name), op: op)) }

        // core
        if let value = m["$ref"] {
            guard case .string(let ref) = value else { throw c.fail("$ref", "must be a string") }
            add("$ref", .ref(try reference(ref, c, "$ref")))
        }
        if let value = m["$dynamicRef"] {
            guard case .string(let ref) = value else { throw c.fail("$dynamicRef", "must be a string") }
            let target = try reference(ref, c, "$dynamicRef")
            // Dynamic only when the initial target carries a matching $dynamicAnchor ("bookending").
            let fragment = URIReference(ref).fragment?.percentDecodedFragment ?? ""
            var anchor: String? = nil
            if !fragment.isEmpty, !fragment.hasPrefix("/"), let location = registry.resolve(ref, base: c.base),
               registry.json(at: location)?["$dynamicAnchor"]?.stringValue == fragment {
                anchor = fragment
            }
            add("$dynamicRef", .dynamicRef(initial: target, anchor: anchor))
        }
        if c.vocabularies.validation { try validationKeywords(c, add) }
        if c.vocabularies.formatAssertion, case .string(let name)? = m["format"], let format = Format(rawValue: name) {
            add("format", .format(format))
        }
        if c.vocabularies.applicator { try applicatorKeywords(c, add) }
        if c.vocabularies.unevaluated {
            if m["unevaluatedItems"] != nil { add("unevaluatedItems", .unevaluatedItems(subschema(c, "unevaluatedItems"))) }
            if m["unevaluatedProperties"] != nil { add("unevaluatedProperties", .unevaluatedProperties(subschema(c, "unevaluatedProperties"))) }
        }
        return out
    }

    private mutating func reference(_ ref: String, _ c: KeywordContext, _ keyword: String) throws(SchemaError) -> Int {
        guard let location = registry.resolve(ref, base: c.base) else {
            let target = URIReference.resolve(ref, against: c.base).text
            throw SchemaError(.unresolvedReference, "\(keyword) \"\(ref)\" (\(target)) is not a registered schema", location: c.at(keyword))
        }
        return node(location)
    }

    mutating func regex(_ pattern: String, _ c: KeywordContext, _ keyword: String) throws(SchemaError) -> PatternRegex {
        if let cached = regexCache[pattern] { return cached }
        do {
            let regex = try PatternRegex(pattern)
            regexCache[pattern] = regex
            return regex
        } catch {
            throw SchemaError(.invalidPattern, "\(keyword): \(error)", location: c.at(keyword))
        }
    }
}
