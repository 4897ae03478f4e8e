import Foundation
import GatewayJSON
import Testing

@Suite("strict I-JSON parser")
struct ParserTests {
    @Test("well-formed values parse")
    func values() throws {
        let value = try JSON.parse(#"{"a":[1,-2.5e3,true,false,null,"x\u00e9\ud83d\ude00"],"b":{}}"#)
        #expect(value["a"]?[0] == .number(1))
        #expect(value["a"]?[1] == .number(-2500))
        #expect(value["a"]?[5] == .string("xé😀"))
        #expect(value["b"] == .object([:]))
    }

    struct BadCase: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let reason: JSONParseError.Reason
        var testDescription: String { name }
        init(_ name: String, _ text: String, _ reason: JSONParseError.Reason) {
            self.name = name; self.bytes = Array(text.utf8); self.reason = reason
        }
        init(_ name: String, bytes: [UInt8], _ reason: JSONParseError.Reason) {
            self.name = name; self.bytes = bytes; self.reason = reason
        }
    }

    static let bad: [BadCase] = [
        BadCase("empty", "", .empty),
        BadCase("only white space", "  \n ", .empty),
        BadCase("duplicate member", #"{"a":1,"a":1}"#, .duplicateMember),
        BadCase("duplicate member nested", #"{"x":{"b":1,"c":2,"b":3}}"#, .duplicateMember),
        BadCase("duplicate member via escape", #"{"a":1,"\u0061":2}"#, .duplicateMember),
        BadCase("lone high surrogate", #""\ud800""#, .loneSurrogate),
        BadCase("lone low surrogate", #""\udc00x""#, .loneSurrogate),
        BadCase("high then non-low", #""\ud800\u0041""#, .loneSurrogate),
        BadCase("byte-order mark", bytes: [0xEF, 0xBB, 0xBF, 0x7B, 0x7D], .byteOrderMark),
        BadCase("invalid UTF-8", bytes: Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), .invalidUTF8),
        BadCase("overlong UTF-8", bytes: [0x22, 0xC0, 0xAF, 0x22], .invalidUTF8),
        BadCase("UTF-8 surrogate", bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], .invalidUTF8),
        BadCase("above U+10FFFF", bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], .invalidUTF8),
        BadCase("truncated UTF-8", bytes: [0x22, 0xE2, 0x82], .invalidUTF8),
        BadCase("NUL byte in string", bytes: [0x22, 0x00, 0x22], .controlCharacterInString),
        BadCase("NUL byte outside", bytes: [0x7B, 0x00, 0x7D], .unexpectedCharacter),
        BadCase("raw newline in string", "\"a\nb\"", .controlCharacterInString),
        BadCase("number overflow", "1e400", .numberOutOfRange),
        BadCase("negative overflow", "-1e309", .numberOutOfRange),
        BadCase("number underflow", "1e-400", .numberOutOfRange),
        BadCase("leading zero", "01", .invalidNumber),
        BadCase("bare minus", "-", .invalidNumber),
        BadCase("bare point", "1.", .invalidNumber),
        BadCase("empty exponent", "1e", .invalidNumber),
        BadCase("NaN", "NaN", .unexpectedCharacter),
        BadCase("single quotes", "{'a':1}", .unexpectedCharacter),
        BadCase("trailing comma object", #"{"a":1,}"#, .unexpectedCharacter),
        BadCase("trailing comma array", "[1,]", .unexpectedCharacter),
        BadCase("trailing content", "{} {}", .trailingContent),
        BadCase("unterminated string", #""abc"#, .unexpectedEnd),
        BadCase("unterminated object", #"{"a":1"#, .unexpectedEnd),
        BadCase("bad escape", #""\x41""#, .invalidEscape),
        BadCase("bad hex", #""\u12G4""#, .invalidEscape),
        BadCase("bad literal", "tru", .unexpectedEnd),
        BadCase("wrong literal", "nul1", .unexpectedCharacter),
        BadCase("comment", "// x\n{}", .unexpectedCharacter),
    ]

    @Test("bad input is refused with the right reason", arguments: bad)
    func refuses(_ bad: BadCase) {
        #expect(throws: JSONParseError.self) { try JSON.parse(bad.bytes) }
        do {
            _ = try JSON.parse(bad.bytes)
        } catch {
            #expect(error.reason == bad.reason, "\(error)")
            #expect(error.line >= 1 && error.column >= 1)
        }
    }

    @Test("errors carry line and column")
    func position() {
        do {
            _ = try JSON.parse("{\n  \"a\": 1,\n  \"a\": 2\n}")
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.reason == .duplicateMember)
            #expect(error.line == 3)
            #expect(error.column == 3)
        }
    }

    @Test("100,000-deep nesting is an error, not a crash")
    func deepNesting() {
        let deepArrays = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSON.parse(deepArrays) }
        let deepObjects = String(repeating: #"{"a":"#, count: 100_000) + "1" + String(repeating: "}", count: 100_000)
        do {
            _ = try JSON.parse(deepObjects)
            Issue.record("deep document accepted")
        } catch {
            #expect(error.reason == .tooDeep)
        }
    }

    @Test("size limit")
    func sizeLimit() {
        let parser = JSONParser(limits: .init(maxDepth: 10, maxBytes: 8))
        do {
            _ = try parser.parse(#"{"a":"123456"}"#)
            Issue.record("oversized document accepted")
        } catch {
            #expect(error.reason == .tooLarge)
        }
    }

    @Test("objects compare member names by code points: a name canonically equivalent to another is another name")
    func objectNamesByCodePoints() throws {
        #expect(try JSON.parse(#"{"\u212A":1}"#) != JSON.parse(#"{"K":1}"#), "KELVIN SIGN is not K")
        #expect(try JSON.parse(#"{"e\u0301":1}"#) != JSON.parse(#"{"\u00E9":1}"#))
        #expect(try JSON.parse(#"{"K":1,"a":[1]}"#) == JSON.parse(#"{"a":[1.0],"K":1}"#))
    }

    @Test("more than 30 combining marks in a row are refused (Stream-Safe Text, UAX #15), raw or escaped, in values and names; 30, or runs broken by a letter, are not")
    func combiningMarkRuns() throws {
        let mark = "\u{0301}"
        #expect(try JSON.parse("\"A" + String(repeating: mark, count: 30) + "\"") == .string("A" + String(repeating: mark, count: 30)))
        #expect(try JSON.parse("\"" + String(repeating: "a" + String(repeating: mark, count: 30), count: 100) + "\"").stringValue != nil)
        for text in ["\"A" + String(repeating: mark, count: 31) + "\"",
                     "{\"A" + String(repeating: mark, count: 31) + "\":1}",
                     "\"A" + String(repeating: "\\u0301", count: 31) + "\"",
                     "\"A" + String(repeating: mark, count: 20) + String(repeating: "\\u0316", count: 11) + "\""] {
            let error = try #require(throws: JSONParseError.self) { try JSON.parse(text) }
            #expect(error.reason == .combiningMarks, "\(error)")
        }
    }

    @Test("numbers at the limits of a double")
    func numberEdges() throws {
        #expect(try JSON.parse("1.7976931348623157e308") == .number(.greatestFiniteMagnitude))
        #expect(try JSON.parse("5e-324") == .number(5e-324))
        #expect(try JSON.parse("-0") == .number(0))
        #expect(try JSON.parse("0e10") == .number(0))
        #expect(try JSON.parse("1.2345678901234568e29") == .number(1.2345678901234568e29))
        // Integers: exact up to 2^53 − 1; beyond, a double would hold another number, so refused
        // (as I-JSON advises), unless the reader asks for non-I-JSON values on purpose.
        #expect(try JSON.parse("9007199254740991") == .number(9_007_199_254_740_991))
        #expect(try JSON.parse("-9007199254740991") == .number(-9_007_199_254_740_991))
        for text in ["9007199254740992", "12345678901234567", "-12345678901234567", "123456789012345678901234567890",
                     "1e17", "9007199254740993.0", "1.5e16", "-9.007199254740992e15", "9.99e20"] {
            let error = try #require(throws: JSONParseError.self, "\(text)") { try JSON.parse(text) }
            #expect(error.reason == .numberOutOfRange && "\(error)".contains("2^53"), "\(error)")
        }
        #expect(try JSONParser(limits: .init(interoperableValues: false)).parse(Array("123456789012345678901234567890".utf8)) == .number(1.2345678901234568e29))
        // What is taken reads back the same from its canonical form (JCS writes 1e21 and up with an exponent).
        for text in ["9007199254740991.0", "1e21", "-1.5e300", "0.1", "1e-7", "123456.789"] {
            let value = try JSON.parse(text)
            #expect(try JSON.parse(value.canonicalBytes()) == value, "\(text)")
        }
    }

    @Test("noncharacters are refused, escaped or raw (RFC 7493 §2.1); the characters next to them are not")
    func noncharacters() throws {
        for text in [#""\uFFFE""#, #""\uFDD0""#, #""\uFDEF""#, #""\uD83F\uDFFF""#, #"{"\uFFFF":1}"#] {
            let error = try #require(throws: JSONParseError.self, "\(text)") { try JSON.parse(text) }
            #expect(error.reason == .noncharacter, "\(text): \(error)")
        }
        // Raw UTF-8: U+FFFF, U+FDD5, U+1FFFE, U+10FFFF.
        for raw: [UInt8] in [[0xEF, 0xBF, 0xBF], [0xEF, 0xB7, 0x95], [0xF0, 0x9F, 0xBF, 0xBE], [0xF4, 0x8F, 0xBF, 0xBF]] {
            let error = try #require(throws: JSONParseError.self, "\(raw)") { try JSONParser().parse([0x22] + raw + [0x22]) }
            #expect(error.reason == .noncharacter, "\(raw): \(error)")
        }
        for (text, value) in [(#""\uFDCF""#, "\u{FDCF}"), (#""\uFDF0""#, "\u{FDF0}"), (#""\uFFFD""#, "\u{FFFD}"), ("\"\u{1FFFD}\"", "\u{1FFFD}"), ("\"\u{EFBF}\"", "\u{EFBF}")] {
            #expect(try JSON.parse(text) == .string(value), "\(text)")
        }
    }

    @Test("canonical output round-trips through the parser")
    func roundTrip() throws {
        let text = #"{"b":[1.5,"\u0001\"\\",{"z":null,"a":true}],"a":-0.000001}"#
        let value = try JSON.parse(text)
        let canonical = try value.canonicalString()
        #expect(canonical == #"{"a":-0.000001,"b":[1.5,"\u0001\"\\",{"a":true,"z":null}]}"#)
        #expect(try JSON.parse(canonical) == value)
    }
}

@Suite("equality")
struct EqualityTests {
    @Test("strings compare by code points; numbers by value; objects by members")
    func equality() throws {
        #expect(JSON.string("\u{E9}") != JSON.string("e\u{301}"))
        #expect(JSON.number(1) == JSON.number(1.0))
        #expect(JSON.number(0) == JSON.number(-0.0))
        #expect(try JSON.parse(#"{"a":1,"b":[true,null]}"#) == JSON.parse(#"{"b":[true,null],"a":1.0}"#))
        #expect(Set([JSON.number(0), JSON.number(-0.0), JSON.string("x"), JSON.string("x")]).count == 2)
    }

    @Test("canonically equivalent member names are refused as duplicates")
    func equivalentNames() {
        #expect(throws: JSONParseError.self) { try JSON.parse("{\"\u{E9}\":1,\"e\u{301}\":2}") }
    }
}

@Suite("base64url and JSON Pointer")
struct CodecTests {
    @Test func base64url() {
        let bytes: [UInt8] = Array(0...255)
        let encoded = Base64URL.encode(bytes)
        #expect(!encoded.contains("=") && !encoded.contains("+") && !encoded.contains("/"))
        #expect(Base64URL.decode(encoded) == bytes)
        #expect(Base64URL.decode("eyJhbGciOiJFUzI1NiJ9") == Array(#"{"alg":"ES256"}"#.utf8))
        #expect(Base64URL.decode("ab=") == nil)
        #expect(Base64URL.decode("a b") == nil)
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("AB") == nil, "non-zero trailing bits")
        #expect(Base64URL.decodeStandard("aGVsbG8=") == Array("hello".utf8))
        #expect(Base64URL.encodeStandard(Array("hello".utf8)) == "aGVsbG8=")
    }

    @Test("base64 and base64url agree with Foundation for every length up to 300; stray characters and non-canonical tails are refused")
    func base64AgainstFoundation() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...300 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let reference = Data(bytes).base64EncodedString()
            #expect(Base64URL.encodeStandard(bytes) == reference)
            let url = reference.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == url)
            #expect(Base64URL.decode(url) == bytes)
            #expect(Base64URL.decodeStandard(reference) == bytes)
            #expect(Base64URL.decodeStandard(reference.replacingOccurrences(of: "=", with: "")) == bytes, "unpadded standard base64 is accepted")
            guard !url.isEmpty else { continue }
            // One stray character anywhere is refused.
            for position in Set([0, url.count / 2, url.count - 1]) {
                for stray in ["=", " ", "+", "\n", "é"] {
                    var chars = Array(url)
                    chars[position] = Character(stray)
                    #expect(Base64URL.decode(String(chars)) == nil, "\(stray) at \(position) of \(length) bytes")
                }
            }
        }
        // A final character with bits the decoded bytes do not use: not canonical.
        #expect(Base64URL.decode("AB") == nil && Base64URL.decode("AA") == [0])
        #expect(Base64URL.decode("AAB") == nil && Base64URL.decode("AAA") == [0, 0])
        #expect(Base64URL.decode("AAAAB") == nil, "a length of 4n+1 cannot be base64")
        #expect(Base64URL.decodeStandard("AA=") == nil, "padding must complete a group of four")
        #expect(Base64URL.decodeStandard("A===") == nil)
    }

    @Test func pointer() throws {
        let doc = try JSON.parse(#"{"a/b":{"c~d":[10,20]}}"#)
        #expect(JSONPointer.resolve("/a~1b/c~0d/1", in: doc) == .number(20))
        #expect(JSONPointer.resolve("/a~1b/c~0d/01", in: doc) == nil)
        #expect(JSONPointer.resolve("", in: doc) == doc)
        #expect(JSONPointer.escape("a/b~") == "a~1b~0")
    }
}
