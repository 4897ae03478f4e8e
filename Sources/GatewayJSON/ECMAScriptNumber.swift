// ECMAScriptNumber: Number.prototype.toString(10) for finite doubles (ECMA-262 §6.1.6.1.20),
// as RFC 8785 requires.
//
// Swift's own description already yields the shortest digit string that round-trips
// (and the closest one when there is a choice), which is what ECMAScript asks for; this
// file takes those digits and the exponent and lays them out by ECMAScript's rules.

public enum ECMAScriptNumber {
    public static func format(_ value: Double) -> String {
        precondition(value.isFinite, "ECMAScriptNumber.format needs a finite number")
        if value == 0 { return "0" }  // also -0
        if value < 0 { return "-" + format(-value) }
        // Fast path: integers below 2^53 print as their digits.
        if value < 9_007_199_254_740_992, value.rounded(.towardZero) == value {
            return String(UInt64(value))
        }
        let (digits, n) = shortestDigits(value)
        let k = digits.count
        if k <= n && n <= 21 {
            return String(decoding: digits, as: UTF8.self) + String(repeating: "0", count: n - k)
        }
        if 0 < n && n <= 21 {
            return String(decoding: digits[0..<n], as: UTF8.self) + "." + String(decoding: digits[n...], as: UTF8.self)
        }
        if -6 < n && n <= 0 {
            return "0." + String(repeating: "0", count: -n) + String(decoding: digits, as: UTF8.self)
        }
        let e = n - 1
        let exponent = e < 0 ? "e-\(-e)" : "e+\(e)"
        if k == 1 { return String(decoding: digits, as: UTF8.self) + exponent }
        return String(decoding: digits[0..<1], as: UTF8.self) + "." + String(decoding: digits[1...], as: UTF8.self) + exponent
    }

    /// The shortest round-trip decimal digits (no leading or trailing zeros) and the
    /// exponent n such that value = 0.d1d2...dk × 10^n.
    static func shortestDigits(_ value: Double) -> ([UInt8], Int) {
        // Swift prints e.g. "1.2345e-07", "123.45", "1e+16", "5e-324".
        let text = Array(value.description.utf8)
        var mantissa: [UInt8] = []
        var pointIndex: Int? = nil
        var exponent = 0
        var i = 0
        while i < text.count {
            let c = text[i]
            if c == UInt8(ascii: ".") {
                pointIndex = mantissa.count
            } else if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
                exponent = Int(String(decoding: text[(i + 1)...], as: UTF8.self))!
                break
            } else {
                mantissa.append(c)
            }
            i += 1
        }
        var n = (pointIndex ?? mantissa.count) + exponent
        // Strip leading zeros (each moves the point left) and trailing zeros.
        var start = 0
        while start < mantissa.count - 1 && mantissa[start] == UInt8(ascii: "0") {
            start += 1
            n -= 1
        }
        var end = mantissa.count
        while end > start + 1 && mantissa[end - 1] == UInt8(ascii: "0") { end -= 1 }
        return (Array(mantissa[start..<end]), n)
    }
}
