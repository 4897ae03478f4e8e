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
        let full = data.count / 3
        let rest = data.count - full * 3
        let count = full * 4 + (rest == 0 ? 0 : (pad ? 4 : rest + 1))
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            data.withUnsafeBufferPointer { src in
                alphabet.withUnsafeBufferPointer { a in
                    var i = 0, o = 0
                    for _ in 0..<full {
                        let v = UInt32(src[i]) << 16 | UInt32(src[i + 1]) << 8 | UInt32(src[i + 2])
                        out[o] = a[Int(v >> 18 & 63)]; out[o + 1] = a[Int(v >> 12 & 63)]
                        out[o + 2] = a[Int(v >> 6 & 63)]; out[o + 3] = a[Int(v & 63)]
                        i += 3; o += 4
                    }
                    if rest > 0 {
                        let v = UInt32(src[i]) << 16 | (rest == 2 ? UInt32(src[i + 1]) << 8 : 0)
                        out[o] = a[Int(v >> 18 & 63)]; out[o + 1] = a[Int(v >> 12 & 63)]
                        o += 2
                        if rest == 2 { out[o] = a[Int(v >> 6 & 63)]; o += 1 }
                        if pad { while o < count { out[o] = UInt8(ascii: "="); o += 1 } }
                    }
                    initialized = o
                }
            }
        }
    }

    private static func decodeBytes(_ input: [UInt8], table: [Int8], allowPadding: Bool) -> [UInt8]? {
        var length = input.count
        if allowPadding {
            var pads = 0
            while length > 0 && input[length - 1] == UInt8(ascii: "=") && pads < 2 { length -= 1; pads += 1 }
            if pads > 0 && input.count % 4 != 0 { return nil }
        }
        if length % 4 == 1 { return nil }
        let quads = length / 4
        let tail = length - quads * 4          // 0, 2 or 3 characters
        let size = quads * 3 + (tail == 0 ? 0 : tail - 1)
        var valid = true
        let out = [UInt8](unsafeUninitializedCapacity: size) { out, initialized in
            input.withUnsafeBufferPointer { src in
                table.withUnsafeBufferPointer { t in
                    var i = 0, o = 0
                    for _ in 0..<quads {
                        let a = t[Int(src[i])], b = t[Int(src[i + 1])], c = t[Int(src[i + 2])], d = t[Int(src[i + 3])]
                        // A stray character is -1: any negative makes the OR negative.
                        if (a | b | c | d) < 0 { valid = false; initialized = 0; return }
                        let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                        out[o] = UInt8(truncatingIfNeeded: v >> 16); out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
                        out[o + 2] = UInt8(truncatingIfNeeded: v)
                        i += 4; o += 3
                    }
                    if tail > 0 {
                        let a = t[Int(src[i])], b = t[Int(src[i + 1])], c = tail == 3 ? t[Int(src[i + 2])] : 0
                        if (a | b | c) < 0 { valid = false; initialized = 0; return }
                        let v = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6
                        out[o] = UInt8(truncatingIfNeeded: v >> 16); o += 1
                        if tail == 3 { out[o] = UInt8(truncatingIfNeeded: v >> 8); o += 1 }
                        // Leftover bits must be zero (canonical encoding).
                        if v & (tail == 2 ? 0xFFFF : 0xFF) != 0 { valid = false }
                    }
                    initialized = o
                }
            }
        }
        return valid ? out : nil
    }
}
