// The built-in matcher (SimplePattern) must agree with ICU on the patterns it accepts, and
// refuse (leave to ICU) what it does not understand.

import Foundation
@testable import GatewaySchema
import Testing

@Suite("patterns")
struct PatternTests {
    @Test("SimplePattern agrees with ICU")
    func agreesWithICU() throws {
        let patterns = ["^[A-Z]{2}-[A-Z0-9]+$", "^[0-9a-f]{64}$", "^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$", "^OA ?[0-9]{1,2}\\.[0-9]{1,2}$",
                        "^\\+[0-9 ]{6,20}$", "a+b", "^[^./\\\\]x*$", "c.d", "^\\d{3}\\w?$", "[a-c]{2,}z"]
        let inputs = ["PL-KGP", "pl-kgp", "EU-EUROPOL", "PL-", "", "OA 2.3", "OA12.10", "2.3", "+48 22 000 00 00", "+48", "aab", "xxaaabyy", "b",
                      "qx", ".x", "c\nd", "cxd", "123", "123_", "12", "abz", "zzacbz", "é-ÉÉ", "PL-KGPé", "aé+b", "c\u{2028}d", "abz\u{1F600}", "\u{1F600}aab", String(repeating: "a", count: 64), String(repeating: "f", count: 64)]
        for pattern in patterns {
            let simple = try #require(SimplePattern(pattern), "\(pattern) should be simple")
            let icu = try NSRegularExpression(pattern: PatternRegex.translate(pattern))
            for input in inputs {
                let expected = icu.firstMatch(in: input, range: NSRange(location: 0, length: input.utf16.count)) != nil
                #expect(simple.matches(input) == expected, "\(pattern) on \(input.debugDescription)")
            }
        }
    }

    @Test("groups, alternation, lookaround and lazy quantifiers go to ICU")
    func leavesComplexToICU() {
        for pattern in ["(ab)+", "a|b", "(?=a)a", "a+?", "\\bword", "[[:alpha:]]", "\\p{Letter}"] {
            #expect(SimplePattern(pattern) == nil, "\(pattern)")
        }
    }
}
