// SchemaCompiler+Keywords: the applicator and validation vocabularies, argument by argument.
// Each malformed argument fails here with the keyword's location, so validation never meets
// a schema it has to second-guess.

import GatewayJSON

extension SchemaCompiler {
    typealias Emit = (String, Keyword.Op) -> Void

    mutating func validationKeywords(_ c: KeywordContext, _ add: Emit) throws(SchemaError) {
        let m = c.members
        if let value = m["type"] {
            var mask: TypeMask = []
            var names: [String] = []
            let list: [JSON] = value.arrayValue ?? [value]
            for item in list {
                guard let name = item.stringValue, let bit = TypeMask.named(name) else {
                    throw c.fail("type", "\(item) is not a JSON Schema type")
                }
                mask.insert(bit)
                names.append(name)
            }
            add("type", .type(mask, names: names))
        }
        if let value = m["enum"] {
            guard case .array(let values) = value else { throw c.fail("enum", "must be an array") }
            // A hash set pays off only past a handful of values; JSON hashing equals JSON Schema equality.
            add("enum", .enumeration(values, set: values.count > 8 ? Set(values) : nil))
        }
        if let value = m["const"] { add("const", .constant(value)) }
        if let value = m["multipleOf"] {
            guard let d = value.doubleValue, d > 0 else { throw c.fail("multipleOf", "must be a number greater than 0") }
            add("multipleOf", .multipleOf(d))
        }
        let numeric: [(String, (Double) -> Keyword.Op)] = [("maximum", Keyword.Op.maximum), ("exclusiveMaximum", Keyword.Op.exclusiveMaximum), ("minimum", Keyword.Op.minimum), ("exclusiveMinimum", Keyword.Op.exclusiveMinimum)]
        for (name, make) in numeric {
            if let value = m[name] {
                guard let d = value.doubleValue else { throw c.fail(name, "must be a number") }
                add(name, make(d))
            }
        }
        let counts: [(String, (Int) -> Keyword.Op)] = [("maxLength", Keyword.Op.maxLength), ("minLength", Keyword.Op.minLength), ("maxItems", Keyword.Op.maxItems), ("minItems", Keyword.Op.minItems), ("maxProperties", Keyword.Op.maxProperties), ("minProperties", Keyword.Op.minProperties)]
        for (name, make) in counts {
            if let value = m[name] {
                guard let n = value.intValue, n >= 0 else { throw c.fail(name, "must be a non-negative integer") }
                add(name, make(n))
            }
        }
        if let value = m["pattern"] {
            guard case .string(let pattern) = value else { throw c.fail("pattern", "must be a string") }
            add("pattern", .pattern(try regex(pattern, c, "pattern")))
        }
        if let value = m["uniqueItems"] {
            guard case .bool(let unique) = value else { throw c.fail("uniqueItems", "must be a boolean") }
            if unique { add("uniqueItems", .uniqueItems) }
        }
        if let value = m["required"] {
            guard let names = value.arrayValue?.compactMap(\.stringValue), names.count == value.arrayValue?.count else {
                throw c.fail("required", "must be an array of strings")
            }
            if !names.isEmpty { add("required", .required(names)) }
        }
        if let value = m["dependentRequired"] {
            guard case .object(let map) = value else { throw c.fail("dependentRequired", "must be an object") }
            var pairs: [(property: String, required: [String])] = []
            for (property, list) in map.sorted(by: { $0.key < $1.key }) {
                guard let names = list.arrayValue?.compactMap(\.stringValue), names.count == list.arrayValue?.count else {
                    throw c.fail("dependentRequired", "\"\(property)\" must list property names")
                }
                pairs.append((property, names))
            }
            add("dependentRequired", .dependentRequired(pairs))
        }
    }

    mutating func applicatorKeywords(_ c: KeywordContext, _ add: Emit) throws(SchemaError) {
        let m = c.members
        for name in ["allOf", "anyOf", "oneOf"] {
            guard let value = m[name] else { continue }
            guard case .array(let items) = value, !items.isEmpty else { throw c.fail(name, "must be a non-empty array of schemas") }
            let branches = items.indices.map { Branch(token: String($0), node: subschema(c, name, String($0))) }
            add(name, name == "allOf" ? .allOf(branches) : name == "anyOf" ? .anyOf(branches) : .oneOf(branches))
        }
        if m["not"] != nil { add("not", .not(subschema(c, "not"))) }
        if m["if"] != nil {
            let then = m["then"] != nil ? subschema(c, "then") : nil
            let otherwise = m["else"] != nil ? subschema(c, "else") : nil
            // Kept even without then/else: its annotations still count for unevaluated*.
            add("if", .conditional(condition: subschema(c, "if"), then: then, else: otherwise))
        }
        if let value = m["dependentSchemas"] {
            guard case .object(let map) = value else { throw c.fail("dependentSchemas", "must be an object") }
            let pairs = map.keys.sorted().map { (property: $0, branch: Branch(token: $0, node: subschema(c, "dependentSchemas", $0))) }
            add("dependentSchemas", .dependentSchemas(pairs))
        }
        var prefixCount = 0
        if let value = m["prefixItems"] {
            guard case .array(let items) = value, !items.isEmpty else { throw c.fail("prefixItems", "must be a non-empty array of schemas") }
            prefixCount = items.count
            add("prefixItems", .prefixItems(items.indices.map { subschema(c, "prefixItems", String($0)) }))
        }
        if m["items"] != nil { add("items", .items(subschema(c, "items"), prefixCount: prefixCount)) }
        if m["contains"] != nil {
            var minimum = 1
            var maximum: Int? = nil
            if let value = m["minContains"] {
                guard let n = value.intValue, n >= 0 else { throw c.fail("minContains", "must be a non-negative integer") }
                minimum = n
            }
            if let value = m["maxContains"] {
                guard let n = value.intValue, n >= 0 else { throw c.fail("maxContains", "must be a non-negative integer") }
                maximum = n
            }
            add("contains", .contains(subschema(c, "contains"), min: minimum, max: maximum))
        }
        var known: Set<String> = []
        if let value = m["properties"] {
            guard case .object(let map) = value else { throw c.fail("properties", "must be an object") }
            var branches: [String: Branch] = [:]
            for name in map.keys { branches[name] = Branch(token: name, node: subschema(c, "properties", name)) }
            known = Set(map.keys)
            add("properties", .properties(branches))
        }
        var patterns: [PatternRegex] = []
        if let value = m["patternProperties"] {
            guard case .object(let map) = value else { throw c.fail("patternProperties", "must be an object") }
            var pairs: [(regex: PatternRegex, branch: Branch)] = []
            for pattern in map.keys.sorted() {
                let regex = try regex(pattern, c, "patternProperties")
                patterns.append(regex)
                pairs.append((regex, Branch(token: pattern, node: subschema(c, "patternProperties", pattern))))
            }
            add("patternProperties", .patternProperties(pairs))
        }
        if m["additionalProperties"] != nil {
            add("additionalProperties", .additionalProperties(subschema(c, "additionalProperties"), known: known, patterns: patterns))
        }
        if let value = m["dependencies"] {
            // Draft 7's "dependencies", still met in older schemas: a list of names is
            // dependentRequired, a schema is dependentSchemas.
            guard case .object(let map) = value else { throw c.fail("dependencies", "must be an object") }
            var required: [(property: String, required: [String])] = []
            var schemas: [(property: String, branch: Branch)] = []
            for (property, entry) in map.sorted(by: { $0.key < $1.key }) {
                if case .array(let names) = entry {
                    required.append((property, names.compactMap(\.stringValue)))
                } else {
                    schemas.append((property, Branch(token: property, node: subschema(c, "dependencies", property))))
                }
            }
            if !required.isEmpty { add("dependencies", .dependentRequired(required)) }
            if !schemas.isEmpty { add("dependencies", .dependentSchemas(schemas)) }
        }
        if m["propertyNames"] != nil { add("propertyNames", .propertyNames(subschema(c, "propertyNames"))) }
    }
}
