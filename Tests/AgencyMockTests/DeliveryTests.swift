// A message accepted once: 201 with a receipt that verifies against the agency's receipt
// anchors and says exactly what was received; repeats are 409 with the same receipt; a
// reused key with other content is 422; the control API shows what arrived.
import Foundation
import GatewayCrypto
import GatewayJSON
import GatewaySchema
import GatewayTestSupport
import Testing

extension AgencyMockTests {
    @Suite struct Delivery {
        @Test(arguments: [false, true])
        func http2IsOfferedOnlyWhenConfigured(http2: Bool) async throws {
            try await MockProcess.with(config: try MockProcess.configuration(http2: http2)) { mock in
                let message = try Messages.make(recipients: ["EU-EUROPOL"])
                let result = try Curl.postMessage(mock.url(), body: try Messages.sign(message).flattenedJSON, idempotencyKey: Messages.id(message))
                #expect(result.status == 201, "\(result.stderr)")
                // curl asks for h2 by ALPN; the mock says which protocol each request came over.
                let protocols = try Curl.control("GET", "\(mock.controlURL)/stats").json?["EU-EUROPOL"]?["protocols"]
                #expect(protocols == .object([http2 ? "HTTP/2" : "HTTP/1.1": 1]))
            }
        }

        @Test func firstDeliveryIsCreatedWithAVerifiableReceipt() async throws {
            try await MockProcess.with { mock in
                let message = try Messages.make(recipients: ["EU-FRONTEX", "EU-EUROPOL"])
                let jws = try Messages.sign(message)
                let before = Date().addingTimeInterval(-1)
                let result = try Curl.postMessage(mock.url(), body: jws.flattenedJSON, idempotencyKey: Messages.id(message))
                #expect(result.status == 201, "\(result.stderr) \(String(decoding: result.body, as: UTF8.self))")
                #expect(result.headers["content-type"] == "application/jose+json")

                // The receipt: signed by Europol's receipt key, chain verified for signing usage.
                let verified = try JWSVerifier().verify(result.body, trustStore: Messages.receiptAnchors(), usage: .signing)
                #expect(verified.serialization == .flattenedJSON)
                let receipt = try verified.payloadJSON()
                #expect(receipt["receiptFor"] == .string(Messages.id(message)))
                #expect(receipt["recipient"] == "EU-EUROPOL")
                #expect(receipt["status"] == "received")
                // digest = lower-case hex SHA-256 of the JWS payload bytes (the JCS of the message).
                let payload = try #require(jws.payload)
                #expect(payload == (try message.canonicalBytes()))
                #expect(receipt["digest"] == .string(SHA256.hex(payload)))
                let receivedAt = try #require(receipt["receivedAt"]?.stringValue)
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let when = try #require(formatter.date(from: receivedAt))
                #expect(when >= before && when <= Date().addingTimeInterval(1))
                // And it is what receipt.schema.json describes.
                let validator = try MessageValidator(schemasDirectory: TestPaths.packageRoot.appendingPathComponent("schemas"))
                #expect(try validator.schema(named: "receipt").validate(receipt).isValid)

                // Signed by Europol's receipt certificate (all dev anchors are one root, so the
                // subject is what tells agencies apart here).
                #expect(verified.signerSubject?.contains("EU-EUROPOL receipts") == true, "\(verified.signerSubject ?? "-")")
            }
        }

        @Test func duplicateIsConflictWithTheSameReceiptAndReusedKeyIsRefused() async throws {
            try await MockProcess.with { mock in
                let message = try Messages.make("operational-report--action-day")
                let first = try Curl.postMessage(mock.url(), body: Messages.sign(message).flattenedJSON, idempotencyKey: Messages.id(message))
                #expect(first.status == 201)
                // Re-signed (another iat, same payload): the retry of a delivery whose answer was lost.
                let again = try Curl.postMessage(mock.url(), body: Messages.sign(message).flattenedJSON, idempotencyKey: Messages.id(message))
                #expect(again.status == 409)
                #expect(again.body == first.body, "a 409 replays the first receipt byte for byte")
                _ = try JWSVerifier().verify(again.body, trustStore: Messages.receiptAnchors())

                // The same key for different content: not a retry.
                guard case .object(var changed) = message else { Issue.record("not an object"); return }
                changed["subject"] = "changed after signing the first"
                let reused = try Curl.postMessage(mock.url(), body: Messages.sign(.object(changed)).flattenedJSON,
                                                  idempotencyKey: Messages.id(message))
                #expect(reused.status == 422)
                #expect(reused.json?["reason"] == "digestMismatch")

                let received = try Curl.control("GET", "\(mock.controlURL)/received?agency=EU-EUROPOL").json
                let entries = try #require(received?.arrayValue)
                #expect(entries.count == 1)
                #expect(entries.first?["messageId"] == .string(Messages.id(message)))
                #expect(entries.first?["sender"] == message["sender"])
                #expect(entries.first?["priority"] == message["priority"])
                #expect(entries.first?["count"] == 2)
                #expect(entries.first?["digest"] == .string(SHA256.hex(try message.canonicalBytes())))
                #expect(entries.first?["firstAt"]?.stringValue != nil && entries.first?["lastAt"]?.stringValue != nil)

                let stats = try #require(try Curl.control("GET", "\(mock.controlURL)/stats").json)
                #expect(stats["EU-EUROPOL"]?["received"] == 1)
                #expect(stats["EU-EUROPOL"]?["duplicates"] == 1)
                #expect(stats["EU-EUROPOL"]?["rejected"]?["digestMismatch"] == 1)
                // Nothing went to Frontex.
                #expect(try Curl.control("GET", "\(mock.controlURL)/received?agency=EU-FRONTEX").json == .array([]))
            }
        }

        @Test func compactSerialisationIsAcceptedToo() async throws {
            try await MockProcess.with { mock in
                let message = try Messages.make("grant-application--oa-2-3")
                let jws = try Messages.sign(message)
                let result = try Curl.postMessage(mock.url(), body: Array(jws.compact.utf8), idempotencyKey: Messages.id(message))
                #expect(result.status == 201)
                _ = try JWSVerifier().verify(result.body, trustStore: Messages.receiptAnchors())
            }
        }

        @Test func keepAliveConnectionCarriesManyRequests() async throws {
            // One curl process, several URLs: curl reuses the connection ("Re-using existing connection").
            try await MockProcess.with { mock in
                let directory = try TestPaths.temporaryDirectory("keepalive")
                defer { try? FileManager.default.removeItem(at: directory) }
                var arguments = ["-sS", "-v"]
                for i in 0..<3 {
                    let message = try Messages.make()
                    let file = directory.appendingPathComponent("m\(i)")
                    try Data(try Messages.sign(message).flattenedJSON).write(to: file)
                    if i > 0 { arguments.append("--next") }
                    arguments += ["--max-time", "20", "--cacert", try DevPKI.path("trust/agencies/europol-tls.pem"),
                                  "--cert", try DevPKI.path("gateway/tls-client-chain.pem"),
                                  "--key", try DevPKI.path("gateway/tls-client.key"), "-w", "%{http_code}\n", "-o", "/dev/null",
                                  "-H", "Content-Type: application/jose+json", "-H", "Idempotency-Key: \(Messages.id(message))",
                                  "--data-binary", "@\(file.path)", mock.url()]
                }
                let result = try Subprocess.run("/usr/bin/curl", arguments)
                #expect(result.stdout.split(separator: "\n") == ["201", "201", "201"], "\(result.stderr)")
                #expect(result.stderr.contains("Re-using existing") || result.stderr.contains("Reusing existing"),
                        "HTTP/1.1 keep-alive expected")
            }
        }
    }
}
