// NAME
//   SimplePattern: a small matcher for the patterns schemas mostly use, without ICU.
//
// DESCRIPTION
//   Identifier patterns ("^[A-Z]{2}-[A-Z0-9]+$", "^[0-9a-f]{64}$") are sequences of
//   quantified character sets. Bridging each string to ICU costs about a microsecond, more
//   than the whole rest of a field's validation, so such patterns are compiled here instead:
//   a list of (set, min, max) atoms matched by backtracking with a memo of failed
//   (atom, position) pairs, which bounds the work to atoms x length x longest run: no
//   catastrophic case. Anything else (groups, alternation, lookaround, backreferences,
//   lazy quantifiers, \b, classes it does not understand) returns nil from `init` and the
//   pattern goes to ICU (PatternRegex).

struct SimplePattern: Sendable {
    /// A set of Unicode scalar ranges, possibly negated.
    struct CharSet: Sendable {
        var ranges: [ClosedRange<UInt32>] = []
        var negated = false

        @inline(__always)
        func contains(_ v: UInt32) -> Bool {
            var found = false
            for range in ranges where range.contains(v) {
                found = true
                break
            }
            return found != negated
        }
    }

    struct Atom: Sendable {
        let set: CharSet
        let min: Int
        let max: Int  // Int.max when unbounded
    }

    let atoms: [Atom]
    let anchoredStart: Bool
    let anchoredEnd: Bool
    /// Atoms whose length can vary. With at most one, matching is linear in the input;
    /// with more, it is quadratic, so PatternRegex only uses this matcher on short inputs.
    let variableAtoms: Int

    static let lineTerminators: [ClosedRange<UInt32>] = [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]
    static let digits: [ClosedRange<UInt32>] = [0x30...0x39]
    static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]

    init?(_ pattern: String) {
        var scalars = Array(pattern.unicodeScalars)[...]
        var atoms: [Atom] = []
        var anchoredStart = false
        var anchoredEnd = false
        if scalars.first == "^" { anchoredStart = true; scalars.removeFirst() }
        while let c = scalars.popFirst() {
            var set = CharSet()
            switch c {
            case "$":
                guard scalars.isEmpty else { return nil }
                anchoredEnd = true
                continue
            case "[":
                guard let parsed = Self.parseClass(&scalars) else { return nil }
                set = parsed
            case "\\":
                guard let e = scalars.popFirst(), let ranges = Self.escape(e) else { return nil }
                set.ranges = ranges
            case ".":
                set.ranges = Self.lineTerminators
                set.negated = true
            case "(", ")", "|", "^", "*", "+", "?", "{", "}", "]":
                return nil
            default:
                set.ranges = [c.value...c.value]
            }
            // Quantifier
            var lo = 1, hi = 1
            if let q = scalars.first {
                switch q {
                case "?": lo = 0; hi = 1; scalars.removeFirst()
                case "*": lo = 0; hi = .max; scalars.removeFirst()
                case "+": lo = 1; hi = .max; scalars.removeFirst()
                case "{":
                    guard let (a, b) = Self.parseBraces(&scalars) else { return nil }
                    lo = a; hi = b
                default: break
                }
                // Lazy or possessive suffixes: leave to ICU.
                if lo != 1 || hi != 1, let next = scalars.first, next == "?" || next == "+" { return nil }
            }
            atoms.append(Atom(set: set, min: lo, max: hi))
        }
        self.atoms = atoms
        self.variableAtoms = atoms.filter { $0.max != $0.min }.count + (anchoredStart ? 0 : 1)
        self.anchoredStart = anchoredStart
        self.anchoredEnd = anchoredEnd
    }

    private static func escape(_ e: Unicode.Scalar) -> [ClosedRange<UInt32>]? {
        switch e {
        case "d": return digits
        case "w": return word
        case "t": return [0x09...0x09]
        case "n": return [0x0A...0x0A]
        case "r": return [0x0D...0x0D]
        case ".", "\\", "/", "-", "+", "*", "?", "(", ")", "[", "]", "{", "}", "|", "^", "$":
            return [e.value...e.value]
        default: return nil
        }
    }

    private static func parseClass(_ s: inout ArraySlice<Unicode.Scalar>) -> CharSet? {
        var set = CharSet()
        if s.first == "^" { set.negated = true; s.removeFirst() }
        var first = true
        while let c = s.popFirst() {
            if c == "]" && !first { return set }
            first = false
            var low: UInt32
            if c == "\\" {
                guard let e = s.popFirst(), let ranges = escape(e) else { return nil }
                if ranges.count != 1 || ranges[0].count != 1 {
                    set.ranges += ranges
                    continue
                }
                low = ranges[0].lowerBound
            } else if c == "[" || c == "]" {
                return nil
            } else {
                low = c.value
            }
            // A range "a-z" (a "-" before "]" is literal).
            if s.first == "-", let after = s.dropFirst().first, after != "]" {
                s.removeFirst()
                var high = s.removeFirst().value
                if high == UInt32(("\\" as Unicode.Scalar).value) {
                    guard let e = s.popFirst(), let ranges = escape(e), ranges.count == 1, ranges[0].count == 1 else { return nil }
                    high = ranges[0].lowerBound
                }
                guard low <= high else { return nil }
                set.ranges.append(low...high)
            } else {
                set.ranges.append(low...low)
            }
        }
        return nil
    }

    private static func parseBraces(_ s: inout ArraySlice<Unicode.Scalar>) -> (Int, Int)? {
        guard s.first == "{" else { return nil }
        guard let close = s.firstIndex(of: "}") else { return nil }
        let body = String(String.UnicodeScalarView(s[s.index(after: s.startIndex)..<close]))
        s = s[s.index(after: close)...]
        let parts = body.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= 2, let lo = Int(parts[0]), lo <= 10_000 else { return nil }
        if parts.count == 1 { return (lo, lo) }
        if parts[1].isEmpty { return (lo, .max) }
        guard let hi = Int(parts[1]), hi >= lo, hi <= 10_000 else { return nil }
        return (lo, hi)
    }

    /// The most and the fewest characters a match can take (Int.max: unbounded).
    var longest: Int { atoms.reduce(0) { $0 == .max || $1.max == .max ? .max : $0 + $1.max } }
    var shortest: Int { atoms.reduce(0) { $0 + $1.min } }

    /// How many characters of a text of `n` can matter: with both anchors, none when `n` is
    /// out of the pattern's range (then nil); anchored at the start, the first `longest`
    /// (the memo is sized by this, not by a hostile 50 MB string).
    func relevantLength(_ n: Int) -> Int? {
        if anchoredStart && anchoredEnd && (n > longest || n < shortest) { return nil }
        return anchoredStart ? min(n, longest) : n
    }

    /// Whether the pattern matches somewhere in `text` (ECMA `test` semantics).
    func matches(_ text: String) -> Bool {
        var text = text
        // ASCII text (identifiers, digests, dates: nearly all of it) is matched on its
        // UTF-8 bytes in place; anything else on its scalars.
        let ascii: Bool? = text.withUTF8 { bytes in
            var high: UInt8 = 0
            for b in bytes { high |= b }
            guard high < 0x80 else { return nil }
            guard let n = relevantLength(bytes.count) else { return false }
            return match(count: n) { UInt32(bytes[$0]) }
        }
        if let ascii { return ascii }
        guard let n = relevantLength(text.unicodeScalars.count) else { return false }
        let scalars = Array(text.unicodeScalars.prefix(n))
        return match(count: n) { scalars[$0].value }
    }

    /// Backtracking over `count` scalars read through `scalar`, with the memo of failed
    /// (atom, position) pairs on the stack where it is small.
    private func match(count n: Int, _ scalar: (Int) -> UInt32) -> Bool {
        // With at most one atom of variable width and the start anchored (or none at all), no
        // (atom, position) pair is reached twice, so no memo is needed (nor one the size of a
        // long text): the atoms before the variable one have one start each, those after it
        // one per width it takes.
        let memo = variableAtoms > 1   // counts an unanchored start as one
        return withUnsafeTemporaryAllocation(of: Bool.self, capacity: memo ? (atoms.count + 1) * (n + 1) : 1) { failed in
            // failed[(atom * (n + 1)) + position]: this suffix of the pattern cannot match here.
            failed.initialize(repeating: false)
            func match(_ atom: Int, _ position: Int) -> Bool {
                if atom == atoms.count { return !anchoredEnd || position == n }
                let key = atom * (n + 1) + position
                if memo && failed[key] { return false }
                let a = atoms[atom]
                // Longest run of matching characters from here, capped at max.
                var run = 0
                while run < a.max, position + run < n, a.set.contains(scalar(position + run)) { run += 1 }
                if run >= a.min {
                    var count = run
                    while count >= a.min {
                        if match(atom + 1, position + count) { return true }
                        count -= 1
                    }
                }
                if memo { failed[key] = true }
                return false
            }
            if anchoredStart { return match(0, 0) }
            for start in 0...n where match(0, start) { return true }
            return false
        }
    }
}
