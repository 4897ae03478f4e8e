/// Base64 and base64url (RFC 4648 §4, §5) without padding for base64url, as JOSE uses.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let standardAlphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let decodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()
    private static let standardDecodeTable: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in standardAlphabet.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    /// base64url without padding.
    public static func encode(_ data: some Sequence<UInt8>) -> String {
        String(decoding: encodeBytes(Array(data), alphabet: alphabet, pad: false), as: UTF8.self)
    }

    /// Standard base64 with padding (x5c, attachments).
    public static func encodeStandard(_ data: some Sequence<UInt8>) -> String {
        String(decoding: encodeBytes(Array(data), alphabet: standardAlphabet, pad: true), as: UTF8.self)
    }

    /// Decodes base64url; refuses padding, white space and non-canonical trailing bits.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        decodeBytes(Array(text.utf8), table: decodeTable, allowPadding: false)
    }

    /// Decodes standard base64 with optional padding; refuses white space and stray characters.
    public static func decodeStandard(_ text: some StringProtocol) -> [UInt8]? {
        decodeBytes(Array(text.utf8), table: standardDecodeTable, allowPadding: true)
    }

    private static func encodeBytes(_ data: [UInt8], alphabet: [UInt8], pad: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((data.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= data.count {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out.append(alphabet[Int(v >> 18 & 63)]); out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)]); out.append(alphabet[Int(v & 63)])
            i += 3
        }
        let rest = data.count - i
        if rest == 1 {
            let v = UInt32(data[i]) << 16
            out.append(alphabet[Int(v >> 18 & 63)]); out.append(alphabet[Int(v >> 12 & 63)])
            if pad { out.append(contentsOf: "==".utf8) }
        } else if rest == 2 {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
            out.append(alphabet[Int(v >> 18 & 63)]); out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)])
            if pad { out.append(UInt8(ascii: "=")) }
        }
        return out
    }

    private static func decodeBytes(_ input: [UInt8], table: [Int8], allowPadding: Bool) -> [UInt8]? {
        var text = input[...]
        if allowPadding {
            if text.count % 4 != 0 { /* unpadded is accepted too */ }
            var pads = 0
            while text.last == UInt8(ascii: "=") && pads < 2 { text = text.dropLast(); pads += 1 }
            if pads > 0 && input.count % 4 != 0 { return nil }
        }
        if text.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in text {
            let v = table[Int(c)]
            if v < 0 { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero (canonical encoding).
        if bits > 0 && acc & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return out
    }
}
