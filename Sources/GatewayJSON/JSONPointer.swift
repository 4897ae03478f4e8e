import Foundation

/// RFC 6901 JSON Pointer: building and resolving.
public enum JSONPointer {
    /// Escapes one reference token ("~" → "~0", "/" → "~1").
    public static func escape(_ token: String) -> String {
        guard token.contains("~") || token.contains("/") else { return token }
        return token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    public static func unescape(_ token: String) -> String {
        guard token.contains("~") else { return token }
        return token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
    }

    /// The pointer's reference tokens; nil when it is not a valid pointer.
    public static func tokens(_ pointer: String) -> [String]? {
        if pointer.isEmpty { return [] }
        guard pointer.hasPrefix("/") else { return nil }
        return pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { unescape(String($0)) }
    }

    /// The value at `pointer` inside `root`, or nil.
    public static func resolve(_ pointer: String, in root: JSON) -> JSON? {
        guard let tokens = tokens(pointer) else { return nil }
        var current = root
        for token in tokens {
            switch current {
            case .object(let members):
                guard let next = members[token] else { return nil }
                current = next
            case .array(let items):
                guard let index = Int(token), index >= 0, index < items.count,
                      token == "0" || !token.hasPrefix("0") else { return nil }
                current = items[index]
            default:
                return nil
            }
        }
        return current
    }
}

