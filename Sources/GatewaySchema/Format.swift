// NAME
//   Format: the `format` keyword's checks, used when format ASSERTION is on (an option, or
//   the format-assertion vocabulary). By default `format` is an annotation and never fails.
//
// DESCRIPTION
//   Each check follows the RFC's grammar, ASCII only where the grammar says so (a Bengali
//   digit is not a digit in RFC 3339). Dates and times are in Format+Date.swift, network
//   names and addresses in Format+Network.swift. Non-strings always pass, as the spec says.

import Foundation
import GatewayJSON

/// A format the validator can assert.
enum Format: String, Sendable, CaseIterable {
    case dateTime = "date-time"
    case date
    case time
    case duration
    case email
    case idnEmail = "idn-email"
    case hostname
    case idnHostname = "idn-hostname"
    case ipv4
    case ipv6
    case uri
    case uriReference = "uri-reference"
    case iri
    case iriReference = "iri-reference"
    case uriTemplate = "uri-template"
    case uuid
    case regex
    case jsonPointer = "json-pointer"
    case relativeJSONPointer = "relative-json-pointer"

    /// What a valid value is, for the error "… is not <phrase>".
    var phrase: String {
        switch self {
        case .dateTime: return "an RFC 3339 date-time"
        case .date: return "an RFC 3339 full-date (YYYY-MM-DD)"
        case .time: return "an RFC 3339 full-time (hh:mm:ss with an offset)"
        case .duration: return "an RFC 3339 / ISO 8601 duration (e.g. P1DT2H)"
        case .email: return "an e-mail address"
        case .idnEmail: return "an internationalised e-mail address"
        case .hostname: return "a host name"
        case .idnHostname: return "an internationalised host name"
        case .ipv4: return "an IPv4 address"
        case .ipv6: return "an IPv6 address"
        case .uri: return "an absolute URI"
        case .uriReference: return "a URI reference"
        case .iri: return "an absolute IRI"
        case .iriReference: return "an IRI reference"
        case .uriTemplate: return "a URI template (RFC 6570)"
        case .uuid: return "a UUID"
        case .regex: return "an ECMA-262 regular expression"
        case .jsonPointer: return "a JSON Pointer"
        case .relativeJSONPointer: return "a relative JSON Pointer"
        }
    }

    /// Whether `value` conforms.
    func check(_ value: JSON) -> Bool {
        guard case .string(let s) = value else { return true }
        switch self {
        case .dateTime: return FormatDate.isDateTime(s)
        case .date: return FormatDate.isDate(s)
        case .time: return FormatDate.isTime(s)
        case .duration: return FormatDate.isDuration(s)
        case .email: return FormatNetwork.isEmail(s, international: false)
        case .idnEmail: return FormatNetwork.isEmail(s, international: true)
        case .hostname: return FormatNetwork.isHostname(s, international: false)
        case .idnHostname: return FormatNetwork.isHostname(s, international: true)
        case .ipv4: return FormatNetwork.isIPv4(s)
        case .ipv6: return FormatNetwork.isIPv6(s)
        case .uri: return FormatNetwork.isURI(s, absolute: true, international: false)
        case .uriReference: return FormatNetwork.isURI(s, absolute: false, international: false)
        case .iri: return FormatNetwork.isURI(s, absolute: true, international: true)
        case .iriReference: return FormatNetwork.isURI(s, absolute: false, international: true)
        case .uriTemplate: return Self.isURITemplate(s)
        case .uuid: return Self.isUUID(s)
        case .regex: return (try? PatternRegex(s)) != nil
        case .jsonPointer: return Self.isJSONPointer(s)
        case .relativeJSONPointer: return Self.isRelativeJSONPointer(s)
        }
    }

    static func isUUID(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard bytes.count == 36 else { return false }
        for (i, b) in bytes.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard b == UInt8(ascii: "-") else { return false }
            } else if !isHex(b) {
                return false
            }
        }
        return true
    }

    static func isHex(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102)
    }

    static func isJSONPointer(_ s: String) -> Bool {
        if s.isEmpty { return true }
        guard s.hasPrefix("/") else { return false }
        var bytes = s.utf8.makeIterator()
        while let b = bytes.next() {
            if b == UInt8(ascii: "~") {
                guard let n = bytes.next(), n == UInt8(ascii: "0") || n == UInt8(ascii: "1") else { return false }
            }
        }
        return true
    }

    static func isRelativeJSONPointer(_ s: String) -> Bool {
        let digits = s.utf8.prefix { $0 >= 48 && $0 <= 57 }
        guard !digits.isEmpty, digits.count == 1 || digits.first != UInt8(ascii: "0") else { return false }
        let rest = String(s.dropFirst(digits.count))
        return rest == "#" || isJSONPointer(rest)
    }

    /// RFC 6570 level 4 syntax: literals and well-formed `{op var:prefix*,…}` expressions.
    static func isURITemplate(_ s: String) -> Bool {
        var inExpression = false
        var expression = ""
        for ch in s {
            if inExpression {
                if ch == "}" {
                    guard isTemplateExpression(expression) else { return false }
                    inExpression = false
                    expression = ""
                } else if ch == "{" {
                    return false
                } else {
                    expression.append(ch)
                }
            } else if ch == "{" {
                inExpression = true
            } else if ch == "}" || ch == " " || ch == "\"" || ch == "<" || ch == ">" || ch == "\\" || ch == "^" || ch == "`" || ch == "|" {
                return false
            } else if let ascii = ch.asciiValue, ascii < 0x20 || ascii == 0x7F {
                return false
            }
        }
        return !inExpression
    }

    private static func isTemplateExpression(_ e: String) -> Bool {
        var body = Substring(e)
        if let first = body.first, "+#./;?&=,!@|".contains(first) { body = body.dropFirst() }
        guard !body.isEmpty else { return false }
        for spec in body.split(separator: ",", omittingEmptySubsequences: false) {
            var name = spec
            if name.hasSuffix("*") { name = name.dropLast() } else if let colon = name.firstIndex(of: ":") {
                let length = name[name.index(after: colon)...]
                guard !length.isEmpty, length.count <= 4, length.allSatisfy({ $0.isASCII && $0.isNumber }), length.first != "0" else { return false }
                name = name[..<colon]
            }
            // varname = varchar *(["."] varchar)
            guard !name.isEmpty, !name.hasPrefix("."), !name.hasSuffix("."), !name.contains(".."), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "%") }) else { return false }
        }
        return true
    }
}
