// The validator reads strings on their UTF-8 bytes where it can (lengths, strict equality,
// ASCII host names and e-mail local parts). Each byte path must agree with the definition
// it replaces, on ASCII and on everything else.

import Foundation
import GatewayJSON
@testable import GatewaySchema
import Testing

@Suite("string fast paths")
struct StringFastPathTests {
    static let samples = ["", "a", "PL-KGP", "é", "e\u{301}", "\u{1F600}", "a\u{1F600}b", "日本語", "\u{0}", "\r\n", "x\u{10FFFF}",
                          String(repeating: "ab", count: 40), String(repeating: "é", count: 17)]

    @Test("code points counted on the bytes equal the scalar count")
    func codePoints() {
        for s in Self.samples { #expect(codePointCount(s) == s.unicodeScalars.count, "\(s.debugDescription)") }
    }

    @Test("strict string equality is code point equality, not canonical equivalence")
    func equality() {
        for a in Self.samples {
            for b in Self.samples {
                #expect(sameCodePoints(a, b) == a.unicodeScalars.elementsEqual(b.unicodeScalars), "\(a.debugDescription) vs \(b.debugDescription)")
            }
        }
        #expect("é" == "e\u{301}")  // Swift's equality: canonical equivalence
        #expect(!strictlyEqual(.string("é"), .string("e\u{301}")))
    }

    @Test("minLength and maxLength count code points, also past the byte shortcut")
    func lengths() throws {
        let schema = try SchemaRegistry().compile(JSON.parse(#"{"type": "string", "minLength": 3, "maxLength": 4}"#))
        // "é" is two bytes, the emoji four: byte counts would say otherwise.
        for (text, valid) in [("ab", false), ("abc", true), ("abcd", true), ("abcde", false), ("éé", false), ("ééé", true),
                              ("\u{1F600}\u{1F600}", false), ("\u{1F600}\u{1F600}\u{1F600}", true), ("\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}", false),
                              ("e\u{301}e", true)] {
            #expect(schema.validate(.string(text)).isValid == valid, "\(text.debugDescription)")
        }
    }

    @Test("ASCII host names and mailboxes: the byte path keeps the rules")
    func networkFormats() {
        let hosts: [(String, Bool)] = [("example.org", true), ("EXAMPLE.org", true), ("a-b.c", true), ("-ab.c", false), ("ab-.c", false),
                                       ("a_b.c", false), ("ab--cd.org", false), ("xn--nxasmq6b.org", true), ("XN--nxasmq6b.org", true),
                                       ("xn--a.org", false), ("a..b", false), ("", false), (String(repeating: "a", count: 63) + ".org", true),
                                       (String(repeating: "a", count: 64) + ".org", false), ("a b.org", false), ("1.2.3", true)]
        for (host, valid) in hosts {
            #expect(FormatNetwork.isHostname(host, international: false) == valid, "\(host)")
            #expect(FormatNetwork.isHostname(host, international: true) == valid, "\(host) (idn)")
        }
        let mailboxes: [(String, Bool)] = [("joe.bloggs@example.org", true), ("j+o_e{x}~@example.org", true), ("j..oe@example.org", false),
                                           ("jo e@example.org", false), ("jo(e@example.org", false), ("joé@example.org", false),
                                           (".joe@example.org", false), ("joe@-example.org", false), ("\"jo e\"@example.org", true)]
        for (mailbox, valid) in mailboxes {
            #expect(FormatNetwork.isEmail(mailbox, international: false) == valid, "\(mailbox)")
        }
        #expect(FormatNetwork.isEmail("joé@example.org", international: true))
    }
}
