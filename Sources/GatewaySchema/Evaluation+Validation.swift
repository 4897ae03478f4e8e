// Evaluation+Validation: the validation vocabulary (type, enum, const, numeric and string
// bounds, pattern, array and object bounds, required, dependentRequired) and format
// assertion. Every failure is a sentence naming the value and what was expected.

import Foundation
import GatewayJSON

extension Evaluation {
    mutating func applyAssertion(_ keyword: Keyword, _ instance: JSON) -> Bool {
        switch keyword.op {
        case .type(let mask, let names):
            if mask.admits(instance) { return true }
            switch instance {
            case .object, .array, .null: fail(keyword, "expected \(names.joined(separator: " or ")), got \(instance.typeName)")
            default: fail(keyword, "expected \(names.joined(separator: " or ")), got \(instance.typeName) \(describe(instance))")
            }
            return false

        case .enumeration(let values, let set):
            if let set {
                // The hash set finds candidates (Swift String equality is canonical
                // equivalence); strict equality confirms.
                if set.contains(instance), values.contains(where: { strictlyEqual($0, instance) }) { return true }
            } else if values.contains(where: { strictlyEqual($0, instance) }) {
                return true
            }
            fail(keyword, "expected one of \(listValues(values)), got \(describe(instance))")
            return false

        case .constant(let value):
            if strictlyEqual(instance, value) { return true }
            fail(keyword, "expected \(describe(value)), got \(describe(instance))")
            return false

        case .multipleOf(let divisor):
            guard case .number(let value) = instance else { return true }
            if Self.isMultiple(value, of: divisor) { return true }
            fail(keyword, "\(number(value)) is not a multiple of \(number(divisor))")
            return false

        case .maximum(let limit):
            guard case .number(let value) = instance, value > limit else { return true }
            fail(keyword, "\(number(value)) is greater than the maximum \(number(limit))")
            return false
        case .exclusiveMaximum(let limit):
            guard case .number(let value) = instance, value >= limit else { return true }
            fail(keyword, "\(number(value)) must be less than \(number(limit))")
            return false
        case .minimum(let limit):
            guard case .number(let value) = instance, value < limit else { return true }
            fail(keyword, "\(number(value)) is less than the minimum \(number(limit))")
            return false
        case .exclusiveMinimum(let limit):
            guard case .number(let value) = instance, value <= limit else { return true }
            fail(keyword, "\(number(value)) must be greater than \(number(limit))")
            return false

        case .maxLength(let limit):
            // Unicode code points, as JSON Schema counts (not UTF-16 units, not graphemes).
            guard case .string(let s) = instance, s.utf8.count > limit else { return true }
            let length = codePointCount(s)
            guard length > limit else { return true }
            fail(keyword, "\(describe(instance)) is too long: \(length) characters, at most \(limit) allowed")
            return false
        case .minLength(let limit):
            // At most four UTF-8 bytes a code point: long enough strings need no count.
            guard case .string(let s) = instance, s.utf8.count < 4 * limit else { return true }
            let length = codePointCount(s)
            guard length < limit else { return true }
            fail(keyword, length == 0 ? "must not be empty (at least \(limit) characters)" : "\(describe(instance)) is too short: \(length) characters, at least \(limit) required")
            return false

        case .pattern(let regex):
            guard case .string(let s) = instance else { return true }
            guard let matched = matches(regex, s, keyword) else { return false }
            if matched { return true }
            fail(keyword, "\(describe(instance)) does not match the pattern \(regex.source)")
            return false

        case .maxItems(let limit):
            guard case .array(let items) = instance, items.count > limit else { return true }
            fail(keyword, "too many items: \(items.count), at most \(limit) allowed")
            return false
        case .minItems(let limit):
            guard case .array(let items) = instance, items.count < limit else { return true }
            fail(keyword, "too few items: \(items.count), at least \(limit) required")
            return false

        case .uniqueItems:
            guard case .array(let items) = instance, items.count > 1 else { return true }
            // Hashing, not pairwise comparison: O(n) on hostile arrays. JSON's Hashable agrees
            // with JSON Schema equality (1 == 1.0, member order irrelevant).
            var firstIndex: [StrictJSON: Int] = [:]
            firstIndex.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                if let earlier = firstIndex.updateValue(i, forKey: StrictJSON(value: item)) {
                    fail(keyword, "items \(earlier) and \(i) are both \(describe(item)); items must be unique")
                    return false
                }
            }
            return true

        case .maxProperties(let limit):
            guard case .object(let members) = instance, members.count > limit else { return true }
            fail(keyword, "too many properties: \(members.count), at most \(limit) allowed")
            return false
        case .minProperties(let limit):
            guard case .object(let members) = instance, members.count < limit else { return true }
            fail(keyword, "too few properties: \(members.count), at least \(limit) required")
            return false

        case .required(let names):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for name in names where members[name] == nil {
                fail(keyword, "required property \"\(name)\" is missing")
                valid = false
                if !collecting { break }
            }
            return valid

        case .dependentRequired(let pairs):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for (property, required) in pairs where members[property] != nil {
                for name in required where members[name] == nil {
                    fail(keyword, "property \"\(name)\" is required when \"\(property)\" is present")
                    valid = false
                }
            }
            return valid

        case .format(let format):
            if format.check(instance) { return true }
            fail(keyword, "\(describe(instance)) is not \(format.phrase)")
            return false

        default:
            return true
        }
    }

    /// multipleOf without the binary-fraction trap: 0.0075 / 0.0001 is 75.00000000000001 in
    /// doubles, so a quotient within a few ulps of an integer counts. Past 2^53 (or when the
    /// quotient overflows) the exact remainder decides instead.
    static func isMultiple(_ value: Double, of divisor: Double) -> Bool {
        if value == 0 { return true }
        let quotient = value / divisor
        if quotient.isFinite, abs(quotient) < 9_007_199_254_740_992 {
            let rounded = quotient.rounded()
            if rounded == 0 { return false }
            return abs(quotient - rounded) <= 4 * rounded.ulp
        }
        // A divisor like 1e-8 is not exact in binary, so fmod would say no; but any integer
        // is a multiple of a divisor whose reciprocal is an integer.
        let reciprocal = 1 / divisor
        if value.rounded(.towardZero) == value, reciprocal.isFinite, reciprocal.rounded() == reciprocal { return true }
        return fmod(value, divisor) == 0
    }
}

// MARK: how values appear in messages

/// A value as it appears in a message: JSON text, shortened past 60 characters.
func describe(_ value: JSON) -> String {
    switch value {
    case .object(let members): return members.isEmpty ? "{}" : "an object"
    case .array(let items): return items.isEmpty ? "[]" : "an array of \(items.count)"
    case .number(let d): return number(d)
    default:
        let text = value.description
        return text.count > 60 ? String(text.prefix(57)) + "…\"" : text
    }
}

/// Numbers without a spurious ".0" (messages show 42, not 42.0).
func number(_ value: Double) -> String {
    JSON.number(value).description
}

/// "one of "a", "b", "c"", cut after ten values.
func listValues(_ values: [JSON]) -> String {
    let shown = values.prefix(10).map { value -> String in
        if case .string = value { return value.description }
        return describe(value)
    }
    let more = values.count > 10 ? ", … (\(values.count - 10) more)" : ""
    return shown.joined(separator: ", ") + more
}
