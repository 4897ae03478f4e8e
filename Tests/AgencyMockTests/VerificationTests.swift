// What an agency refuses, table-driven: each case is one request built to fail one check,
// with the status and problem `reason` it must get. None may leave a trace in /received.
import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayTestSupport
import Testing

extension AgencyMockTests {
    @Suite struct Verification {
        struct Case: CustomStringConvertible {
            let description: String
            let status: Int
            let reason: String
            let contentType: String?
            let idempotencyKey: String?
            let body: [UInt8]
        }

        static func cases() throws -> [Case] {
            func good(_ example: String = "alert--threat-to-life", recipients: [String] = ["EU-EUROPOL"]) throws -> (JSON, JWS) {
                let message = try Messages.make(example, recipients: recipients)
                return (message, try Messages.sign(message))
            }
            var cases: [Case] = []
            func add(_ name: String, _ status: Int, _ reason: String, _ message: JSON, _ body: [UInt8],
                     contentType: String? = "application/jose+json", key: String?? = .none) {
                cases.append(Case(description: name, status: status, reason: reason, contentType: contentType,
                                  idempotencyKey: key ?? Messages.id(message), body: body))
            }

            // The signature: one bit of it changed.
            let (m1, j1) = try good()
            var signature = try #require(Base64URL.decode(j1.signatureBase64URL))
            signature[5] ^= 0x01
            add("bad signature", 400, "badSignature", m1, JWS(protectedHeaderBase64URL: j1.protectedHeaderBase64URL,
                                                              payloadBase64URL: j1.payloadBase64URL,
                                                              signatureBase64URL: Base64URL.encode(signature)).flattenedJSON)
            // The payload: another message under the first one's header and signature.
            let (m2, j2) = try good()
            guard case .object(var tampered) = m2 else { throw CocoaError(.coderInvalidValue) }
            tampered["priority"] = "immediate"
            tampered["subject"] = "tampered in transit"
            add("tampered payload", 400, "badSignature", m2, JWS(protectedHeaderBase64URL: j2.protectedHeaderBase64URL,
                                                                 payloadBase64URL: Base64URL.encode(try JSON.object(tampered).canonicalBytes()),
                                                                 signatureBase64URL: j2.signatureBase64URL).flattenedJSON)
            // The signer: a CA the agency does not trust, and an expired certificate.
            let m3 = try Messages.make()
            add("signer from an unknown CA", 403, "untrustedCertificate", m3, try Messages.sign(m3, as: "bad/wrong-ca").flattenedJSON)
            let m4 = try Messages.make()
            add("expired signing certificate", 403, "untrustedCertificate", m4, try Messages.sign(m4, as: "bad/expired").flattenedJSON)
            let m4b = try Messages.make()
            add("certificate without digitalSignature", 403, "untrustedCertificate", m4b,
                try Messages.sign(m4b, as: "bad/wrong-usage").flattenedJSON)
            // Not a JWS at all.
            let m5 = try Messages.make()
            add("malformed JWS", 400, "malformed", m5, Array("{\"payload\":\"e30\"}".utf8))
            // The headers.
            let (m6, j6) = try good()
            add("wrong content type", 415, "contentType", m6, j6.flattenedJSON, contentType: "application/json")
            let (m7, j7) = try good()
            add("missing Idempotency-Key", 400, "idempotencyKey", m7, j7.flattenedJSON, key: .some(nil))
            let (m8, j8) = try good()
            add("Idempotency-Key not the messageId", 400, "idempotencyKeyMismatch", m8, j8.flattenedJSON, key: "another-key-12345")
            // The message.
            let (m9, j9) = try good(recipients: ["EU-FRONTEX"])
            add("recipient not this agency", 422, "recipient", m9, j9.flattenedJSON)
            let m10 = try Messages.make()
            guard case .object(var invalid) = m10 else { throw CocoaError(.coderInvalidValue) }
            invalid["priority"] = "whenever"
            add("schema-invalid payload", 422, "schema", m10, try Messages.sign(.object(invalid)).flattenedJSON)
            // A payload that is signed but not I-JSON (a duplicate member name).
            let m11 = try Messages.make()
            let duplicate = Array("{\"messageId\":\"\(Messages.id(m11))\",\"messageId\":\"x\"}".utf8)
            add("payload with a duplicate member", 400, "payload", m11, try DevPKI.signer("gateway/signing").sign(payload: duplicate).flattenedJSON)
            return cases
        }

        @Test func everyRefusalHasItsStatusAndReason() async throws {
            let cases = try Self.cases()
            try await MockProcess.with { mock in
                // A good delivery first: the gateway's chain is then cached as verified, and the
                // refusals below with that chain (bad signature, tampered payload) must still fail.
                let warm = try Messages.make()
                #expect(try Curl.postMessage(mock.url(), body: Messages.sign(warm).flattenedJSON, idempotencyKey: Messages.id(warm)).status == 201)
                var expectedCounts: [String: Int] = [:]
                for c in cases {
                    let result = try Curl.postMessage(mock.url(), body: c.body, contentType: c.contentType, idempotencyKey: c.idempotencyKey)
                    #expect(result.status == c.status, "\(c): \(String(decoding: result.body, as: UTF8.self)) \(result.stderr)")
                    #expect(result.headers["content-type"] == "application/problem+json", "\(c)")
                    let problem = result.json
                    #expect(problem?["reason"] == .string(c.reason), "\(c)")
                    #expect(problem?["title"]?.stringValue?.isEmpty == false, "\(c)")
                    #expect(problem?["detail"]?.stringValue?.isEmpty == false, "\(c)")
                    expectedCounts[c.reason, default: 0] += 1
                    if c.description == "schema-invalid payload" {
                        let errors = problem?["errors"]?.arrayValue ?? []
                        #expect(errors.contains { $0["instanceLocation"] == "/priority" }, "\(errors)")
                    }
                    if c.description == "expired signing certificate" {
                        #expect(problem?["chainError"] == "expired", "\(String(decoding: result.body, as: UTF8.self))")
                    }
                }
                #expect(try Curl.control("GET", "\(mock.controlURL)/received?agency=EU-EUROPOL").json?.arrayValue?.count == 1,
                        "only the warm-up message")
                let stats = try #require(try Curl.control("GET", "\(mock.controlURL)/stats").json)
                #expect(stats["EU-EUROPOL"]?["received"] == 1)
                #expect(stats["EU-EUROPOL"]?["rejected"] == .object(expectedCounts.mapValues { .number(Double($0)) }))
            }
        }

        @Test func withoutSchemasTheEnvelopeIsNotValidatedButRecipientsStillAre() async throws {
            try await MockProcess.with(config: try MockProcess.configuration(schemas: false)) { mock in
                let message = try Messages.make()
                guard case .object(var loose) = message else { return }
                loose["priority"] = "whenever"
                let accepted = try Curl.postMessage(mock.url(), body: Messages.sign(.object(loose)).flattenedJSON,
                                                    idempotencyKey: Messages.id(message))
                #expect(accepted.status == 201)
                let other = try Messages.make(recipients: ["EU-OLAF"])
                let refused = try Curl.postMessage(mock.url(), body: Messages.sign(other).flattenedJSON, idempotencyKey: Messages.id(other))
                #expect(refused.status == 422)
                #expect(refused.json?["reason"] == "recipient")
            }
        }
    }
}

extension AgencyMockTests.Verification {
    @Test func bodyOverFiftyMegabytesIsTooLarge() async throws {
        try await MockProcess.with { mock in
            let message = try Messages.make()
            let huge = [UInt8](repeating: UInt8(ascii: "a"), count: MessageSizes.overCap)
            let result = try Curl.postMessage(mock.url(), body: huge, idempotencyKey: Messages.id(message), maxTime: 60)
            #expect(result.status == 413, "\(result.exitCode) \(result.stderr)")
            #expect(result.json?["reason"] == "tooLarge")
        }
    }
}

enum MessageSizes {
    /// One byte over the 50 MB cap (SPEC's attachment limit).
    static let overCap = 50 * 1024 * 1024 + 1
}
