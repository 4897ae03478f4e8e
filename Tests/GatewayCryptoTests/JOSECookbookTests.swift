// Known-answer JWS from RFC 7520 (JOSE cookbook), RFC 8037 (Ed25519) and RFC 7515 A.3/A.7.
import GatewayTestSupport
import Foundation
import GatewayCrypto
import GatewayJSON
import Testing

@Suite struct JOSECookbookTests {
    static let supportedFiles = ["jose-rfc7515/A.3.es256.json", "jose-cookbook/curve25519/jws.json"]

    @Test("supported-algorithm examples verify in every serialisation", arguments: supportedFiles)
    func examplesVerify(file: String) throws {
        let example = try Vectors.json(file)
        let key = try PublicKey(jwk: example["input"]!["key"]!)
        let expectedPayload = Array(example["input"]!["payload"]!.stringValue!.utf8)
        let flattened = try JSON.object(example["output"]!["json_flat"]!.objectValue!).canonicalBytes()
        let compact = Array(example["output"]!["compact"]!.stringValue!.utf8)
        for bytes in [flattened, compact] {
            let verified = try JWSVerifier().verify(bytes, key: key)
            #expect(verified.payload == expectedPayload)
            #expect(verified.algorithm.rawValue == example["input"]!["alg"]!.stringValue)
        }
    }

    @Test("a one-byte change in header, payload or signature fails", arguments: supportedFiles)
    func tamperedExamplesFail(file: String) throws {
        let example = try Vectors.json(file)
        let key = try PublicKey(jwk: example["input"]!["key"]!)
        let original = try JWS.parse(example["output"]!["compact"]!.stringValue!)
        var refused = 0
        for part in Tamper.Part.allCases {
            for changed in Tamper.variants(of: original, part: part) {
                #expect(throws: JWSError.self) { try JWSVerifier().verify(changed, key: key) }
                refused += 1
            }
        }
        #expect(refused >= 9)
    }

    @Test("RFC 8037 A.4: Ed25519 signing reproduces the published signature")
    func ed25519Deterministic() throws {
        let example = try Vectors.json("jose-cookbook/curve25519/jws.json")
        let key = try PrivateKey(jwk: example["input"]!["key"]!)
        let signer = try JWSSigner(key: key)
        let input = Array(example["signing"]!["sig-input"]!.stringValue!.utf8)
        let signature = try signer.signature(over: input)
        #expect(Base64URL.encode(signature) == example["signing"]!["sig"]!.stringValue)
    }

    @Test("RFC 7515 A.3: ES256 signing with the example key verifies under the example public key")
    func es256SignWithExampleKey() throws {
        let example = try Vectors.json("jose-rfc7515/A.3.es256.json")
        let key = try PrivateKey(jwk: example["input"]!["key"]!)
        let jws = try JWSSigner(key: key).sign(payload: Array(example["input"]!["payload"]!.stringValue!.utf8))
        let verified = try JWSVerifier().verify(jws, key: PublicKey(jwk: example["input"]!["key"]!))
        #expect(verified.algorithm == .es256)
        #expect(Base64URL.decode(jws.signatureBase64URL)!.count == 64)
    }

    /// The cookbook's other examples use algorithms the gateway refuses; each is refused by name.
    @Test("unsupported cookbook algorithms are refused with the reason", arguments: [
        ("jose-cookbook/jws/4_1.rsa_v15_signature.json", JWSError.Reason.unsupportedAlgorithm),
        ("jose-cookbook/jws/4_2.rsa-pss_signature.json", .unsupportedAlgorithm),
        ("jose-cookbook/jws/4_3.ecdsa_signature.json", .unsupportedAlgorithm),
        ("jose-cookbook/jws/4_4.hmac-sha2_integrity_protection.json", .hmacRefused),
        ("jose-cookbook/jws/4_6.protecting_specific_header_fields.json", .hmacRefused),
    ])
    func unsupportedRefused(file: String, reason: JWSError.Reason) throws {
        let example = try Vectors.json(file)
        let flat = try JSON.object(example["output"]!["json_flat"]!.objectValue!).canonicalBytes()
        let anyKey = try PrivateKey.generate(.ec(.p256)).publicKey
        let error = try #require(throws: JWSError.self) { try JWSVerifier().verify(flat, key: anyKey) }
        #expect(error.reason == reason)
    }

    @Test("detached content, header-only protection and multiple signatures are refused as malformed", arguments: [
        "jose-cookbook/jws/4_5.signature_with_detached_content.json",
        "jose-cookbook/jws/4_7.protecting_content_only.json",
        "jose-cookbook/jws/4_8.multiple_signatures.json",
    ])
    func unsupportedShapesRefused(file: String) throws {
        let example = try Vectors.json(file)
        let output = example["output"]!
        let document = output["json_flat"] ?? output["json"]!
        let bytes = try document.canonicalBytes()
        let anyKey = try PrivateKey.generate(.ec(.p256)).publicKey
        let error = try #require(throws: JWSError.self) { try JWSVerifier().verify(bytes, key: anyKey) }
        #expect(error.reason == .malformed || error.reason == .hmacRefused)
    }
}
