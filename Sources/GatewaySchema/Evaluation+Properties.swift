// Evaluation+Properties: the object applicators (properties, patternProperties,
// additionalProperties, propertyNames) and unevaluatedProperties. A property refused by a
// `false` schema gets its own sentence ("property "x" is not allowed here") at the
// property's location, which is what a person fixing the file needs.

import GatewayJSON

extension Evaluation {
    mutating func applyProperties(_ keyword: Keyword, _ members: [String: JSON], _ annotations: inout Annotations?) -> Bool {
        switch keyword.op {
        case .properties(let branches):
            var valid = true
            // Walk the smaller of the two maps.
            if members.count <= branches.count {
                for (name, value) in members {
                    guard let branch = branches[name] else { continue }
                    if !evaluateProperty(branch, name, value) {
                        valid = false
                        if !collecting || aborted { return false }
                    }
                    annotations?.properties.insert(name)
                }
            } else {
                for (name, branch) in branches {
                    guard let value = members[name] else { continue }
                    if !evaluateProperty(branch, name, value) {
                        valid = false
                        if !collecting || aborted { return false }
                    }
                    annotations?.properties.insert(name)
                }
            }
            return valid

        case .patternProperties(let pairs):
            var valid = true
            for (name, value) in members {
                for (regex, branch) in pairs {
                    guard let matched = matches(regex, name, keyword) else { return false }
                    guard matched else { continue }
                    annotations?.properties.insert(name)
                    if !evaluateProperty(branch, name, value) {
                        valid = false
                        if !collecting || aborted { return false }
                    }
                }
            }
            return valid

        case .additionalProperties(let node, let known, let patterns):
            let isFalse = graph.nodes[node].boolean == false
            var valid = true
            for (name, value) in members where !known.contains(name) {
                var covered = false
                for regex in patterns {
                    guard let matched = matches(regex, name, keyword) else { return false }
                    if matched { covered = true; break }
                }
                if covered { continue }
                if isFalse {
                    instancePath.append(.key(name))
                    fail(keyword, known.isEmpty
                        ? "property \"\(name)\" is not allowed here"
                        : "property \"\(name)\" is not allowed here (expected only: \(known.sorted().joined(separator: ", ")))")
                    instancePath.removeLast()
                    valid = false
                    if !collecting { return false }
                } else if !evaluate(node, child: .key(name), value) {
                    valid = false
                    if !collecting || aborted { return false }
                }
            }
            annotations?.allProperties = true
            return valid

        case .propertyNames(let node):
            var valid = true
            for name in members.keys {
                let mark = errors.count
                var none: Annotations? = nil
                if !evaluate(node, .string(name), &none) {
                    valid = false
                    if !collecting || aborted { return false }
                    // The errors are about the name, at the object's location: say so.
                    for i in mark..<errors.count {
                        let e = errors[i]
                        errors[i] = ValidationError(instanceLocation: e.instanceLocation, keywordLocation: e.keywordLocation,
                                                    absoluteKeywordLocation: e.absoluteKeywordLocation, keyword: e.keyword,
                                                    message: "property name \"\(name)\": \(e.message)")
                    }
                }
            }
            return valid

        case .unevaluatedProperties(let node):
            let seen = annotations ?? Annotations()
            let isFalse = graph.nodes[node].boolean == false
            var valid = true
            for (name, value) in members where !seen.hasEvaluated(property: name) {
                if isFalse {
                    instancePath.append(.key(name))
                    fail(keyword, "property \"\(name)\" is not allowed here (no schema evaluates it)")
                    instancePath.removeLast()
                    valid = false
                } else if !evaluate(node, child: .key(name), value) {
                    valid = false
                }
                if !valid && (!collecting || aborted) { return false }
            }
            annotations?.allProperties = true
            return valid

        default:
            return true
        }
    }

    @inline(__always)
    private mutating func evaluateProperty(_ branch: Branch, _ name: String, _ value: JSON) -> Bool {
        keywordPath.append(branch.token)
        defer { keywordPath.removeLast() }
        return evaluate(branch.node, child: .key(name), value)
    }

    /// A bounded regular-expression search; nil (and the validation stopped) on timeout.
    mutating func matches(_ regex: PatternRegex, _ text: String, _ keyword: Keyword) -> Bool? {
        switch regex.firstMatch(in: text, deadline: patternDeadline) {
        case .matched: return true
        case .notMatched: return false
        case .timedOut:
            stop(keyword.name, "matching the pattern \(regex.source) took longer than the \(options.patternTimeLimit) s allowed; the value is refused", absolute: keyword.absolute)
            return nil
        }
    }
}
