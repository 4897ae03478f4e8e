// Format+Network: host names (RFC 1123), IPv4/IPv6 (RFC 2673 dotted quad, RFC 4291),
// e-mail addresses (RFC 5321 Mailbox), URIs and IRIs (RFC 3986 / RFC 3987).
// IDNA2008 contextual rules for Punycode labels are not checked (see docs/schemas.md).

import Foundation

enum FormatNetwork {
    static func isHostname(_ s: String, international: Bool) -> Bool {
        // IDN label separators other than "." (U+3002, U+FF0E, U+FF61) count as dots in IDNA.
        let text = international ? s.replacingOccurrences(of: "\u{3002}", with: ".").replacingOccurrences(of: "\u{FF0E}", with: ".").replacingOccurrences(of: "\u{FF61}", with: ".") : s
        guard !text.isEmpty, text.utf8.count <= 253 || international else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            if label.utf8.allSatisfy({ $0 < 0x80 }) {
                // ASCII label (nearly every host name): letters, digits, hyphens, on the bytes.
                let bytes = Array(label.utf8)
                guard !bytes.isEmpty, bytes.count <= 63, bytes.first != 0x2D, bytes.last != 0x2D,
                      bytes.allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A || $0 >= 0x30 && $0 <= 0x39 || $0 == 0x2D })
                else { return false }
                let xn = bytes.count >= 4 && bytes[0] | 0x20 == 0x78 && bytes[1] | 0x20 == 0x6E && bytes[2] == 0x2D && bytes[3] == 0x2D
                if bytes.count >= 4, bytes[2] == 0x2D, bytes[3] == 0x2D, !xn { return false }
                if xn, bytes.count < 6 { return false }
                continue
            }
            guard !label.isEmpty, label.utf8.count <= 63 || international, label.count <= 63,
                  label.first != "-", label.last != "-" else { return false }
            for scalar in label.unicodeScalars {
                let ok = scalar.isASCII
                    ? (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-")
                    : international && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar.properties.generalCategory == .nonspacingMark || scalar.properties.generalCategory == .spacingMark)
                guard ok else { return false }
            }
            // "--" in positions 3-4 is reserved for A-labels ("xn--").
            let lower = label.lowercased()
            if lower.count >= 4, lower.dropFirst(2).hasPrefix("--"), !lower.hasPrefix("xn--") { return false }
            if lower.hasPrefix("xn--"), lower.count < 6 { return false }
        }
        return true
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                  part.count == 1 || part.first != "0", let value = Int(part), value <= 255 else { return false }
        }
        return true
    }

    static func isIPv6(_ s: String) -> Bool {
        // inet_pton stops at a NUL: whatever followed would pass unread.
        guard s.utf8.allSatisfy({ $0 < 128 && $0 != 0 }), !s.contains("%") else { return false }
        var address = in6_addr()
        return inet_pton(AF_INET6, s, &address) == 1
    }

    static func isEmail(_ s: String, international: Bool) -> Bool {
        // RFC 5321: a path is at most 256 octets, so an address at most 254. Checked first, on
        // the bytes, and the "@" found on the bytes too: walking characters back over a long
        // run of regional indicators (flags) costs time quadratic in the run.
        guard s.utf8.count <= 254, let atByte = s.utf8.lastIndex(of: UInt8(ascii: "@")) else { return false }
        let at = atByte
        let local = s[..<at]
        let domain = s[s.index(after: at)...]
        guard !local.isEmpty, !domain.isEmpty, local.utf8.count <= 64 else { return false }
        if local.hasPrefix("\"") {
            // quoted-string: printable ASCII except unescaped " and \
            guard local.count >= 2, local.hasSuffix("\"") else { return false }
            var escaped = false
            for ch in local.dropFirst().dropLast() {
                // Printable ASCII (0x20–0x7E) only, escaped or not: no control character
                // (CR, LF, NUL, DEL) may ride in an address.
                if ch.isASCII, let b = ch.asciiValue, b < 0x20 || b == 0x7F { return false }
                if escaped { escaped = false; continue }
                if ch == "\\" { escaped = true; continue }
                if ch == "\"" { return false }
                guard ch.isASCII || international else { return false }
            }
            if escaped { return false }
        } else {
            let atext = "!#$%&'*+-/=?^_`{|}~"
            for atom in local.split(separator: ".", omittingEmptySubsequences: false) {
                guard !atom.isEmpty else { return false }
                if atom.utf8.allSatisfy({ $0 < 0x80 }) {
                    // ASCII (the usual case): letters, digits and atext, on the bytes.
                    guard atom.utf8.allSatisfy({ b in (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A || b >= 0x30 && b <= 0x39 || isAtext(b) }) else { return false }
                    continue
                }
                for ch in atom {
                    let ok = ch.isASCII ? (ch.isLetter || ch.isNumber || atext.contains(ch)) : international
                    guard ok else { return false }
                }
            }
        }
        if domain.hasPrefix("[") {
            guard domain.hasSuffix("]") else { return false }
            let literal = domain.dropFirst().dropLast()
            if literal.hasPrefix("IPv6:") { return isIPv6(String(literal.dropFirst(5))) }
            return isIPv4(String(literal))
        }
        return isHostname(String(domain), international: international)
    }

    /// RFC 5322 atext beyond letters and digits: ! # $ % & ' * + - / = ? ^ _ ` { | } ~
    private static func isAtext(_ b: UInt8) -> Bool {
        switch b {
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2F, 0x3D, 0x3F, 0x5E, 0x5F, 0x60, 0x7B, 0x7C, 0x7D, 0x7E: return true
        default: return false
        }
    }

    // MARK: URI / IRI (RFC 3986 §3, RFC 3987 §2.2)

    private static let unreserved = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~".utf8)
    private static let subDelims = Set("!$&'()*+,;=".utf8)

    /// Every character is unreserved, a sub-delimiter, one of `extra`, a valid "%XX", or
    /// (for IRIs) a non-ASCII character.
    private static func allowed(_ s: Substring, extra: String, international: Bool) -> Bool {
        let bytes = Array(s.utf8)
        var i = 0
        let extraBytes = Set(extra.utf8)
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, Format.isHex(bytes[i + 1]), Format.isHex(bytes[i + 2]) else { return false }
                i += 3
                continue
            }
            if b >= 128 {
                guard international else { return false }
            } else if !(unreserved.contains(b) || subDelims.contains(b) || extraBytes.contains(b)) {
                return false
            }
            i += 1
        }
        return true
    }

    static func isURI(_ s: String, absolute: Bool, international: Bool) -> Bool {
        var rest = Substring(s)
        if let hash = rest.firstIndex(of: "#") {
            guard allowed(rest[rest.index(after: hash)...], extra: ":@/?", international: international) else { return false }
            rest = rest[..<hash]
        }
        if let question = rest.firstIndex(of: "?") {
            guard allowed(rest[rest.index(after: question)...], extra: ":@/?", international: international) else { return false }
            rest = rest[..<question]
        }
        var hasScheme = false
        if let colon = rest.firstIndex(of: ":"), !rest[..<colon].contains("/") {
            let scheme = rest[..<colon]
            guard let first = scheme.first, first.isASCII, first.isLetter,
                  scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return false }
            hasScheme = true
            rest = rest[rest.index(after: colon)...]
        }
        if absolute && !hasScheme { return false }
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let end = rest.firstIndex(of: "/") ?? rest.endIndex
            guard isAuthority(rest[..<end], international: international) else { return false }
            rest = rest[end...]
        }
        return allowed(rest, extra: ":@/", international: international)
    }

    private static func isAuthority(_ authority: Substring, international: Bool) -> Bool {
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            guard allowed(authority[..<at], extra: ":", international: international) else { return false }
            hostPort = authority[authority.index(after: at)...]
        }
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return false }
            let literal = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            guard literal.hasPrefix("v") || literal.hasPrefix("V") || isIPv6(String(literal)) else { return false }
            return after.isEmpty || (after.hasPrefix(":") && after.dropFirst().allSatisfy { $0.isASCII && $0.isNumber })
        }
        var host = hostPort
        if let colon = hostPort.lastIndex(of: ":") {
            guard hostPort[hostPort.index(after: colon)...].allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            host = hostPort[..<colon]
        }
        return allowed(host, extra: "", international: international)
    }
}
