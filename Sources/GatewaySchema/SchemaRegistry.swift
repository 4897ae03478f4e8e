// NAME
//   SchemaRegistry: the local, network-free store of schema documents that `$ref` resolves in.
//
// DESCRIPTION
//   Documents are registered under a retrieval URI (and under their root `$id`). Each is
//   indexed once when added: every embedded resource (`$id`), `$anchor` and `$dynamicAnchor`
//   with the base URI in effect at every subschema. Only real schema positions are walked
//   (the applicator keywords and `$defs`), so an `$id` inside `const`, `enum` or an unknown
//   keyword is data, not an identifier (the test suite checks exactly this).
//
//   The registry is a value: copying it and adding a document is cheap and leaves the
//   original untouched, which is how a one-off schema is compiled against shared documents.
//
// SECURITY
//   Nothing is ever fetched: a `$ref` to a URI that was not registered is a compile error.

import Foundation
import GatewayJSON

/// A place in a registered document: which document, and a JSON Pointer inside it.
struct SchemaLocation: Hashable, Sendable {
    let document: Int
    let pointer: String
}

/// What the index knows about one subschema position.
struct LocationInfo: Sendable {
    /// The URI (without fragment) of the schema resource that holds this position.
    let resource: String
    /// Pointer of that resource's root inside the document.
    let resourcePointer: String
    /// The `$schema` in effect (dialect), if any was declared.
    let dialect: String?
}

/// A set of schema documents, keyed by URI, that references resolve in.
public struct SchemaRegistry: Sendable {
    struct Document: Sendable {
        let uri: String
        let root: JSON
        var locations: [String: LocationInfo] = [:]
    }

    var documents: [Document] = []
    /// Resource URI (no fragment) → its root.
    var resources: [String: SchemaLocation] = [:]
    /// "resource#anchor" → the anchored schema (both `$anchor` and `$dynamicAnchor`).
    var anchors: [String: SchemaLocation] = [:]
    /// Resource URI → dynamic anchor name → pointer of the anchored schema.
    var dynamicAnchors: [String: [String: String]] = [:]
    /// File path relative to a loaded directory (e.g. "types/alert.schema.json") → URI.
    public private(set) var fileNames: [String: String] = [:]
    private var anonymousCount = 0

    /// The maximum nesting of a schema document walked by the indexer and the compiler.
    static let maxSchemaDepth = 512

    /// A registry holding the draft 2020-12 meta-schemas (embedded, see MetaSchemas.swift).
    public init(includeMetaSchemas: Bool = true) {
        guard includeMetaSchemas else { return }
        for (uri, text) in MetaSchemas.draft202012 {
            // The embedded texts are fixed and tested; failing here is a build defect.
            let json = try! JSON.parse(text)
            try! add(json, uri: uri)
        }
    }

    /// The URIs of every registered document.
    public var documentURIs: [String] { documents.map(\.uri) }

    /// Registers `schema` under `uri` (or its root `$id`, or a generated `urn:` when it has
    /// neither) and returns the URI it can be compiled under.
    @discardableResult
    public mutating func add(_ schema: JSON, uri: String? = nil) throws(SchemaError) -> String {
        var retrieval: String
        if let uri {
            retrieval = URIReference(uri).withoutFragment.text
        } else if let id = schema["$id"]?.stringValue {
            retrieval = URIReference(id).withoutFragment.text
        } else {
            anonymousCount += 1
            retrieval = "urn:gateway:schema:\(anonymousCount)"
        }
        if resources[retrieval] != nil {
            throw SchemaError(.duplicateURI, "a schema is already registered as \(retrieval)", location: retrieval)
        }
        let index = documents.count
        documents.append(Document(uri: retrieval, root: schema))
        resources[retrieval] = SchemaLocation(document: index, pointer: "")
        var indexer = Indexer(document: index)
        try indexer.walk(schema, pointer: "", base: retrieval, resourcePointer: "", dialect: nil, depth: 0)
        documents[index].locations = indexer.locations
        for (uri, location) in indexer.resources where uri != retrieval {
            if resources[uri] != nil {
                throw SchemaError(.duplicateURI, "the $id \(uri) is declared twice", location: retrieval + "#" + location.pointer)
            }
            resources[uri] = location
        }
        anchors.merge(indexer.anchors) { first, _ in first }
        dynamicAnchors.merge(indexer.dynamicAnchors) { first, _ in first }
        return retrieval
    }

    /// Parses and registers a schema file; its URI is its `$id` or, failing that, its file URL.
    @discardableResult
    public mutating func add(contentsOf file: URL) throws(SchemaError) -> String {
        let data: Data
        do { data = try Data(contentsOf: file) } catch {
            throw SchemaError(.unreadable, "cannot read \(file.path): \(error.localizedDescription)", location: file.path)
        }
        let json: JSON
        do { json = try JSON.parse(data) } catch {
            throw SchemaError(.invalidJSON, "\(file.path): \(error)", location: file.path)
        }
        return try add(json, uri: json["$id"]?.stringValue ?? file.absoluteURL.absoluteString)
    }

    /// Registers every `*.json` file under `directory` (recursively, skipping `examples/`),
    /// remembering each by its relative path for `uri(forName:)`. Returns the URIs added.
    @discardableResult
    public mutating func addDirectory(_ directory: URL) throws(SchemaError) -> [String] {
        let root = directory.standardizedFileURL
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw SchemaError(.unreadable, "cannot list \(root.path)", location: root.path)
        }
        var files: [URL] = []
        for case let url as URL in enumerator {
            let relative = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
            if relative.hasPrefix("examples") { enumerator.skipDescendants(); continue }
            if url.pathExtension == "json" { files.append(url) }
        }
        var added: [String] = []
        // Sorted so that errors (a duplicate $id) are reported the same way every time.
        for url in files.sorted(by: { $0.path < $1.path }) {
            let relative = String(url.standardizedFileURL.path.dropFirst(root.path.count + 1))
            let uri = try add(contentsOf: url)
            fileNames[relative] = uri
            added.append(uri)
        }
        return added
    }

    /// The URI of a schema given as a URI, a relative file name ("types/alert.schema.json")
    /// or a short name ("envelope", "types/alert", "alert").
    public func uri(forName name: String) -> String? {
        if resources[URIReference(name).withoutFragment.text] != nil { return name }
        if let uri = fileNames[name] ?? fileNames[name + ".schema.json"] ?? fileNames[name + ".json"] { return uri }
        let matches = fileNames.filter { key, _ in
            let file = key.split(separator: "/").last.map(String.init) ?? key
            return file == name || file == name + ".schema.json" || file == name + ".json"
        }
        return matches.count == 1 ? matches.first!.value : nil
    }

    // MARK: lookups used by the compiler

    func json(at location: SchemaLocation) -> JSON? {
        JSONPointer.resolve(location.pointer, in: documents[location.document].root)
    }

    /// The index entry of `location`, or of its nearest indexed ancestor (a `$ref` may point
    /// into an unknown keyword, which the indexer does not walk).
    func info(at location: SchemaLocation) -> LocationInfo {
        let locations = documents[location.document].locations
        var pointer = location.pointer
        while true {
            if let info = locations[pointer] { return info }
            guard let slash = pointer.lastIndex(of: "/") else { break }
            pointer = String(pointer[..<slash])
        }
        return locations[""] ?? LocationInfo(resource: documents[location.document].uri, resourcePointer: "", dialect: nil)
    }

    /// Resolves a reference (`$ref`, `$dynamicRef`) against `base` to a schema location.
    func resolve(_ reference: String, base: String) -> SchemaLocation? {
        let uri = URIReference.resolve(reference, against: base)
        let resource = uri.withoutFragment.text
        guard let root = resources[resource] else { return nil }
        let fragment = (uri.fragment ?? "").percentDecodedFragment
        if fragment.isEmpty { return root }
        if fragment.hasPrefix("/") {
            let location = SchemaLocation(document: root.document, pointer: root.pointer + fragment)
            return json(at: location) == nil ? nil : location
        }
        return anchors[resource + "#" + fragment]
    }
}

/// Walks one document's schema positions, recording resources, anchors and base URIs.
private struct Indexer {
    let document: Int
    var locations: [String: LocationInfo] = [:]
    var resources: [String: SchemaLocation] = [:]
    var anchors: [String: SchemaLocation] = [:]
    var dynamicAnchors: [String: [String: String]] = [:]

    static let singleSchema: Set<String> = [
        "additionalProperties", "propertyNames", "items", "contains", "not", "if", "then", "else",
        "unevaluatedItems", "unevaluatedProperties", "contentSchema",
    ]
    static let schemaArrays: Set<String> = ["allOf", "anyOf", "oneOf", "prefixItems"]
    static let schemaMaps: Set<String> = ["$defs", "definitions", "properties", "patternProperties", "dependentSchemas"]

    mutating func walk(_ json: JSON, pointer: String, base: String, resourcePointer: String, dialect: String?, depth: Int) throws(SchemaError) {
        guard depth < SchemaRegistry.maxSchemaDepth else {
            throw SchemaError(.tooDeep, "schema nested deeper than \(SchemaRegistry.maxSchemaDepth) levels", location: base + "#" + pointer)
        }
        guard case .object(let members) = json else {
            if case .bool = json {
                locations[pointer] = LocationInfo(resource: base, resourcePointer: resourcePointer, dialect: dialect)
            }
            return
        }
        var base = base
        var resourcePointer = resourcePointer
        var dialect = dialect
        if case .string(let id)? = members["$id"] {
            let resolved = URIReference.resolve(id, against: base).withoutFragment.text
            if resolved != base || pointer.isEmpty {
                base = resolved
                resourcePointer = pointer
                resources[resolved] = SchemaLocation(document: document, pointer: pointer)
            }
        }
        if case .string(let schema)? = members["$schema"] { dialect = URIReference(schema).withoutFragment.text }
        locations[pointer] = LocationInfo(resource: base, resourcePointer: resourcePointer, dialect: dialect)
        if case .string(let anchor)? = members["$anchor"] {
            anchors[base + "#" + anchor] = SchemaLocation(document: document, pointer: pointer)
        }
        if case .string(let anchor)? = members["$dynamicAnchor"] {
            anchors[base + "#" + anchor] = SchemaLocation(document: document, pointer: pointer)
            dynamicAnchors[base, default: [:]][anchor] = pointer
        }
        for (key, value) in members {
            let child = pointer + "/" + JSONPointer.escape(key)
            if Self.singleSchema.contains(key) {
                try walk(value, pointer: child, base: base, resourcePointer: resourcePointer, dialect: dialect, depth: depth + 1)
            } else if Self.schemaArrays.contains(key), case .array(let items) = value {
                for (i, item) in items.enumerated() {
                    try walk(item, pointer: child + "/\(i)", base: base, resourcePointer: resourcePointer, dialect: dialect, depth: depth + 1)
                }
            } else if Self.schemaMaps.contains(key), case .object(let map) = value {
                for (name, item) in map {
                    try walk(item, pointer: child + "/" + JSONPointer.escape(name), base: base, resourcePointer: resourcePointer, dialect: dialect, depth: depth + 1)
                }
            }
        }
    }
}
