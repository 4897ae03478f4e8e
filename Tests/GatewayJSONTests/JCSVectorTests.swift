import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

@Suite("RFC 8785 JCS vectors")
struct JCSVectorTests {
    static let names = ["arrays", "french", "structures", "unicode", "values", "weird"]

    @Test("every testdata input canonicalises byte for byte", arguments: names)
    func canonicalises(name: String) throws {
        let input = try Data(contentsOf: TestPaths.vector("jcs/testdata/input/\(name).json"))
        let expected = try Data(contentsOf: TestPaths.vector("jcs/testdata/output/\(name).json"))
        let value = try JSON.parse(input)
        #expect(try value.canonicalBytes() == Array(expected))
    }

    @Test("all 10,000 numbers format as ECMAScript does")
    func numbers() throws {
        let text = try String(contentsOf: TestPaths.vector("jcs/numbers/es6testfile100m.first10000.txt"), encoding: .utf8)
        var checked = 0
        var mismatches: [String] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ",", maxSplits: 1)
            try #require(parts.count == 2)
            let bits = try #require(UInt64(parts[0], radix: 16))
            let value = Double(bitPattern: bits)
            let formatted = ECMAScriptNumber.format(value)
            if formatted != parts[1] { mismatches.append("\(parts[0]): got \(formatted), want \(parts[1])") }
            checked += 1
        }
        #expect(checked == 10_000)
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }
}
