// NAME
//   Printable: text from outside (an agency's answer, a unit's subject or file name) made
//   safe to store, report and show: one line, no control characters, bounded.
//
// SECURITY
//   An agency chooses the words of its refusals and receipts; a unit chooses its subjects
//   and file names. Shown raw, a control sequence would drive the operator's terminal, and
//   a line break would start a line that seems to be the gateway's own.

public enum Printable {
    /// C0 and C1 controls, DEL, and the line and paragraph separators.
    public static func isControl(_ c: Unicode.Scalar) -> Bool {
        c.value < 0x20 || (0x7F...0x9F).contains(c.value) || c.value == 0x2028 || c.value == 0x2029
    }

    /// `text` with each control character shown as escape text ("\n", "\r", "\t",
    /// "\u001b"…), cut to `limit` characters with "…" marking the cut.
    public static func line(_ text: String, limit: Int = .max) -> String {
        escape(text, limit: limit, keeping: false)
    }

    /// As `line`, but line breaks and tabs stay (terminal output of several lines).
    public static func lines(_ text: String) -> String {
        escape(text, limit: .max, keeping: true)
    }

    private static func escape(_ text: String, limit: Int, keeping breaks: Bool) -> String {
        func kept(_ c: Unicode.Scalar) -> Bool { !isControl(c) || (breaks && (c == "\n" || c == "\t")) }
        if text.unicodeScalars.allSatisfy(kept) && (limit == .max || text.unicodeScalars.count <= limit) { return text }
        var out = String.UnicodeScalarView()
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit {
                out.append("…")
                break
            }
            count += 1
            if kept(scalar) {
                out.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            default:
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex).unicodeScalars)
            }
        }
        return String(out)
    }
}
