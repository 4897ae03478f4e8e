// NAME
//   PatternRegex: ECMA-262 regular expressions (`pattern`, `patternProperties`, format
//   "regex") on top of ICU through NSRegularExpression.
//
// DESCRIPTION
//   JSON Schema patterns are ECMA-262 with the "u" flag, unanchored. ICU agrees on most of
//   the syntax; where the meaning differs the pattern is rewritten before compiling:
//     \d \D \w \W   ASCII only in ECMA, Unicode in ICU      -> explicit ASCII classes
//     \s \S         ECMA's exact white-space set            -> explicit class
//     $             end of input in ECMA (no "m" flag); ICU also matches before a final
//                   line terminator                         -> \z
//     \cX           control letter, same in both; \Z, \A, \z and possessive or atomic
//                   groups are ICU-only and are refused (not ECMA).
//
// SECURITY
//   A pattern comes from a schema (trusted, operator-supplied) but the string it runs on
//   comes from a unit (hostile). A backtracking engine can take exponential time
//   ("^(a+)+$" on "aaaa…!"), so every match runs with ICU's progress callback
//   (NSRegularExpression .reportProgress) and is stopped once the validation's pattern
//   deadline has passed; the validation then fails with a clear error instead of hanging.

import Foundation

/// A compiled, thread-safe ECMA-262 pattern.
final class PatternRegex: @unchecked Sendable {
    // NSRegularExpression is immutable and documented thread-safe; @unchecked because the
    // corelibs declaration does not say so to the compiler.
    let source: String
    private let regex: NSRegularExpression
    /// The ICU-free matcher, when the pattern is simple enough (see SimplePattern).
    private let simple: SimplePattern?

    struct PatternSyntaxError: Error, CustomStringConvertible {
        let description: String
    }

    /// The outcome of one bounded match.
    enum Outcome {
        case matched
        case notMatched
        case timedOut
    }

    init(_ pattern: String) throws {
        source = pattern
        simple = SimplePattern(pattern)
        let translated = try Self.translate(pattern)
        do {
            regex = try NSRegularExpression(pattern: translated, options: [])
        } catch {
            throw PatternSyntaxError(description: "\"\(pattern)\" is not a valid regular expression")
        }
    }

    /// Searches `text` for the pattern (unanchored, as ECMA `RegExp.test`), giving up at `deadline`.
    func firstMatch(in text: String, deadline: DispatchTime) -> Outcome {
        if let simple, simple.variableAtoms <= 1 || text.utf8.count <= 1024 {
            return simple.matches(text) ? .matched : .notMatched
        }
        let length = text.utf16.count
        var found = false
        var timedOut = false
        regex.enumerateMatches(in: text, options: [.reportProgress], range: NSRange(location: 0, length: length)) { result, _, stop in
            if result != nil {
                found = true
                stop.pointee = true
            } else if DispatchTime.now() > deadline {
                // Only long-running matches call back without a result: check the clock then.
                timedOut = true
                stop.pointee = true
            }
        }
        if found { return .matched }
        return timedOut ? .timedOut : .notMatched
    }

    // MARK: ECMA-262 → ICU

    static let whiteSpace = "\\t\\n\\u000B\\f\\r \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000\\uFEFF"

    static func translate(_ pattern: String) throws -> String {
        var out = ""
        var inClass = false
        var iterator = Array(pattern.unicodeScalars)[...]
        while let scalar = iterator.popFirst() {
            switch scalar {
            case "\\":
                guard let next = iterator.popFirst() else {
                    throw PatternSyntaxError(description: "\"\(pattern)\" ends with a lone backslash")
                }
                switch next {
                case "d": out += inClass ? "0-9" : "[0-9]"
                case "w": out += inClass ? "a-zA-Z0-9_" : "[a-zA-Z0-9_]"
                case "s": out += inClass ? whiteSpace : "[" + whiteSpace + "]"
                // ICU accepts a nested set inside a set as a union, which keeps these exact.
                case "D": out += "[^0-9]"
                case "W": out += "[^a-zA-Z0-9_]"
                case "S": out += "[^" + whiteSpace + "]"
                case "u" where iterator.first == "{", "p", "P":
                    // \u{…} (ICU spells it \x{…}) and \p{…}: copy the braces through, so the
                    // closing "}" is not taken for the end of a quantifier.
                    out += next == "u" ? "\\x" : "\\" + String(next)
                    if iterator.first == "{" {
                        while let c = iterator.popFirst() {
                            out.unicodeScalars.append(c)
                            if c == "}" { break }
                        }
                    }
                case "a", "e", "g", "i", "j", "l", "m", "o", "q", "y", "Z", "A", "z", "Q", "E", "h", "H", "R", "X", "G", "N", "K", "C", "F", "I", "J", "L", "M", "O", "T", "U", "V", "Y":
                    // In unicode mode ECMA-262 has no identity escape for letters; these are
                    // ICU/Perl escapes ("\a" bell, "\Z", "\Q…\E", …).
                    throw PatternSyntaxError(description: "\"\(pattern)\": \\\(next) is not an ECMA-262 escape")
                default:
                    out.unicodeScalars.append("\\")
                    out.unicodeScalars.append(next)
                }
            case "[" where !inClass:
                // "[]" and "[^]" are legal in ECMA (nothing, any character); ICU reads them otherwise.
                if iterator.first == "]" {
                    iterator.removeFirst()
                    out += "[^\\s\\S]"
                } else if iterator.first == "^", iterator.dropFirst().first == "]" {
                    iterator.removeFirst(2)
                    out += "[\\s\\S]"
                } else {
                    inClass = true
                    out += "["
                }
            case "[" where inClass:
                // A literal "[" inside a class: ICU would read a nested set.
                out += "\\["
            case "]" where inClass:
                inClass = false
                out += "]"
            case "$" where !inClass:
                out += "\\z"
            case "(" where !inClass && iterator.first == "?":
                // ECMA groups: (?:…) (?=…) (?!…) (?<=…) (?<!…) (?<name>…). Inline flags,
                // comments and atomic groups are ICU-only.
                let rest = iterator.dropFirst()
                let valid = rest.first == ":" || rest.first == "=" || rest.first == "!" ||
                    (rest.first == "<" && rest.dropFirst().first.map { $0 == "=" || $0 == "!" || $0.properties.isAlphabetic || $0 == "_" || $0 == "$" } == true)
                guard valid else { throw PatternSyntaxError(description: "\"\(pattern)\": (?\(rest.first.map { String($0) } ?? "") is not an ECMA-262 group") }
                out += "("
            case "&" where inClass:
                // ICU treats "&&" inside a class as set intersection: escape it.
                out.unicodeScalars.append("\\")
                out.unicodeScalars.append(scalar)
            default:
                out.unicodeScalars.append(scalar)
                // Possessive quantifiers ("a++", "a*+") do not exist in ECMA.
                if !inClass, scalar == "+" || scalar == "*" || scalar == "?" || scalar == "}", iterator.first == "+" {
                    throw PatternSyntaxError(description: "\"\(pattern)\": possessive quantifiers are not ECMA-262")
                }
            }
        }
        return out
    }
}
