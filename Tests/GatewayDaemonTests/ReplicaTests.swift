// Pickup workers each work on a replica of the processor (validator and signer of their
// own); a replica must decide exactly as the original does.
import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewaySchema
import GatewayTestSupport
import Testing

@Suite("per-worker replicas of the validator and the signer")
struct ReplicaTests {
    static func validator() throws -> SchemaMessageValidator {
        SchemaMessageValidator(validator: try MessageValidator(schemasDirectory: TestPaths.packageRoot.appendingPathComponent("schemas")))
    }

    @Test("the validator's replica finds the same problems in every example, valid and invalid")
    func validatorReplica() throws {
        let original = try Self.validator()
        let replica = try original.replica()
        let dir = Samples.invalidDirectory
        let invalid = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") && !$0.hasSuffix(".expect.json") }
        #expect(invalid.count >= 40)
        var documents = try Samples.valid().map(\.1)
        for name in invalid {
            documents.append(try JSON.parse(Data(contentsOf: dir.appendingPathComponent(name))))
        }
        var refused = 0
        for doc in documents {
            let a = original.validate(message: doc)
            #expect(a == replica.validate(message: doc))
            if !a.isEmpty { refused += 1 }
        }
        #expect(refused >= 40, "the invalid examples are refused by both")
    }

    /// A pickup processor on a fresh fixture's configuration, with the real validator and signer.
    static func processor() throws -> PickupProcessor {
        let config = try GatewayConfiguration.load(path: try GatewayFixture().configPath)
        let services = try DefaultServices.make(config)
        return PickupProcessor(config: config, validator: services.validator, signer: services.signer)
    }

    @Test("a processor's replica accepts and refuses as the original, and signs with the same key")
    func processorReplica() throws {
        let original = try Self.processor()
        let replica = try original.replica()
        let example = try #require(try Samples.valid().first).1
        let good = Samples.bytes(Samples.adapt(example, unit: "PL-KGP", id: "replica-1", recipients: ["EU-EUROPOL"]))
        let unknown = Samples.bytes(Samples.adapt(example, unit: "PL-KGP", id: "replica-2", recipients: ["EU-NOBODY"]))
        let now = Date().millis
        for processor in [original, replica] {
            let accepted = try processor.process(unit: "PL-KGP", file: "m.json", bytes: good, now: now).get()
            let verified = try JWSVerifier().verify(accepted.message.jws, trustStore: TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem")))
            #expect(verified.signerSubject?.contains("PL-GW") == true)
            guard case .failure(let refusal) = processor.process(unit: "PL-KGP", file: "n.json", bytes: unknown, now: now) else {
                Issue.record("an unknown recipient was accepted")
                continue
            }
            #expect(refusal.stage == .routing)
        }
    }

    @Test("createdAt up to five minutes ahead of the gateway's clock is accepted, further ahead refused; expiresAt must come after createdAt and after now")
    func clockBoundaries() throws {
        let processor = try Self.processor()
        let example = try #require(try Samples.valid().first).1
        let now = Date().millis
        func outcome(created: Int64, expires: Int64? = nil) -> Refusal? {
            var m = Samples.set(Samples.adapt(example, unit: "PL-KGP", id: "clock-\(created)-\(expires ?? 0)", recipients: ["EU-EUROPOL"]),
                                "createdAt", .string(RFC3339.format(millis: created)))
            if let expires { m = Samples.set(m, "expiresAt", .string(RFC3339.format(millis: expires))) }
            if case .failure(let refusal) = processor.process(unit: "PL-KGP", file: "m.json", bytes: Samples.bytes(m), now: now) { return refusal }
            return nil
        }
        #expect(outcome(created: now + 299_000) == nil, "4:59 ahead: a unit's clock a little fast")
        #expect(outcome(created: now + 300_000) == nil, "exactly five minutes")
        let ahead = try #require(outcome(created: now + 301_000))
        #expect(ahead.stage == .expiry && (ahead.items.first?.message ?? "").contains("more than five minutes ahead"), "\(ahead.items)")
        let before = try #require(outcome(created: now + 60_000, expires: now + 60_000))
        #expect(before.stage == .expiry && (before.items.first?.message ?? "").contains("not after createdAt"), "\(before.items)")
        let past = try #require(outcome(created: now - 60_000, expires: now - 1_000))
        #expect(past.stage == .expiry && (past.items.first?.message ?? "").contains("expired"), "\(past.items)")
        #expect(outcome(created: now - 60_000, expires: now + 1_000) == nil)
    }
}
