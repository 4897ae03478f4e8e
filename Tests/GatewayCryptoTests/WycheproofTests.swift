// Wycheproof (C2SP) signature-verification vectors for the four JWS primitives.
// Every vector must give its expected result; "acceptable" vectors (none in these files
// today) would be counted and reported, never silently passed (see docs/signing.md).
import GatewayTestSupport
import Foundation
import GatewayCrypto
import GatewayJSON
import Testing

@Suite struct WycheproofTests {
    static let files: [(String, JWSAlgorithm)] = [
        ("ecdsa_secp256r1_sha256_p1363_test.json", .es256),
        ("ecdsa_secp384r1_sha384_p1363_test.json", .es384),
        ("rsa_pss_2048_sha256_mgf1_32_test.json", .ps256),
        ("rsa_pss_3072_sha256_mgf1_32_test.json", .ps256),
        ("rsa_pss_4096_sha256_mgf1_32_test.json", .ps256),
        ("ed25519_test.json", .edDSA),
    ]

    @Test("every vector gives its expected result", arguments: files)
    func vectors(file: String, algorithm: JWSAlgorithm) throws {
        let document = try Vectors.json("wycheproof/testvectors_v1/\(file)")
        var counts: [String: (total: Int, agreed: Int)] = [:]
        var disagreements: [String] = []
        for group in document["testGroups"]!.arrayValue! {
            let key = try PublicKey(der: Hex.decode(group["publicKeyDer"]!.stringValue!)!)
            for test in group["tests"]!.arrayValue! {
                let expected = test["result"]!.stringValue!
                let message = Hex.decode(test["msg"]!.stringValue!)!
                let signature = Hex.decode(test["sig"]!.stringValue!)!
                let accepted = key.isValidSignature(signature, for: message, algorithm: algorithm)
                let agrees: Bool
                switch expected {
                case "valid": agrees = accepted
                case "invalid": agrees = !accepted
                default: agrees = true  // "acceptable": either outcome is allowed; counted below
                }
                counts[expected, default: (0, 0)].total += 1
                if agrees { counts[expected, default: (0, 0)].agreed += 1 } else {
                    disagreements.append("tcId \(test["tcId"]!.intValue!) (\(expected), \(test["comment"]!.stringValue!))")
                }
            }
        }
        let summary = counts.keys.sorted().map { "\($0) \(counts[$0]!.agreed)/\(counts[$0]!.total)" }.joined(separator: ", ")
        print("wycheproof \(file) [\(algorithm.rawValue)]: \(summary)")
        #expect(disagreements.isEmpty, "\(file): \(disagreements.joined(separator: "; "))")
        #expect(counts.values.reduce(0) { $0 + $1.total } == document["numberOfTests"]!.intValue!)
    }
}
