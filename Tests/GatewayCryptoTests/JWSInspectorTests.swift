// The library side of `gatewayctl verify FILE`.
import GatewayTestSupport
import Foundation
import GatewayCrypto
import GatewayJSON
import Testing

@Suite struct JWSInspectorTests {
    static let message: JSON = ["messageId": "m-1", "sender": "PL-KAS", "type": "operational-report"]

    @Test("a gateway-signed file is valid, with signer, chain status, algorithm, time and payload")
    func valid() throws {
        let when = Date(timeIntervalSince1970: 1_767_225_600)
        let jws = try DevPKI.signer("gateway/signing").sign(Self.message, at: when)
        let file = jws.flattenedJSON + [0x0A]  // files end with a newline
        let result = JWSInspector.inspect(file, trustStore: try DevPKI.trustStore())
        #expect(result.isValid && result.reason == nil)
        #expect(result.chainStatus == .verified)
        #expect(result.algorithm == "ES256")
        #expect(result.signerSubject == "CN=PL-GW signing,O=PL Gateway Development,C=PL")
        #expect(result.signingTime == when)
        #expect(result.serialization == .flattenedJSON)
        #expect(result.payloadJSON == Self.message)
        #expect(result.json["valid"] == true)
        #expect(result.json["signingTime"] == "2026-01-01T00:00:00Z")
        // Compact works the same.
        #expect(JWSInspector.inspect(Array(jws.compact.utf8), trustStore: try DevPKI.trustStore()).isValid)
    }

    @Test("a revoked signer: invalid, chain failed with OpenSSL's reason, claims still shown")
    func revoked() throws {
        let jws = try DevPKI.signer("bad/revoked").sign(Self.message)
        let result = JWSInspector.inspect(jws.flattenedJSON, trustStore: try DevPKI.trustStore())
        #expect(!result.isValid)
        #expect(result.failure == .untrustedCertificate)
        guard case .failed(let why) = result.chainStatus else { Issue.record("chain status \(result.chainStatus)"); return }
        #expect(why.contains("revoked"))
        #expect(result.signerSubject == "CN=bad revoked,O=PL Gateway Development,C=PL")
        #expect(result.payloadJSON == Self.message)
    }

    @Test("tampered payload: invalid, bad signature, chain verified")
    func tampered() throws {
        let jws = try DevPKI.signer("gateway/signing").sign(Self.message)
        let changed = Tamper.variants(of: jws, part: .payload)[1]
        let result = JWSInspector.inspect(changed.flattenedJSON, trustStore: try DevPKI.trustStore())
        #expect(!result.isValid)
        #expect(result.failure == .badSignature)
        #expect(result.chainStatus == .verified)
    }

    @Test("garbage, a bare-key JWS and no anchors are reported, never thrown")
    func otherCases() throws {
        let garbage = JWSInspector.inspect(Array("hello".utf8), trustStore: nil)
        #expect(!garbage.isValid && garbage.failure == .malformed)
        let key = try PrivateKey.generate(.ed25519)
        let bare = try JWSSigner(key: key).sign(Self.message)
        let noChain = JWSInspector.inspect(bare.flattenedJSON, trustStore: try DevPKI.trustStore())
        #expect(!noChain.isValid && noChain.failure == .missingCertificateChain && noChain.chainStatus == .absent)
        let withKey = JWSInspector.inspect(bare.flattenedJSON, trustStore: nil, key: key.publicKey)
        #expect(withKey.isValid && withKey.algorithm == "EdDSA" && withKey.chainStatus == .absent)
        let nothing = JWSInspector.inspect(bare.flattenedJSON, trustStore: nil)
        #expect(!nothing.isValid && nothing.algorithm == "EdDSA")
    }
}
