@testable import GatewayDaemon
import Testing

/// Log values come from units (file names) and agencies (reasons): none may forge a line or
/// reach an operator's terminal raw.
@Suite("logfmt values")
struct LogfmtTests {
    @Test("plain values stay bare; spaces, quotes and equals signs are quoted")
    func plain() {
        #expect(LogfmtHandler.quote("alert-1.json") == "alert-1.json")
        #expect(LogfmtHandler.quote("") == "\"\"")
        #expect(LogfmtHandler.quote("a b") == "\"a b\"")
        #expect(LogfmtHandler.quote("k=v") == "\"k=v\"")
        #expect(LogfmtHandler.quote("say \"hi\" \\o/") == #""say \"hi\" \\o/""#)
        #expect(LogfmtHandler.quote("zażółć.json") == "zażółć.json", "letters beyond ASCII are not controls")
    }

    @Test("line breaks of every kind and control characters are escaped: one event, one line")
    func controls() {
        let forged = "x\r\nts=2026-01-01T00:00:00Z level=notice msg=\"configuration reloaded\".json"
        let quoted = LogfmtHandler.quote(forged)
        #expect(!quoted.unicodeScalars.contains { $0.value < 0x20 }, "\(quoted)")
        #expect(quoted.hasPrefix(#""x\r\nts="#), "\(quoted)")
        #expect(LogfmtHandler.quote("a\rb") == #""a\rb""#)
        #expect(LogfmtHandler.quote("tab\there") == #""tab\there""#)
        #expect(LogfmtHandler.quote("\u{1B}[31mred") == #""\u001b[31mred""#)
        #expect(LogfmtHandler.quote("nel\u{85}ls\u{2028}ps\u{2029}del\u{7F}") == #""nel\u0085ls\u2028ps\u2029del\u007f""#)
        #expect(LogfmtHandler.quote("nul\u{0}") == #""nul\u0000""#)
    }

    @Test("long values are cut, and the cut is marked")
    func long() {
        let quoted = LogfmtHandler.quote(String(repeating: "a", count: 5000))
        #expect(quoted == "\"" + String(repeating: "a", count: LogfmtHandler.maxValueLength) + "…\"")
        #expect(LogfmtHandler.quote(String(repeating: "b", count: LogfmtHandler.maxValueLength)).count == LogfmtHandler.maxValueLength)
    }
}
