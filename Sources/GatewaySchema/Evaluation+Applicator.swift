// Evaluation+Applicator: the applicator and unevaluated vocabularies. In-place applicators
// (allOf, anyOf, oneOf, not, if/then/else, dependentSchemas) share the instance and pass
// annotations up; child applicators (items, properties, …) descend into the instance.
// anyOf/oneOf failures are summarised with the closest alternative's errors rather than
// every branch's, so a person sees what to fix.

import GatewayJSON

extension Evaluation {
    mutating func applyInPlace(_ keyword: Keyword, _ instance: JSON, _ annotations: inout Annotations?) -> Bool {
        switch keyword.op {
        case .allOf(let branches):
            var valid = true
            for branch in branches {
                keywordPath.append(branch.token)
                let ok = evaluate(branch.node, instance, &annotations)
                keywordPath.removeLast()
                if !ok {
                    valid = false
                    if !collecting { break }
                }
            }
            return valid

        case .anyOf(let branches):
            var valid = false
            var failures: [(index: Int, errors: [ValidationError], truncated: Bool)] = []
            for (i, branch) in branches.enumerated() {
                let mark = errors.count
                // A branch's errors leave with it, and so does its overflow of errors.
                let truncatedBefore = truncated
                truncated = false
                var branchAnnotations: Annotations? = annotations == nil ? nil : Annotations()
                keywordPath.append(branch.token)
                let ok = evaluate(branch.node, instance, &branchAnnotations)
                keywordPath.removeLast()
                let branchTruncated = truncated
                truncated = truncatedBefore
                if aborted { return false }
                if ok {
                    valid = true
                    errors.removeSubrange(mark...)
                    if let branchAnnotations { annotations!.merge(branchAnnotations) }
                    // Without annotations to gather, the first match settles it.
                    if annotations == nil { break }
                } else if collecting {
                    failures.append((i, Array(errors[mark...]), branchTruncated))
                    errors.removeSubrange(mark...)
                }
            }
            if !valid { summarise(keyword, failures, count: branches.count, oneOf: false) }
            return valid

        case .oneOf(let branches):
            var matched: [Int] = []
            var matchedAnnotations: Annotations? = nil
            var failures: [(index: Int, errors: [ValidationError], truncated: Bool)] = []
            for (i, branch) in branches.enumerated() {
                let mark = errors.count
                let truncatedBefore = truncated
                truncated = false
                var branchAnnotations: Annotations? = annotations == nil ? nil : Annotations()
                keywordPath.append(branch.token)
                let ok = evaluate(branch.node, instance, &branchAnnotations)
                keywordPath.removeLast()
                let branchTruncated = truncated
                truncated = truncatedBefore
                if aborted { return false }
                if ok {
                    matched.append(i)
                    matchedAnnotations = branchAnnotations
                    if matched.count > 1 && !collecting { break }
                } else if collecting {
                    failures.append((i, Array(errors[mark...]), branchTruncated))
                }
                errors.removeSubrange(mark...)
            }
            if matched.count == 1 {
                if let matchedAnnotations { annotations!.merge(matchedAnnotations) }
                return true
            }
            if matched.isEmpty {
                summarise(keyword, failures, count: branches.count, oneOf: true)
            } else {
                fail(keyword, "matches alternatives \(matched.map(String.init).joined(separator: " and ")) of \"oneOf\", but exactly one must match")
            }
            return false

        case .not(let node):
            var none: Annotations? = nil
            let saved = collecting
            collecting = false
            let matched = evaluate(node, instance, &none)
            collecting = saved
            if aborted { return false }
            if matched { fail(keyword, "\(describe(instance)) must not match the schema in \"not\"") }
            return !matched

        case .conditional(let condition, let then, let otherwise):
            if then == nil && otherwise == nil && annotations == nil { return true }
            var conditionAnnotations: Annotations? = annotations == nil ? nil : Annotations()
            keywordPath[keywordPath.count - 1] = "if"
            let saved = collecting
            collecting = false
            let holds = evaluate(condition, instance, &conditionAnnotations)
            collecting = saved
            if aborted { return false }
            if holds, let conditionAnnotations { annotations!.merge(conditionAnnotations) }
            guard let branch = holds ? then : otherwise else { return true }
            // The evaluation path goes through "then" or "else", not "if".
            keywordPath[keywordPath.count - 1] = holds ? "then" : "else"
            return evaluate(branch, instance, &annotations)

        case .dependentSchemas(let pairs):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for (property, branch) in pairs where members[property] != nil {
                keywordPath.append(branch.token)
                let ok = evaluate(branch.node, instance, &annotations)
                keywordPath.removeLast()
                if !ok {
                    valid = false
                    if !collecting { break }
                }
            }
            return valid

        default:
            return true
        }
    }

    /// One error for a failed anyOf/oneOf, followed by the errors of the closest alternative:
    /// the one whose first error lies deepest in the instance (it got furthest), then the one
    /// with the fewest errors.
    private mutating func summarise(_ keyword: Keyword, _ failures: [(index: Int, errors: [ValidationError], truncated: Bool)], count: Int, oneOf: Bool) {
        guard collecting else { return }
        func depth(_ errors: [ValidationError]) -> Int {
            errors.map { $0.instanceLocation.utf8.filter { $0 == UInt8(ascii: "/") }.count }.max() ?? 0
        }
        let best = failures.min { a, b in
            let (da, db) = (depth(a.errors), depth(b.errors))
            return da != db ? da > db : a.errors.count < b.errors.count
        }
        let rule = oneOf ? "exactly one must match" : "at least one must match"
        if let best, !best.errors.isEmpty {
            fail(keyword, "matches none of the \(count) alternatives of \"\(keyword.name)\" (\(rule)); the closest, alternative \(best.index), fails with the errors that follow")
            for error in best.errors where admit() { errors.append(error) }
            if best.truncated { truncated = true }
        } else {
            fail(keyword, "matches none of the \(count) alternatives of \"\(keyword.name)\" (\(rule))")
        }
    }

    // MARK: arrays

    mutating func applyItems(_ keyword: Keyword, _ items: [JSON], _ annotations: inout Annotations?) -> Bool {
        switch keyword.op {
        case .prefixItems(let nodes):
            var valid = true
            for (i, node) in nodes.prefix(items.count).enumerated() {
                keywordPath.append(String(i))
                let ok = evaluate(node, child: .index(i), items[i])
                keywordPath.removeLast()
                if !ok {
                    valid = false
                    if !collecting { break }
                }
            }
            if let current = annotations?.itemsPrefix {
                annotations!.itemsPrefix = max(current, min(nodes.count, items.count))
            }
            return valid

        case .items(let node, let prefixCount):
            guard items.count > prefixCount else { return true }
            if graph.nodes[node].boolean == false {
                fail(keyword, prefixCount == 0 ? "the array must be empty, found \(items.count) items" : "at most \(prefixCount) items are allowed, found \(items.count)")
                return false
            }
            var valid = true
            for i in prefixCount..<items.count {
                if !evaluate(node, child: .index(i), items[i]) {
                    valid = false
                    if !collecting || aborted { break }
                }
            }
            annotations?.allItems = true
            return valid

        case .contains(let node, let minimum, let maximum):
            var matches = 0
            // The items' own failures are not errors (an item need not match); the count is,
            // said below once collecting is back on.
            let saved = collecting
            collecting = false
            for (i, item) in items.enumerated() {
                let ok = evaluate(node, child: .index(i), item)
                if aborted { collecting = saved; return false }
                if ok {
                    matches += 1
                    annotations?.items.insert(i)
                    // Without annotations or a maximum, reaching the minimum settles it.
                    if annotations == nil, maximum == nil, matches >= minimum { break }
                }
            }
            collecting = saved
            if matches < minimum {
                fail(keyword, matches == 0
                    ? "no item matches the \"contains\" schema\(minimum > 1 ? " (at least \(minimum) must)" : "")"
                    : "only \(matches) item\(matches == 1 ? "" : "s") match the \"contains\" schema, at least \(minimum) must")
                return false
            }
            if let maximum, matches > maximum {
                fail(keyword, "\(matches) items match the \"contains\" schema, at most \(maximum) may")
                return false
            }
            return true

        case .unevaluatedItems(let node):
            let seen = annotations ?? Annotations()
            let isFalse = graph.nodes[node].boolean == false
            var valid = true
            for i in items.indices where !seen.hasEvaluated(item: i) {
                if isFalse {
                    instancePath.append(.index(i))
                    fail(keyword, "item \(i) is not allowed here (no schema evaluates it)")
                    instancePath.removeLast()
                    valid = false
                } else if !evaluate(node, child: .index(i), items[i]) {
                    valid = false
                }
                if !valid && (!collecting || aborted) { break }
            }
            annotations?.allItems = true
            return valid

        default:
            return true
        }
    }
}
