import GatewayTestSupport
import GatewayCrypto
import GatewayJSON

/// One-byte changes to the parts of a JWS.
enum Tamper {
    enum Part: CaseIterable { case header, payload, signature }

    /// `base64url` with decoded byte `index` XORed with 0x01, re-encoded canonically.
    static func flipByte(_ base64url: String, at index: Int) -> String {
        var bytes = Base64URL.decode(base64url)!
        bytes[index] ^= 0x01
        return Base64URL.encode(bytes)
    }

    /// Copies of `jws` with one byte changed in `part`, at the start, middle and end.
    static func variants(of jws: JWS, part: Part) -> [JWS] {
        let text: String
        switch part {
        case .header: text = jws.protectedHeaderBase64URL
        case .payload: text = jws.payloadBase64URL
        case .signature: text = jws.signatureBase64URL
        }
        let count = Base64URL.decode(text)!.count
        return Set([0, count / 2, count - 1]).sorted().map { index in
            let changed = flipByte(text, at: index)
            return JWS(protectedHeaderBase64URL: part == .header ? changed : jws.protectedHeaderBase64URL,
                       payloadBase64URL: part == .payload ? changed : jws.payloadBase64URL,
                       signatureBase64URL: part == .signature ? changed : jws.signatureBase64URL,
                       unprotectedHeader: jws.unprotectedHeader, serialization: jws.serialization)
        }
    }
}
