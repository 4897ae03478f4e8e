// StrictEquality: JSON Schema equality, where two strings are equal only when their code
// points are. Swift's String == (and so JSON's synthesized ==) uses Unicode canonical
// equivalence: "é" (U+00E9) equals "e" + U+0301 there, but not in JSON Schema (the test
// suite's const.json checks it). Numbers compare by value (1 == 1.0), objects by members.

import Foundation
import GatewayJSON

/// Whether `a` and `b` are equal as JSON Schema defines it.
func strictlyEqual(_ a: JSON, _ b: JSON) -> Bool {
    switch (a, b) {
    case (.string(let x), .string(let y)):
        return sameCodePoints(x, y)
    case (.array(let x), .array(let y)):
        return x.count == y.count && zip(x, y).allSatisfy { strictlyEqual($0, $1) }
    case (.object(let x), .object(let y)):
        guard x.count == y.count else { return false }
        for (key, value) in x {
            // Keys too must match code point for code point.
            guard let index = y.index(forKey: key), sameCodePoints(y[index].key, key),
                  strictlyEqual(value, y[index].value) else { return false }
        }
        return true
    default:
        return a == b
    }
}

/// Code point equality: the same UTF-8 bytes (a valid String's UTF-8 is its code points).
@inline(__always)
func sameCodePoints(_ a: String, _ b: String) -> Bool {
    var a = a, b = b
    return a.withUTF8 { x in b.withUTF8 { y in x.count == y.count && (x.count == 0 || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) } }
}

/// The number of code points of `s` (JSON Schema's string length), counted on its UTF-8
/// bytes: every byte that does not continue a sequence starts a code point.
@inline(__always)
func codePointCount(_ s: String) -> Int {
    var s = s
    return s.withUTF8 { bytes in
        var n = 0
        for b in bytes where b & 0xC0 != 0x80 { n += 1 }
        return n
    }
}

/// A JSON value hashed as JSON (strings by their UTF-8 bytes) and compared strictly: the
/// two agree, so a hostile array of canonically equivalent strings does not pile up in one
/// bucket.
struct StrictJSON: Hashable {
    let value: JSON
    static func == (a: StrictJSON, b: StrictJSON) -> Bool { strictlyEqual(a.value, b.value) }
    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}
