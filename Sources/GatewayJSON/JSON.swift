// JSON: the one JSON value type of the project.
//
// Objects are dictionaries: member order carries no meaning in I-JSON, duplicate names are
// refused by the parser (JSONParser), and every serialisation that matters is canonical
// (JCS, RFC 8785) and therefore sorted. Numbers are IEEE doubles, as I-JSON requires.
// Equality follows JSON Schema and JCS: 1 == 1.0, objects compare by members, not by
// order, and strings by code points (Swift's String == would call "é" and "e" + U+0301
// equal). Member names are dictionary keys, so two names that are canonically equivalent
// cannot both appear: the parser refuses them as duplicates (stricter than I-JSON, and on
// purpose: they look the same to a person).

/// A JSON value.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])
}

extension JSON {
    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x.utf8.elementsEqual(y.utf8)
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            guard x.count == y.count else { return false }
            for (key, value) in x {
                // The dictionary finds a canonically equivalent name ("\u{212A}" for "K"): the
                // names must be the same code points too.
                guard let i = y.index(forKey: key), y[i].key.utf8.elementsEqual(key.utf8), y[i].value == value else { return false }
            }
            return true
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(b)
        case .number(let d): hasher.combine(d == 0 ? 0.0 : d)  // 0 == -0
        case .string(let s): Self.hashBytes(s, into: &hasher)
        case .array(let a): hasher.combine(a)
        case .object(let o):
            hasher.combine(o.count)
            // Order-independent.
            var combined = 0
            for (k, v) in o {
                var h = Hasher()
                Self.hashBytes(k, into: &h)
                combined ^= h.finalize() &+ v.hashValue &* 31
            }
            hasher.combine(combined)
        }
    }

    /// A string hashed by its UTF-8 bytes, as == compares it: Swift's own String hash
    /// normalises first (canonically equivalent strings would share a hash and, distinct
    /// for ==, pile up in one bucket), in time quadratic in a run of combining marks.
    static func hashBytes(_ s: String, into hasher: inout Hasher) {
        hasher.combine(s.utf8.count)
        if s.utf8.withContiguousStorageIfAvailable({ hasher.combine(bytes: UnsafeRawBufferPointer($0)) }) == nil {
            for b in s.utf8 { hasher.combine(b) }
        }
    }

    /// The member `key` of an object, or nil (also for non-objects).
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The element at `index` of an array, or nil.
    public subscript(index: Int) -> JSON? {
        if case .array(let items) = self, items.indices.contains(index) { return items[index] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var doubleValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The number as an Int when it is integral and in range.
    public var intValue: Int? {
        guard case .number(let d) = self, d.rounded(.towardZero) == d,
              d >= -9_007_199_254_740_992, d <= 9_007_199_254_740_992 else { return nil }
        return Int(d)
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var objectValue: [String: JSON]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The JSON type name as JSON Schema spells it ("integer" for integral numbers).
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number(let d): return d.isFinite && d.rounded(.towardZero) == d ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var members: [String: JSON] = [:]
        for (key, value) in elements { members[key] = value }
        self = .object(members)
    }
}

extension JSON: CustomStringConvertible {
    /// Canonical (JCS) text; "<invalid number>" never appears because values hold finite numbers
    /// whenever they come from the parser.
    public var description: String {
        (try? canonicalString()) ?? "<non-finite number>"
    }
}
