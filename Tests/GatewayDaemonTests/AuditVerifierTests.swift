// Checkpoint signatures: with signing.trustAnchors, only the gateway's own signing
// certificate, signing at the checkpoint's own time, may sign a checkpoint.
import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayTestSupport
import Testing

@Suite("audit checkpoint signatures")
struct AuditVerifierTests {
    static func payload(at millis: Double) throws -> [UInt8] {
        try (["type": "audit-checkpoint", "seq": 12, "hash": .string(String(repeating: "a", count: 64)), "at": .number(millis)] as JSON).canonicalBytes()
    }

    static func signer(_ base: String) throws -> JWSSigner {
        try JWSSigner(key: try PrivateKey.load(path: DevPKIFixture.path("\(base).key")),
                      chain: try Certificate.load(path: DevPKIFixture.path("\(base)-chain.pem")))
    }

    @Test("the gateway's signing certificate at the checkpoint's time verifies; another certificate under the anchors, another time, or a hostile iat does not")
    func onlyTheGatewaySigns() throws {
        let gateway = try Certificate.load(path: DevPKIFixture.path("gateway/signing-chain.pem"))[0]
        let verifier = JWSAuditVerifier(trust: try DevPKI.trustStore(), key: nil, signerSubject: gateway.subject)
        let now = Date()
        let at = (now.timeIntervalSince1970 * 1000).rounded(.down)
        let good = try Self.signer("gateway/signing").sign(payload: try Self.payload(at: at), at: now).compact
        #expect(try verifier.verify(good) == (try Self.payload(at: at)))
        // An agency's receipt key chains to the same anchors and may sign: not the gateway's.
        let byAgency = try Self.signer("agencies/europol/receipt").sign(payload: try Self.payload(at: at), at: now).compact
        let agencyError = try #require(throws: (any Error).self) { try verifier.verify(byAgency) }
        #expect("\(agencyError)".contains("not the gateway's signing certificate"), "\(agencyError)")
        // The gateway's TLS client key chains there too: a TLS certificate is no signer at all.
        let byTLS = try Self.signer("gateway/tls-client").sign(payload: try Self.payload(at: at), at: now).compact
        let tlsError = try #require(throws: (any Error).self) { try verifier.verify(byTLS) }
        #expect("\(tlsError)".contains("wrong key usage"), "\(tlsError)")
        // The gateway's key, but a signing time a minute off the checkpoint's.
        let offTime = try Self.signer("gateway/signing").sign(payload: try Self.payload(at: at), at: now.addingTimeInterval(60)).compact
        let error = try #require(throws: (any Error).self) { try verifier.verify(offTime) }
        #expect("\(error)".contains("not at its own time"), "\(error)")
        // A hostile iat is an error, not a crash.
        let signer = try Self.signer("gateway/signing")
        let h = Base64URL.encode(Array(#"{"alg":"ES256","iat":1e300}"#.utf8)), p = Base64URL.encode(try Self.payload(at: at))
        let hostile = "\(h).\(p).\(Base64URL.encode(try signer.signature(over: Array("\(h).\(p)".utf8))))"
        #expect(throws: (any Error).self) { try verifier.verify(hostile) }
    }
}
