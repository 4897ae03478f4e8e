// JSONCanonical: RFC 8785 JSON Canonicalization Scheme (JCS) and a readable printer.
//
// JCS is what the gateway signs: members sorted by their UTF-16 code units, no white
// space, strings escaped as ECMAScript's JSON.stringify does, numbers formatted as
// ECMAScript's Number.prototype.toString (see ECMAScriptNumber.swift).

extension JSON {
    /// The RFC 8785 canonical UTF-8 bytes of this value.
    public func canonicalBytes() throws(JSONSerializationError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try JSONWriter.writeCanonical(self, into: &out)
        return out
    }

    /// The RFC 8785 canonical text of this value.
    public func canonicalString() throws(JSONSerializationError) -> String {
        String(decoding: try canonicalBytes(), as: UTF8.self)
    }

    /// Indented, sorted text for people (not for signing).
    public func prettyString(indent: String = "  ") -> String {
        var out: [UInt8] = []
        JSONWriter.writePretty(self, indent: Array(indent.utf8), level: 0, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

/// Pieces of RFC 8785 output, for callers that write a fixed shape of object directly
/// (the audit chain hashes one per record) instead of building a JSON value first.
public enum JCS {
    /// Appends `s` as a JCS string (quoted, escaped as JSON.stringify does).
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        JSONWriter.writeString(s, into: &out)
    }

    /// Appends `value` as a JCS number; nil for NaN and infinities.
    public static func appendNumber(_ value: Double, to out: inout [UInt8]) -> Bool {
        guard value.isFinite else { return false }
        out.append(contentsOf: ECMAScriptNumber.format(value).utf8)
        return true
    }
}

enum JSONWriter {
    static func writeCanonical(_ value: JSON, into out: inout [UInt8]) throws(JSONSerializationError) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let d):
            guard d.isFinite else { throw JSONSerializationError(detail: "non-finite number cannot be serialised") }
            out.append(contentsOf: ECMAScriptNumber.format(d).utf8)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try writeCanonical(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // Sorted as (name, value) pairs: no second lookup (and hash) per member.
            for (i, member) in members.sorted(by: { precedesInUTF16($0.key, $1.key) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                try writeCanonical(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// UTF-16 code unit order. UTF-8 byte order is code point order, which is the same
    /// except where a character from U+E000...U+FFFF meets one beyond U+FFFF (a
    /// surrogate pair sorts below U+E000 in UTF-16): only then compare UTF-16 units.
    static func precedesInUTF16(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        let byBytes: Bool? = a.withUTF8 { x in
            b.withUTF8 { y in
                let n = min(x.count, y.count)
                var i = 0
                while i < n && x[i] == y[i] { i += 1 }
                if i == n { return x.count < y.count }
                // Lead bytes 0xEE/0xEF start U+E000...U+FFFF; 0xF0... start U+10000 and up.
                if x[i] >= 0xEE && y[i] >= 0xEE { return nil }
                return x[i] < y[i]
            }
        }
        if let byBytes { return byBytes }
        return a.utf16.lexicographicallyPrecedes(b.utf16)
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        out.append(UInt8(ascii: "\""))
        s.withUTF8 { bytes in
            // Copy runs that need no escape in one go.
            var start = 0
            for (i, byte) in bytes.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                if start < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i])) }
                start = i + 1
                switch byte {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x08: out.append(0x5C); out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(0x5C); out.append(UInt8(ascii: "f"))
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                default:
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
                }
            }
            if start < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...])) }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func writePretty(_ value: JSON, indent: [UInt8], level: Int, into out: inout [UInt8]) {
        func newline(_ level: Int) {
            out.append(0x0A)
            for _ in 0..<level { out.append(contentsOf: indent) }
        }
        switch value {
        case .array(let items) where !items.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                writePretty(item, indent: indent, level: level + 1, into: &out)
            }
            newline(level)
            out.append(UInt8(ascii: "]"))
        case .object(let members) where !members.isEmpty:
            out.append(UInt8(ascii: "{"))
            for (i, member) in members.sorted(by: { precedesInUTF16($0.key, $1.key) }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                writeString(member.key, into: &out)
                out.append(contentsOf: ": ".utf8)
                writePretty(member.value, indent: indent, level: level + 1, into: &out)
            }
            newline(level)
            out.append(UInt8(ascii: "}"))
        case .number(let d) where !d.isFinite:
            out.append(contentsOf: "null".utf8)
        default:
            try? writeCanonical(value, into: &out)
        }
    }
}
