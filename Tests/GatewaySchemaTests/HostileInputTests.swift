// Hostile inputs end in an error or a result within a bound: never a crash, never a hang.
// Each bound of ValidationOptions is exercised here.

import Foundation
import GatewayJSON
@testable import GatewaySchema
import Testing

// The time bounds below tell "bounded" from "quadratic or worse" (minutes to hours on
// these sizes); they are generous so that a loaded CI machine never trips them.
@Suite("hostile input")
struct HostileInputTests {
    func compile(_ text: String, _ options: ValidationOptions = ValidationOptions()) throws -> Schema {
        try SchemaRegistry().compile(try JSON.parse(text), options: options)
    }

    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    @Test("a $ref cycle that consumes no instance ends in an error")
    func refCycle() throws {
        let schema = try compile(##"{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}"##)
        let result = schema.validate(["x": 1])
        #expect(!result.isValid)
        #expect(result.errors.count == 1)
        #expect(result.errors[0].message.contains("schema recursion deeper than 256 levels"))
        #expect(!schema.isValid(1))
    }

    @Test("a self-referencing schema on a deeply nested instance stops at the depth bound")
    func deepInstance() throws {
        // Built in code, so deeper than the parser would ever allow.
        var instance: JSON = []
        for _ in 0..<10_000 { instance = .array([instance]) }
        let schema = try compile(##"{"items": {"$ref": "#"}}"##)
        let result = schema.validate(instance)
        #expect(!result.isValid)
        #expect(result.errors.first?.message.contains("recursion deeper than") == true)
        // A shallow instance still validates.
        var shallow: JSON = []
        for _ in 0..<50 { shallow = .array([shallow]) }
        #expect(schema.validate(shallow).isValid)
    }

    @Test("anyOf nested thirty deep (2^30 paths) is stopped by the step bound")
    func exponentialApplicators() throws {
        var defs: [String] = []
        for i in 0..<30 { defs.append("\"d\(i)\": {\"anyOf\": [{\"$ref\": \"#/$defs/d\(i + 1)\"}, {\"$ref\": \"#/$defs/d\(i + 1)\"}]}") }
        defs.append(#""d30": false"#)
        let text = "{\"$ref\": \"#/$defs/d0\", \"$defs\": {\(defs.joined(separator: ","))}}"
        let schema = try compile(text, ValidationOptions(maxSteps: 20_000))
        var result: ValidationResult?
        let elapsed = seconds { result = schema.validate("x") }
        #expect(result?.isValid == false)
        #expect(result?.errors.first?.message.contains("more than 20000 steps") == true)
        #expect(elapsed < 60)
    }

    @Test("a catastrophic pattern is stopped by the time limit")
    func catastrophicPattern() throws {
        let schema = try compile(#"{"pattern": "^(a+)+$"}"#, ValidationOptions(patternTimeLimit: 0.2))
        let hostile = JSON.string(String(repeating: "a", count: 64) + "!")
        var result: ValidationResult?
        let elapsed = seconds { result = schema.validate(hostile) }
        #expect(result?.isValid == false)
        #expect(result?.errors.first?.message.contains("took longer than") == true)
        #expect(elapsed < 30)
        // The same pattern on a benign value is fine.
        #expect(schema.validate("aaaa").isValid)
    }

    @Test("a catastrophic patternProperties key is stopped too")
    func catastrophicPatternProperty() throws {
        let schema = try compile(#"{"patternProperties": {"^(a|a)*$": true}, "additionalProperties": false}"#, ValidationOptions(patternTimeLimit: 0.2))
        let key = String(repeating: "a", count: 40) + "b"
        let elapsed = seconds { #expect(!schema.validate(.object([key: 1])).isValid) }
        #expect(elapsed < 30)
    }

    @Test("uniqueItems on 200,000 items is linear (hashing), and finds the duplicate")
    func hugeUniqueItems() throws {
        let schema = try compile(#"{"uniqueItems": true}"#)
        var items = (0..<200_000).map { JSON.object(["id": .number(Double($0)), "tag": "x"]) }
        let elapsed = seconds { #expect(schema.validate(.array(items)).isValid) }
        #expect(elapsed < 60)
        items.append(["tag": "x", "id": 17.0])
        let result = schema.validate(.array(items))
        #expect(result.errors.first?.message == "items 17 and 200000 are both an object; items must be unique")
    }

    @Test("200,000 unknown members make a bounded error list, the last saying where it stopped; a branch of anyOf failing with thousands of errors does not stop the next one from matching")
    func errorsBounded() throws {
        let schema = try compile(##"{"type": "object", "properties": {"a": {}}, "additionalProperties": false}"##)
        var members: [String: JSON] = [:]
        for i in 0..<200_000 { members["m\(i)"] = 0 }
        let result = schema.validate(.object(members))
        #expect(result.errors.count == 100)
        #expect(result.errors.last?.message.contains("the rest are not listed") == true, "\(result.errors.last?.message ?? "")")
        #expect(!schema.isValid(.object(members)))
        // The same bound through a false subschema and patternProperties.
        let falseBranch = try compile(##"{"patternProperties": {"^m": false}}"##)
        let viaFalse = falseBranch.validate(.object(members))
        #expect(viaFalse.errors.count == 100 && viaFalse.errors.last?.message.contains("the rest are not listed") == true)
        // Over the bound in a failing branch, then a branch that matches: valid, as isValid says.
        let either = try compile(##"{"anyOf": [{"items": {"type": "string"}}, {"items": {"type": "number"}}]}"##)
        let numbers = JSON.array((0..<5_000).map { .number(Double($0)) })
        #expect(either.isValid(numbers))
        #expect(either.validate(numbers).isValid, "\(either.validate(numbers).errors.prefix(2))")
        // Collecting errors evaluates a failing branch whole (here 2,000 steps, then 2,000 for
        // the matching one): past the step bound where the verdict alone is not. validate
        // and isValid agree all the same.
        let tight = try compile(##"{"anyOf": [{"items": {"type": "string"}}, {"items": {"type": "number"}}]}"##, ValidationOptions(maxSteps: 3_000))
        let twoThousand = JSON.array((0..<2_000).map { .number(Double($0)) })
        #expect(tight.isValid(twoThousand) && tight.validate(twoThousand).isValid)
        // A matching branch's overflow leaves with it: a later real error is reported alone.
        let then = try compile(##"{"prefixItems": [{"anyOf": [{"items": {"type": "string"}}, {"items": {"type": "number"}}]}, {"type": "string"}]}"##)
        let one = then.validate([numbers, 42])
        #expect(one.errors.count == 1 && one.errors[0].instanceLocation == "/1" && one.errors[0].message.contains("expected string"), "\(one.errors.prefix(3))")
        // No branch matches: the closest one's errors are shown (bounded), with the note.
        let neither = try compile(##"{"anyOf": [{"items": {"type": "string"}}, {"items": {"type": "boolean"}}]}"##)
        let none = neither.validate(numbers)
        #expect(none.errors.count == 100 && none.errors.dropLast().contains { $0.message.contains("expected string") || $0.message.contains("expected boolean") },
                "\(none.errors.prefix(3))")
        #expect(none.errors.last?.message.contains("the rest are not listed") == true)
    }

    @Test("canonically equivalent but distinct strings (different bytes) hash apart, so uniqueItems on a hostile array stays linear")
    func equivalentStringsHashApart() throws {
        // U+00E9 and e + U+0301, and permutations of marks of different combining classes.
        #expect(JSON.string("\u{00E9}").hashValue != JSON.string("e\u{0301}").hashValue)
        #expect(JSON.string("a\u{0301}\u{0316}").hashValue != JSON.string("a\u{0316}\u{0301}").hashValue)
        let schema = try compile(##"{"uniqueItems": true}"##)
        let marks: [Unicode.Scalar] = ["\u{0301}", "\u{0316}", "\u{0327}", "\u{0334}", "\u{05B0}", "\u{0591}", "\u{0345}", "\u{031B}"]
        var items: [JSON] = []
        func permute(_ rest: [Unicode.Scalar], _ prefix: String) {
            if items.count >= 30_000 { return }
            if rest.isEmpty { items.append(.string(prefix)); return }
            for (i, m) in rest.enumerated() {
                var next = rest
                next.remove(at: i)
                permute(next, prefix + String(Character(m)))
            }
        }
        permute(marks, "A")
        #expect(items.count == 30_000)
        let elapsed = try seconds { #expect(schema.validate(.array(items)).isValid, "distinct by their bytes") }
        #expect(elapsed < 90, "\(elapsed) s")
    }

    @Test("email: at most 254 bytes (a long run of flags is refused at once); no NUL in an IPv6 literal; no control character in a quoted local part")
    func emailEdges() throws {
        let schema = try compile(##"{"format": "email"}"##, ValidationOptions(formatAssertion: true))
        #expect(schema.isValid("a@example.org"))
        #expect(schema.isValid("\"quoted local\"@example.org"))
        #expect(schema.isValid("x@[IPv6:::1]"))
        // 254 bytes is the most an address may have; 255 is refused.
        let local = String(repeating: "a", count: 64)
        let at254 = local + "@" + String(repeating: "b", count: 63) + "." + String(repeating: "c", count: 63) + "." + String(repeating: "d", count: 57) + ".org"
        #expect(at254.utf8.count == 254 && schema.isValid(.string(at254)))
        let at255 = local + "@" + String(repeating: "b", count: 63) + "." + String(repeating: "c", count: 63) + "." + String(repeating: "d", count: 58) + ".org"
        #expect(at255.utf8.count == 255 && !schema.isValid(.string(at255)), "255 bytes, every label within 63")
        // A long run of flags after the "@" (where the search for it starts) or without one.
        let flags = String(repeating: "\u{1F1E6}", count: 200_000)
        let elapsed = try seconds {
            #expect(!schema.isValid(.string("a@" + flags)))
            #expect(!schema.isValid(.string(flags)))
        }
        #expect(elapsed < 30, "\(elapsed) s")
        #expect(!schema.isValid("x@[IPv6:::1\u{0}\r\nX-Injected: yes\r\n]"))
        for bad in ["\"\r\nBcc: victim\"@example.org", "\"a\u{0}b\"@example.org", "\"a\u{7F}\"@example.org", "\"a\\\u{1}\"@example.org"] {
            #expect(!schema.isValid(.string(bad)), "\(bad.debugDescription)")
        }
    }

    @Test("an anchored simple pattern on a string far longer than it can match is refused without a memo the size of the string")
    func anchoredPatternLength() throws {
        let schema = try compile(##"{"pattern": "^[A-Z]{2}-[A-Z0-9]{2,10}$"}"##)
        #expect(schema.isValid("PL-KGP"))
        #expect(!schema.isValid("P"))
        let long = String(repeating: "A", count: 20_000_000)
        let elapsed = try seconds { #expect(!schema.isValid(.string(long))) }
        #expect(elapsed < 30, "\(elapsed) s")
        // What is read of the text: nothing past what the pattern can match.
        let bounded = try #require(SimplePattern("^[A-Z]{2}-[A-Z0-9]{2,10}$"))
        #expect(bounded.relevantLength(20_000_000) == nil && bounded.relevantLength(6) == 6)
        #expect(try #require(SimplePattern("^[A-Z]{2}")).relevantLength(20_000_000) == 2)
        // One atom of variable width, anchored at the start: matched without a memo.
        let open = try compile(##"{"pattern": "^[A-Z]{2}-[A-Z0-9]+$"}"##)
        #expect(open.isValid(.string("PL-" + String(repeating: "K", count: 20_000_000))))
        #expect(!open.isValid(.string("PL-" + String(repeating: "K", count: 20_000_000) + "-")))
        let prefixed = try compile(##"{"pattern": "^[A-Z]{2}"}"##)
        #expect(prefixed.isValid(.string(long)), "anchored at the start only: the first characters decide")
        #expect(prefixed.isValid(.string("AB" + String(repeating: "é", count: 1_000))))
    }

    @Test("a schema nested deeper than the bound is refused when registered")
    func deepSchema() throws {
        var schema: JSON = true
        for _ in 0..<2_000 { schema = ["not": schema] }
        var registry = SchemaRegistry()
        #expect(throws: SchemaError.self) { try registry.add(schema) }
    }

    @Test("a $ref to an unregistered URI is a compile error, never a fetch")
    func unknownReference() throws {
        #expect(throws: SchemaError.self) { try compile(#"{"$ref": "https://example.com/not-registered.json"}"#) }
    }

    @Test("one compiled schema validates concurrently from many tasks")
    func concurrentValidation() async throws {
        let validator = Examples.validator
        let good = try JSON.parse(Data(contentsOf: Examples.schemas.appendingPathComponent("examples/valid/alert--threat-to-life.json")))
        let bad = try JSON.parse(Data(contentsOf: Examples.schemas.appendingPathComponent("examples/invalid/envelope--priority-high.json")))
        let expected = validator.validate(bad).errors
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for _ in 0..<200 {
                        if !validator.validate(good).isValid { wrong += 1 }
                        if validator.validate(bad).errors != expected { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}
