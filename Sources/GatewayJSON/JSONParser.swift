// NAME
//   JSONParser: a strict I-JSON (RFC 7493) parser.
//
// SECURITY
//   Input is hostile. The parser never recurses without a depth check, never trusts a
//   length, and refuses everything that lets two readers see two documents: duplicate
//   member names, lone surrogates (escaped or encoded), invalid or overlong UTF-8, a
//   byte-order mark, numbers that do not fit an IEEE double. Errors carry line and column.
//
// DIAGNOSTICS
//   JSONParseError with a reason, 1-based line/column and a sentence.

import Foundation

public struct JSONParser: Sendable {
    /// Limits on what a document may be. The defaults suit operational messages.
    public struct Limits: Sendable {
        public var maxDepth: Int
        public var maxBytes: Int
        /// I-JSON's interoperability rules for values (RFC 7493 §2.1–2.2): no noncharacters,
        /// no integer beyond what a double holds exactly. Off only to read documents that are
        /// not I-JSON on purpose (the JSON Schema test suite's).
        public var interoperableValues: Bool
        public init(maxDepth: Int = 256, maxBytes: Int = 64 << 20, interoperableValues: Bool = true) {
            self.maxDepth = maxDepth
            self.maxBytes = maxBytes
            self.interoperableValues = interoperableValues
        }
    }

    public var limits: Limits
    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Whether `text` could be a string of an interoperable document as this parser reads
    /// it: no noncharacter, no more than 30 combining marks in a row (what the gateway
    /// writes into reports, a unit's file name say, must read back).
    public static func isInteroperableText(_ text: String) -> Bool {
        var marks = 0
        return text.unicodeScalars.allSatisfy { Reader.isInteroperable($0, marksBefore: &marks) }
    }

    /// `text` with each scalar `isInteroperableText` would refuse replaced by `replacement`.
    public static func interoperable(_ text: String, replacing replacement: Unicode.Scalar) -> String {
        var marks = 0
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            out.append(Reader.isInteroperable(scalar, marksBefore: &marks) ? scalar : replacement)
            if out.last == replacement { marks = 0 }
        }
        return String(out)
    }

    public func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSON {
        let fast: Result<JSON, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            do throws(JSONParseError) { return .success(try parseBuffer(buffer)) } catch { return .failure(error) }
        }
        switch fast {
        case .success(let value): return value
        case .failure(let error): throw error
        case nil: break
        }
        return try parse(Array(bytes))
    }

    public func parse(_ text: String) throws(JSONParseError) -> JSON {
        try parse(text.utf8)
    }

    private func parseBuffer(_ buffer: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSON {
        var reader = Reader(buffer: buffer, limits: limits)
        return try reader.document()
    }
}

extension JSON {
    /// Parses strict I-JSON with the default limits.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSON {
        try JSONParser().parse(bytes)
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try JSONParser().parse(text)
    }
}

private struct Reader {
    let buffer: UnsafeBufferPointer<UInt8>
    let limits: JSONParser.Limits
    /// Combining marks in a row in the string being read (countNonStarter).
    var nonStarters = 0
    var position = 0
    var depth = 0

    init(buffer: UnsafeBufferPointer<UInt8>, limits: JSONParser.Limits) {
        self.buffer = buffer
        self.limits = limits
    }

    // MARK: errors

    func fail(_ reason: JSONParseError.Reason, _ detail: String, at offset: Int? = nil) -> JSONParseError {
        let offset = min(offset ?? position, buffer.count)
        var line = 1
        var lineStart = 0
        var i = 0
        while i < offset {
            if buffer[i] == 0x0A { line += 1; lineStart = i + 1 }
            i += 1
        }
        return JSONParseError(reason: reason, line: line, column: offset - lineStart + 1, offset: offset, detail: detail)
    }

    func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
    }

    // MARK: structure

    mutating func document() throws(JSONParseError) -> JSON {
        if buffer.count > limits.maxBytes {
            throw fail(.tooLarge, "document of \(buffer.count) bytes exceeds the limit of \(limits.maxBytes) bytes", at: 0)
        }
        if buffer.count >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF {
            throw fail(.byteOrderMark, "a UTF-8 byte-order mark is not allowed; save the file as UTF-8 without BOM", at: 0)
        }
        skipWhitespace()
        if position >= buffer.count {
            throw fail(.empty, "the document is empty")
        }
        let value = try parseValue()
        skipWhitespace()
        if position < buffer.count {
            throw fail(.trailingContent, "unexpected \(describe(buffer[position])) after the end of the document")
        }
        return value
    }

    mutating func skipWhitespace() {
        while position < buffer.count {
            switch buffer[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws(JSONParseError) -> JSON {
        guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document, expected a value") }
        switch buffer[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case let byte:
            if byte >= 0x80 {
                throw fail(.unexpectedCharacter, "unexpected non-ASCII character, expected a value")
            }
            throw fail(.unexpectedCharacter, "unexpected \(describe(byte)), expected a value")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let start = position
        let count = word.utf8CodeUnitCount
        let bytes = word.utf8Start
        for i in 0..<count {
            guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document inside '\(word)'") }
            guard buffer[position] == bytes[i] else {
                throw fail(.unexpectedCharacter, "invalid literal, expected '\(word)'", at: start)
            }
            position += 1
        }
    }

    mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > limits.maxDepth {
            throw fail(.tooDeep, "nesting deeper than \(limits.maxDepth) levels")
        }
    }

    mutating func parseObject() throws(JSONParseError) -> JSON {
        try enter()
        position += 1  // {
        var members: [String: JSON] = [:]
        skipWhitespace()
        if position < buffer.count && buffer[position] == UInt8(ascii: "}") {
            position += 1
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document inside an object") }
            guard buffer[position] == UInt8(ascii: "\"") else {
                throw fail(.unexpectedCharacter, "unexpected \(describe(buffer[position])), expected a member name in double quotes")
            }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document, expected ':'") }
            guard buffer[position] == UInt8(ascii: ":") else {
                throw fail(.unexpectedCharacter, "unexpected \(describe(buffer[position])), expected ':' after member name")
            }
            position += 1
            skipWhitespace()
            let value = try parseValue()
            if members.updateValue(value, forKey: key) != nil {
                throw fail(.duplicateMember, "duplicate member name \"\(key.escapedForMessage)\"; I-JSON forbids duplicates", at: keyOffset)
            }
            skipWhitespace()
            guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document inside an object, expected ',' or '}'") }
            switch buffer[position] {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "}"):
                position += 1
                depth -= 1
                return .object(members)
            case let byte:
                throw fail(.unexpectedCharacter, "unexpected \(describe(byte)), expected ',' or '}'")
            }
        }
    }

    mutating func parseArray() throws(JSONParseError) -> JSON {
        try enter()
        position += 1  // [
        var items: [JSON] = []
        skipWhitespace()
        if position < buffer.count && buffer[position] == UInt8(ascii: "]") {
            position += 1
            depth -= 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try parseValue())
            skipWhitespace()
            guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document inside an array, expected ',' or ']'") }
            switch buffer[position] {
            case UInt8(ascii: ","):
                position += 1
            case UInt8(ascii: "]"):
                position += 1
                depth -= 1
                return .array(items)
            case let byte:
                throw fail(.unexpectedCharacter, "unexpected \(describe(byte)), expected ',' or ']'")
            }
        }
    }

    // MARK: strings

    mutating func parseString() throws(JSONParseError) -> String {
        position += 1  // opening quote
        nonStarters = 0
        let start = position
        // Fast path: no escapes. Validate UTF-8 while scanning.
        while position < buffer.count {
            let byte = buffer[position]
            if byte == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
                position += 1
                return s
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 {
                throw fail(.controlCharacterInString, "control character \(describe(byte)) must be escaped inside a string")
            }
            if byte < 0x80 { position += 1; nonStarters = 0 } else { try skipUTF8Sequence() }
        }
        guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document inside a string", at: start - 1) }
        // Slow path: escapes present.
        var bytes = [UInt8](UnsafeBufferPointer(rebasing: buffer[start..<position]))
        while position < buffer.count {
            let byte = buffer[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: bytes, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &bytes)
            case 0..<0x20:
                throw fail(.controlCharacterInString, "control character \(describe(byte)) must be escaped inside a string")
            case 0..<0x80:
                bytes.append(byte)
                position += 1
                nonStarters = 0
            default:
                let from = position
                try skipUTF8Sequence()
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[from..<position]))
            }
        }
        throw fail(.unexpectedEnd, "unexpected end of document inside a string", at: start - 1)
    }

    mutating func parseEscape(into bytes: inout [UInt8]) throws(JSONParseError) {
        let escapeStart = position
        position += 1
        guard position < buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document inside an escape") }
        let c = buffer[position]
        position += 1
        if c != UInt8(ascii: "u") { nonStarters = 0 }   // an escaped ASCII character is a starter
        switch c {
        case UInt8(ascii: "\""): bytes.append(0x22)
        case UInt8(ascii: "\\"): bytes.append(0x5C)
        case UInt8(ascii: "/"): bytes.append(0x2F)
        case UInt8(ascii: "b"): bytes.append(0x08)
        case UInt8(ascii: "f"): bytes.append(0x0C)
        case UInt8(ascii: "n"): bytes.append(0x0A)
        case UInt8(ascii: "r"): bytes.append(0x0D)
        case UInt8(ascii: "t"): bytes.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try hex4()
            var scalarValue = UInt32(unit)
            if (0xD800...0xDBFF).contains(unit) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard position + 1 < buffer.count, buffer[position] == UInt8(ascii: "\\"), buffer[position + 1] == UInt8(ascii: "u") else {
                    throw fail(.loneSurrogate, "lone high surrogate \\u\(hex(unit)); I-JSON forbids unpaired surrogates", at: escapeStart)
                }
                position += 2
                let low = try hex4()
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw fail(.loneSurrogate, "high surrogate \\u\(hex(unit)) followed by \\u\(hex(low)), not a low surrogate", at: escapeStart)
                }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(unit) {
                throw fail(.loneSurrogate, "lone low surrogate \\u\(hex(unit)); I-JSON forbids unpaired surrogates", at: escapeStart)
            }
            try countNonStarter(scalarValue)
            if limits.interoperableValues && Self.isNoncharacter(scalarValue) {
                throw fail(.noncharacter, "\\u escape of the noncharacter U+\(String(scalarValue, radix: 16, uppercase: true)); I-JSON forbids noncharacters", at: escapeStart)
            }
            let scalar = Unicode.Scalar(scalarValue)!
            bytes.append(contentsOf: UTF8.encode(scalar)!)
        default:
            throw fail(.invalidEscape, "invalid escape '\\\(Character(Unicode.Scalar(c)))'", at: escapeStart)
        }
    }

    func hex(_ v: UInt16) -> String { String(v, radix: 16, uppercase: true).leftPadded(to: 4) }

    mutating func hex4() throws(JSONParseError) -> UInt16 {
        guard position + 4 <= buffer.count else { throw fail(.unexpectedEnd, "unexpected end of document inside a \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let c = buffer[position]
            let digit: UInt16
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt16(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt16(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt16(c - UInt8(ascii: "A") + 10)
            default: throw fail(.invalidEscape, "invalid hexadecimal digit \(describe(c)) in a \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence at `position` (RFC 3629: no overlongs,
    /// no surrogates, nothing above U+10FFFF) and steps over it.
    mutating func skipUTF8Sequence() throws(JSONParseError) {
        let b0 = buffer[position]
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F  // would encode a surrogate
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default:
            throw fail(.invalidUTF8, "invalid UTF-8 byte 0x\(String(b0, radix: 16, uppercase: true))")
        }
        guard position + length <= buffer.count else {
            throw fail(.invalidUTF8, "truncated UTF-8 sequence")
        }
        let b1 = buffer[position + 1]
        if b1 < lower || b1 > upper {
            throw fail(.invalidUTF8, b0 == 0xED ? "UTF-8 encoded surrogate; I-JSON forbids surrogates" : "invalid UTF-8 sequence")
        }
        for i in 2..<max(2, length) where i < length {
            let b = buffer[position + i]
            if b < 0x80 || b > 0xBF { throw fail(.invalidUTF8, "invalid UTF-8 continuation byte") }
        }
        var value = UInt32(b0 & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07))
        for i in 1..<length { value = value << 6 | UInt32(buffer[position + i] & 0x3F) }
        if length >= 3 && limits.interoperableValues && Self.isNoncharacter(value) {
            throw fail(.noncharacter, "the noncharacter U+\(String(value, radix: 16, uppercase: true)); I-JSON forbids noncharacters")
        }
        try countNonStarter(value)
        position += length
    }

    /// Counts combining marks in a row (canonical combining class not 0); more than 30 is
    /// refused (Stream-Safe Text Format, UAX #15): hashing or comparing a Swift string
    /// normalises it, in time quadratic in such a run.
    mutating func countNonStarter(_ value: UInt32) throws(JSONParseError) {
        // Nothing below U+0300 combines.
        guard value >= 0x300, let scalar = Unicode.Scalar(value), scalar.properties.canonicalCombiningClass.rawValue != 0 else {
            nonStarters = 0
            return
        }
        nonStarters += 1
        if nonStarters > Self.maxCombiningMarks {
            throw fail(.combiningMarks, "more than 30 combining marks in a row (Unicode Stream-Safe Text Format, UAX #15)")
        }
    }

    /// Combining marks allowed in a row (Stream-Safe Text Format, UAX #15).
    static let maxCombiningMarks = 30

    /// Whether `scalar` may follow `marks` combining marks in a row (updated): not a
    /// noncharacter, and not a combining mark past the thirtieth.
    static func isInteroperable(_ scalar: Unicode.Scalar, marksBefore marks: inout Int) -> Bool {
        guard scalar.value >= 0x300 else { marks = 0; return true }   // nothing below U+0300 combines
        if isNoncharacter(scalar.value) { return false }
        guard scalar.properties.canonicalCombiningClass.rawValue != 0 else { marks = 0; return true }
        marks += 1
        return marks <= maxCombiningMarks
    }

    /// U+FDD0–U+FDEF, and the last two code points of every plane (RFC 7493 §2.1).
    static func isNoncharacter(_ v: UInt32) -> Bool {
        (0xFDD0...0xFDEF).contains(v) || v & 0xFFFE == 0xFFFE
    }

    // MARK: numbers

    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = position
        var negative = false
        if buffer[position] == UInt8(ascii: "-") { negative = true; position += 1 }
        guard position < buffer.count else { throw fail(.invalidNumber, "'-' must be followed by digits", at: start) }
        var integerDigits = 0
        var significant = false  // a non-zero digit appears
        var mantissa: UInt64 = 0
        if buffer[position] == UInt8(ascii: "0") {
            position += 1
            integerDigits = 1
            if position < buffer.count, isDigit(buffer[position]) {
                throw fail(.invalidNumber, "leading zeros are not allowed in numbers", at: start)
            }
        } else if isDigit(buffer[position]) {
            while position < buffer.count, isDigit(buffer[position]) {
                let d = buffer[position] - UInt8(ascii: "0")
                if integerDigits < 19 { mantissa = mantissa &* 10 &+ UInt64(d) }
                if d != 0 { significant = true }
                integerDigits += 1
                position += 1
            }
        } else {
            throw fail(.invalidNumber, "'-' must be followed by digits", at: start)
        }
        var simple = true
        if position < buffer.count, buffer[position] == UInt8(ascii: ".") {
            simple = false
            position += 1
            var fractionDigits = 0
            while position < buffer.count, isDigit(buffer[position]) {
                if buffer[position] != UInt8(ascii: "0") { significant = true }
                fractionDigits += 1
                position += 1
            }
            if fractionDigits == 0 { throw fail(.invalidNumber, "a decimal point must be followed by digits", at: start) }
        }
        if position < buffer.count, buffer[position] == UInt8(ascii: "e") || buffer[position] == UInt8(ascii: "E") {
            simple = false
            position += 1
            if position < buffer.count, buffer[position] == UInt8(ascii: "+") || buffer[position] == UInt8(ascii: "-") {
                position += 1
            }
            var exponentDigits = 0
            while position < buffer.count, isDigit(buffer[position]) {
                exponentDigits += 1
                position += 1
            }
            if exponentDigits == 0 { throw fail(.invalidNumber, "an exponent must have digits", at: start) }
        }
        if simple && integerDigits <= 15 {
            let v = Double(mantissa)
            return negative ? -v : v
        }
        // An integer an IEEE double cannot hold exactly would be signed, compared and sent as
        // another number (…567 as …568): refused, as I-JSON advises (RFC 7493 §2.2).
        if simple && limits.interoperableValues && (integerDigits > 19 || mantissa > 9_007_199_254_740_991) {
            throw fail(.numberOutOfRange, "integer \(String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<min(position, start + 40)]), as: UTF8.self)) is beyond ±9007199254740991 (2^53 − 1), which an IEEE double holds exactly; send it as a string", at: start)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buffer[start..<position]), as: UTF8.self)
        guard let value = Double(text) else {
            throw fail(.invalidNumber, "invalid number", at: start)
        }
        if !value.isFinite {
            throw fail(.numberOutOfRange, "number \(text.prefix(40)) is outside the range of an IEEE double", at: start)
        }
        if value == 0 && significant {
            throw fail(.numberOutOfRange, "number \(text.prefix(40)) is too small for an IEEE double (it would become 0)", at: start)
        }
        // However it is spelled (1e17, 9007199254740993.0), a value from 2^53 up to 1e21 is
        // an integer that JCS writes out in digits: one a double does not hold exactly, signed
        // as another number, and refused by a strict reader of what the gateway sends.
        if limits.interoperableValues && value.magnitude >= 9_007_199_254_740_992 && value.magnitude < 1e21 {
            throw fail(.numberOutOfRange, "number \(text.prefix(40)) is an integer beyond ±9007199254740991 (2^53 − 1), which an IEEE double holds exactly; send it as a string", at: start)
        }
        return value
    }

    @inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }

    /// A member name or value shortened and made printable for an error sentence.
    var escapedForMessage: String {
        var out = ""
        for scalar in unicodeScalars.prefix(80) {
            if scalar.value < 0x20 || scalar == "\"" || scalar == "\\" {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        if unicodeScalars.count > 80 { out += "…" }
        return out
    }
}
