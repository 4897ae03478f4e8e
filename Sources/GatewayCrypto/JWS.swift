// JWS: the three parts of a JWS (RFC 7515) and its two serialisations.
//
// SECURITY: parsing is strict and untrusting. The flattened JSON form goes through the
// strict I-JSON parser (duplicate member names refused, RFC 7515 §5.2 / RFC 7493), unknown
// top-level members and the multi-signature general form are refused, and every part must
// be canonical base64url. Nothing here says the JWS is valid: that is JWSVerifier's job.
import GatewayJSON

/// A JWS as received or produced: base64url protected header, payload and signature.
public struct JWS: Sendable, Hashable {
    /// How the JWS was (or will be) written.
    public enum Serialization: String, Sendable {
        /// `{"payload":...,"protected":...,"signature":...}` (RFC 7515 §7.2.2): the gateway's wire form.
        case flattenedJSON = "flattened JSON"
        /// `HEADER.PAYLOAD.SIGNATURE` (RFC 7515 §7.1).
        case compact
    }

    public let protectedHeaderBase64URL: String
    public let payloadBase64URL: String
    public let signatureBase64URL: String
    /// The unprotected `header` member of a flattened JWS (never trusted for anything).
    public let unprotectedHeader: [String: JSON]?
    public let serialization: Serialization

    public init(protectedHeaderBase64URL: String, payloadBase64URL: String, signatureBase64URL: String,
                unprotectedHeader: [String: JSON]? = nil, serialization: Serialization = .flattenedJSON) {
        self.protectedHeaderBase64URL = protectedHeaderBase64URL
        self.payloadBase64URL = payloadBase64URL
        self.signatureBase64URL = signatureBase64URL
        self.unprotectedHeader = unprotectedHeader
        self.serialization = serialization
    }

    /// The flattened JSON serialisation as a JSON value (to embed the JWS in a document,
    /// as a report embeds a receipt), whichever serialisation it was parsed from.
    public var flattenedJSONValue: JSON {
        var members: [String: JSON] = [
            "payload": .string(payloadBase64URL), "protected": .string(protectedHeaderBase64URL),
            "signature": .string(signatureBase64URL),
        ]
        if let unprotectedHeader { members["header"] = .object(unprotectedHeader) }
        return .object(members)
    }

    /// The flattened JSON serialisation, members in JCS order, no white space.
    public var flattenedJSON: [UInt8] {
        guard let unprotectedHeader else {
            // Fast path (the daemon signs thousands a second): base64url needs no escaping,
            // so the members are written as they are, in JCS order.
            var out: [UInt8] = []
            out.reserveCapacity(payloadBase64URL.utf8.count + protectedHeaderBase64URL.utf8.count + signatureBase64URL.utf8.count + 42)
            out.append(contentsOf: #"{"payload":""#.utf8)
            out.append(contentsOf: payloadBase64URL.utf8)
            out.append(contentsOf: #"","protected":""#.utf8)
            out.append(contentsOf: protectedHeaderBase64URL.utf8)
            out.append(contentsOf: #"","signature":""#.utf8)
            out.append(contentsOf: signatureBase64URL.utf8)
            out.append(contentsOf: #""}"#.utf8)
            return out
        }
        let members: [String: JSON] = [
            "payload": .string(payloadBase64URL), "protected": .string(protectedHeaderBase64URL),
            "signature": .string(signatureBase64URL), "header": .object(unprotectedHeader),
        ]
        return (try? JSON.object(members).canonicalBytes()) ?? []
    }

    /// The compact serialisation (the unprotected header, if any, is dropped: compact has none).
    public var compact: String { "\(protectedHeaderBase64URL).\(payloadBase64URL).\(signatureBase64URL)" }

    /// The bytes the signature covers: ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
    public var signingInput: [UInt8] { Array("\(protectedHeaderBase64URL).\(payloadBase64URL)".utf8) }

    /// The decoded payload, or nil when it is not canonical base64url.
    public var payload: [UInt8]? { Base64URL.decode(payloadBase64URL) }

    /// Parses a flattened JSON JWS (first non-blank byte `{`) or a compact one. Surrounding
    /// white space (a trailing newline in a file) is ignored.
    public static func parse(_ bytes: [UInt8]) throws(JWSError) -> JWS {
        let blank: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard let first = bytes.firstIndex(where: { !blank.contains($0) }),
              let last = bytes.lastIndex(where: { !blank.contains($0) }) else {
            throw JWSError(.malformed, "empty input: not a JWS")
        }
        let trimmed = Array(bytes[first...last])
        return trimmed[0] == UInt8(ascii: "{") ? try parseFlattened(trimmed) : try parseCompact(trimmed)
    }

    /// Parses text (see `parse(_:)` for bytes).
    public static func parse(_ text: String) throws(JWSError) -> JWS { try parse(Array(text.utf8)) }

    private static func parseCompact(_ bytes: [UInt8]) throws(JWSError) -> JWS {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw JWSError(.malformed, "compact JWS must have three dot-separated parts, found \(parts.count)")
        }
        let texts = parts.map { String(decoding: $0, as: UTF8.self) }
        for (text, name) in zip(texts, ["protected header", "payload", "signature"]) {
            try requireBase64URL(text, name)
        }
        return JWS(protectedHeaderBase64URL: texts[0], payloadBase64URL: texts[1], signatureBase64URL: texts[2],
                   serialization: .compact)
    }

    private static func parseFlattened(_ bytes: [UInt8]) throws(JWSError) -> JWS {
        let document: JSON
        do { document = try JSON.parse(bytes) } catch { throw JWSError(.malformed, "JWS JSON is not valid I-JSON: \(error)") }
        guard let members = document.objectValue else { throw JWSError(.malformed, "JWS JSON must be an object") }
        if members["signatures"] != nil {
            throw JWSError(.malformed, "general JSON serialisation (\"signatures\") is not accepted; use the flattened form with one signature")
        }
        let known: Set<String> = ["payload", "protected", "header", "signature"]
        if let stray = members.keys.sorted().first(where: { !known.contains($0) }) {
            throw JWSError(.malformed, "unexpected member \"\(stray)\" in a flattened JWS")
        }
        func string(_ name: String) throws(JWSError) -> String {
            guard let value = members[name] else { throw JWSError(.malformed, "flattened JWS has no \"\(name)\" member") }
            guard let text = value.stringValue else { throw JWSError(.malformed, "JWS member \"\(name)\" must be a string") }
            return text
        }
        let protected = try string("protected"), payload = try string("payload"), signature = try string("signature")
        try requireBase64URL(protected, "protected header")
        try requireBase64URL(payload, "payload")
        try requireBase64URL(signature, "signature")
        var unprotected: [String: JSON]?
        if let header = members["header"] {
            guard let object = header.objectValue else { throw JWSError(.malformed, "JWS member \"header\" must be an object") }
            unprotected = object
        }
        return JWS(protectedHeaderBase64URL: protected, payloadBase64URL: payload, signatureBase64URL: signature,
                   unprotectedHeader: unprotected, serialization: .flattenedJSON)
    }

    private static func requireBase64URL(_ text: String, _ name: String) throws(JWSError) {
        guard !text.isEmpty else { throw JWSError(.malformed, "JWS \(name) is empty (detached or unsigned content is not accepted)") }
        guard Base64URL.decode(text) != nil else { throw JWSError(.malformed, "JWS \(name) is not canonical base64url") }
    }
}
