// Signing benchmarks: ES256 sign (JCS canonicalisation included) and verify, one thread,
// over a ~1 KB message. The key is generated in-process; no PKI needed.
import Foundation
import GatewayCrypto
import GatewayJSON

func runSigningBench(quick: Bool) throws {
    let key = try PrivateKey.generate(.ec(.p256))
    let signer = try JWSSigner(key: key)
    let verifier = JWSVerifier()
    let publicKey = key.publicKey
    let message = benchMessage()
    let size = try message.canonicalBytes().count
    precondition(size > 900 && size < 1300, "bench message should be about 1 KB, is \(size)")

    let count = quick ? 2_000 : 20_000
    // Warm up (page in code, fill the header cache).
    for _ in 0..<200 { _ = try signer.sign(message) }

    // BENCH_DETAIL=1 splits the sign cost into its parts (JCS, base64url, the signature alone).
    if ProcessInfo.processInfo.environment["BENCH_DETAIL"] != nil {
        let jcs = try measure { for _ in 0..<count { _ = try message.canonicalBytes() } }
        report("detail_jcs_per_s", Double(count) / jcs, "/s")
        let bytes = try message.canonicalBytes()
        let b64 = measure { for _ in 0..<count { _ = Base64URL.encode(bytes) } }
        report("detail_b64_per_s", Double(count) / b64, "/s")
        let raw = try measure { for _ in 0..<count { _ = try key.signature(for: bytes, algorithm: .es256) } }
        report("detail_rawsign_per_s", Double(count) / raw, "/s")
        let ctx = try measure { for _ in 0..<count { _ = try signer.signature(over: bytes) } }
        report("detail_templatesign_per_s", Double(count) / ctx, "/s")
    }
    var last: JWS?
    let signSeconds = try measure {
        for _ in 0..<count { last = try signer.sign(message) }
    }
    report("sign_es256_per_s", Double(count) / signSeconds, "signs/s")

    let jws = last!.flattenedJSON
    let verifyCount = count / 2
    let verifySeconds = try measure {
        for _ in 0..<verifyCount { _ = try verifier.verify(jws, key: publicKey) }
    }
    report("verify_es256_per_s", Double(verifyCount) / verifySeconds, "verifies/s")
}

/// A realistic ~1 KB operational report.
private func benchMessage() -> JSON {
    [
        "messageId": "5a0c6f0e-9d7b-4c1e-8f3a-2b6d7e8f9a01",
        "type": "operational-report",
        "sender": "PL-CBSP",
        "recipients": ["EU-EUROPOL", "EU-EUROJUST"],
        "createdAt": "2026-03-14T09:26:53Z",
        "priority": "urgent",
        "classification": "RESTREINT UE/EU RESTRICTED",
        "handlingCodes": ["H2"],
        "empactPriority": "drug trafficking",
        "caseReference": "PL-CBSP/2026/000123",
        "subject": "Shipment of precursors via Gdańsk container terminal",
        "body": [
            "summary": .string(String(repeating: "Observed transfer of chemical precursors between two companies. ", count: 6)),
            "sourceReliability": "B",
            "informationAccuracy": "2",
            "persons": [["role": "suspect", "nationality": "PL", "yearOfBirth": 1981],
                        ["role": "suspect", "nationality": "NL", "yearOfBirth": 1979]],
            "vehicles": [["kind": "truck", "registration": "GD 12345"]],
            "amountEUR": 125000.5,
        ],
    ]
}
