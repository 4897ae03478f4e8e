// Errors a person can act on: the sentences, the locations, the summaries of anyOf/oneOf,
// the "basic" output shape and the rejected/NAME.error.json document.

import Foundation
import GatewayJSON
@testable import GatewaySchema
import Testing

@Suite("error messages")
struct ErrorMessageTests {
    func errors(_ schema: String, _ instance: String, format: Bool = false) throws -> [ValidationError] {
        let compiled = try SchemaRegistry().compile(try JSON.parse(schema), options: ValidationOptions(formatAssertion: format))
        return compiled.validate(try JSON.parse(instance)).errors
    }

    @Test("enum, required, type, format and bounds say what was expected")
    func sentences() throws {
        #expect(try errors(#"{"properties": {"priority": {"enum": ["routine", "urgent", "immediate"]}}}"#, #"{"priority": "high"}"#).map(\.description)
            == [#"/priority: expected one of "routine", "urgent", "immediate", got "high""#])
        #expect(try errors(#"{"required": ["sender"]}"#, "{}").map(\.description) == [#"/: required property "sender" is missing"#])
        #expect(try errors(#"{"type": ["string", "null"]}"#, "12").map(\.message) == ["expected string or null, got integer 12"])
        #expect(try errors(#"{"format": "date-time"}"#, #""yesterday""#, format: true).map(\.message) == [#""yesterday" is not an RFC 3339 date-time"#])
        #expect(try errors(#"{"format": "date-time"}"#, #""yesterday""#).isEmpty, "format is an annotation unless asserted")
        #expect(try errors(#"{"minLength": 3}"#, #""ab""#).map(\.message) == [#""ab" is too short: 2 characters, at least 3 required"#])
        #expect(try errors(#"{"multipleOf": 0.01}"#, "10.005").map(\.message) == ["10.005 is not a multiple of 0.01"])
        #expect(try errors(#"{"dependentRequired": {"amount": ["currency"]}}"#, #"{"amount": 1}"#).map(\.message)
            == [#"property "currency" is required when "amount" is present"#])
        let long = try errors(#"{"enum": [1,2,3,4,5,6,7,8,9,10,11,12]}"#, "13")[0].message
        #expect(long == "expected one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, … (2 more), got 13")
    }

    @Test("contains says how many items match and how many may (its count was evaluated with error collection off, and said so too)")
    func containsCounts() throws {
        let many = try errors(#"{"contains": {"const": 1}, "maxContains": 1}"#, "[1, 1, 2]")
        #expect(many.map(\.message) == ["2 items match the \"contains\" schema, at most 1 may"], "\(many)")
        let none = try errors(#"{"contains": {"const": 1}}"#, "[2, 3]")
        #expect(none.map(\.message) == ["no item matches the \"contains\" schema"], "\(none)")
        let few = try errors(#"{"contains": {"const": 1}, "minContains": 2}"#, "[1, 3]")
        #expect(few.first?.message.contains("only 1 item match") == true, "\(few)")
    }

    @Test("locations: instance pointer, evaluation path through $ref, absolute location")
    func locations() throws {
        let schema = ##"{"$id": "https://gateway.example/schemas/t.json", "properties": {"a/b": {"$ref": "#/$defs/n"}}, "$defs": {"n": {"maximum": 3}}}"##
        let e = try errors(schema, #"{"a/b": 4}"#)
        #expect(e.count == 1)
        #expect(e[0].instanceLocation == "/a~1b")
        #expect(e[0].keywordLocation == "/properties/a~1b/$ref/maximum")
        #expect(e[0].absoluteKeywordLocation == "https://gateway.example/schemas/t.json#/$defs/n/maximum")
        #expect(e[0].keyword == "maximum")
    }

    @Test("anyOf failure: one summary plus the closest alternative's errors, not every branch")
    func anyOfSummary() throws {
        let schema = #"""
        {"anyOf": [
          {"properties": {"kind": {"const": "person"}, "name": {"type": "string"}}, "required": ["kind", "name"]},
          {"properties": {"kind": {"const": "vehicle"}, "plate": {"type": "string", "minLength": 4}}, "required": ["kind", "plate"]}
        ]}
        """#
        let e = try errors(schema, #"{"kind": "vehicle", "plate": "AB"}"#)
        #expect(e.count == 2)
        #expect(e[0].message.hasPrefix("matches none of the 2 alternatives of \"anyOf\""))
        #expect(e[0].message.contains("alternative 1"))
        #expect(e[1].instanceLocation == "/plate")
        #expect(e[1].keywordLocation == "/anyOf/1/properties/plate/minLength")
    }

    @Test("oneOf with two matches names them")
    func oneOfTwoMatches() throws {
        let e = try errors(#"{"oneOf": [{"type": "integer"}, {"minimum": 2}]}"#, "3")
        #expect(e.map(\.message) == [#"matches alternatives 0 and 1 of "oneOf", but exactly one must match"#])
    }

    @Test("additionalProperties: false names the property and what is expected")
    func unknownField() throws {
        let e = try errors(#"{"properties": {"a": true, "b": true}, "additionalProperties": false}"#, #"{"a": 1, "c": 2}"#)
        #expect(e.map(\.description) == [#"/c: property "c" is not allowed here (expected only: a, b)"#])
    }

    @Test("basic output shape")
    func basicOutput() throws {
        let schema = try SchemaRegistry().compile(["type": "string"])
        #expect(schema.validate("x").basicOutput == ["valid": true])
        let output = schema.validate(1).basicOutput
        #expect(output["valid"] == false)
        let unit = output["errors"]?[0]
        #expect(unit?["instanceLocation"] == "")
        #expect(unit?["keywordLocation"] == "/type")
        #expect(unit?["absoluteKeywordLocation"]?.stringValue?.hasSuffix("#/type") == true)
        #expect(unit?["error"] == "expected string, got integer 1")
    }

    @Test("the rejected/ error documents conform to error.schema.json")
    func errorDocuments() throws {
        let validator = Examples.validator
        let errorSchema = try validator.schema(named: "error")
        let bad = try JSON.parse(Data(contentsOf: Examples.schemas.appendingPathComponent("examples/invalid/envelope--priority-high.json")))
        let document = MessageValidator.errorDocument(file: "x.json", refusedAt: "2026-03-02T09:00:00Z", stage: "schema",
                                                      messageId: bad["messageId"]?.stringValue, errors: validator.validate(bad).errors)
        #expect(errorSchema.validate(document).isValid, "\(errorSchema.validate(document))")
        do {
            _ = try JSON.parse(#"{"priority": "routine", "priority": "urgent"}"#)
            Issue.record("duplicate member accepted")
        } catch {
            let parsed = MessageValidator.errorDocument(file: "dup.json", refusedAt: "2026-03-02T09:00:00Z", parseError: error)
            #expect(errorSchema.validate(parsed).isValid, "\(errorSchema.validate(parsed))")
            #expect(parsed["errors"]?[0]?["line"] == 1)
        }
        let fromBytes = validator.validate(bytes: Array(#"{"a": 1,}"#.utf8))
        #expect(fromBytes.errors.first?.message.hasPrefix("not valid I-JSON: line 1") == true)
    }
}
