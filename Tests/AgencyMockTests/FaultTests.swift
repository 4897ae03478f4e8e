// Faults on demand, switched through the control API while the mock runs: status with
// Retry-After (at a rate), stall, connection reset, bad receipt, down; cleared by DELETE.
import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayTestSupport
import Testing

extension AgencyMockTests {
    @Suite struct FaultInjection {
        /// Posts a fresh valid message to `agency`.
        static func deliver(_ mock: MockProcess, _ agency: String = "EU-EUROPOL", maxTime: Double = 15,
                            message: JSON? = nil) throws -> CurlResult {
            let message = try message ?? Messages.make(recipients: [agency])
            return try Curl.postMessage(mock.url(agency), agency: agency, body: Messages.sign(message).flattenedJSON,
                                        idempotencyKey: Messages.id(message), maxTime: maxTime)
        }

        static func setFaults(_ mock: MockProcess, _ faults: JSON) throws {
            let result = try Curl.control("POST", "\(mock.controlURL)/faults", json: faults)
            #expect(result.status == 200, "\(String(decoding: result.body, as: UTF8.self))")
        }

        static func received(_ mock: MockProcess, _ agency: String = "EU-EUROPOL") throws -> [JSON] {
            try Curl.control("GET", "\(mock.controlURL)/received?agency=\(agency)").json?.arrayValue ?? []
        }

        static func faultCount(_ mock: MockProcess, _ kind: String, _ agency: String = "EU-EUROPOL") throws -> Int {
            try Curl.control("GET", "\(mock.controlURL)/stats").json?[agency]?["faults"]?[kind]?.intValue ?? 0
        }

        @Test func statusFaultWithRetryAfterThenCleared() async throws {
            try await MockProcess.with { mock in
                try Self.setFaults(mock, ["agency": "EU-EUROPOL", "failRate": 1, "status": 503, "retryAfter": "2"])
                let faulted = try Self.deliver(mock)
                #expect(faulted.status == 503)
                #expect(faulted.headers["retry-after"] == "2")
                #expect(faulted.json?["reason"] == "fault")
                #expect(try Self.received(mock).isEmpty, "a faulted request leaves no trace")
                #expect(try Self.faultCount(mock, "status") == 1)
                // Frontex has no faults of its own and there is no "*": unaffected.
                #expect(try Self.deliver(mock, "EU-FRONTEX").status == 201)

                #expect(try Curl.control("DELETE", "\(mock.controlURL)/faults?agency=EU-EUROPOL").json == .object([:]))
                #expect(try Self.deliver(mock).status == 201)
            }
        }

        @Test func failRateIsAFraction() async throws {
            try await MockProcess.with { mock in
                try Self.setFaults(mock, ["agency": "*", "failRate": 0.5, "status": 429])
                var statuses: [Int: Int] = [:]
                for _ in 0..<40 { statuses[try Self.deliver(mock).status, default: 0] += 1 }
                // P(all 40 land on one side) = 2 * 0.5^40: never by chance.
                #expect(statuses[429, default: 0] > 0 && statuses[201, default: 0] > 0, "\(statuses)")
                #expect(statuses[429, default: 0] + statuses[201, default: 0] == 40, "\(statuses)")
                #expect(try Self.received(mock).count == statuses[201, default: 0])
            }
        }

        @Test func stallOutlastsTheClientTimeout() async throws {
            try await MockProcess.with { mock in
                // A stall long enough that a quick answer (one curl with mutual TLS, on a loaded
                // machine) is never mistaken for a stalled one.
                try Self.setFaults(mock, ["agency": "EU-EUROPOL", "stallSeconds": 5])
                let impatient = try Self.deliver(mock, maxTime: 1)
                #expect(impatient.exitCode == 28, "curl time-out expected: \(impatient.stderr)")
                #expect(impatient.status == 0)
                // A patient client gets its answer, after the stall.
                let patient = try Self.deliver(mock, maxTime: 60)
                #expect(patient.status == 201)
                #expect(patient.seconds >= 4.9, "answered after \(patient.seconds) s")
                #expect(try Self.faultCount(mock, "stall") == 2)

                try Self.setFaults(mock, ["agency": "EU-EUROPOL"])   // an empty set clears
                let quick = try Self.deliver(mock)
                #expect(quick.status == 201)
                #expect(quick.seconds < 4.9)
            }
        }

        @Test func resetClosesTheConnectionWithoutAResponse() async throws {
            try await MockProcess.with { mock in
                try Self.setFaults(mock, ["agency": "*", "resetRate": 1])
                let reset = try Self.deliver(mock)
                #expect(reset.status == 0, "no HTTP response")
                #expect(reset.exitCode == 56 || reset.exitCode == 52 || reset.exitCode == 35, "\(reset.exitCode) \(reset.stderr)")
                #expect(reset.stderr.lowercased().contains("reset"), "\(reset.stderr)")
                #expect(try Self.received(mock).isEmpty)
                #expect(try Self.faultCount(mock, "reset") == 1)

                #expect(try Curl.control("DELETE", "\(mock.controlURL)/faults").status == 200)
                #expect(try Self.deliver(mock).status == 201)
            }
        }

        @Test func badReceiptFailsVerificationButTheMessageIsReceived() async throws {
            try await MockProcess.with { mock in
                try Self.setFaults(mock, ["agency": "EU-EUROPOL", "badReceipt": true])
                let message = try Messages.make()
                let result = try Self.deliver(mock, message: message)
                #expect(result.status == 201)
                let anchors = try Messages.receiptAnchors()
                #expect {
                    _ = try JWSVerifier().verify(result.body, trustStore: anchors)
                } throws: { ($0 as? JWSError)?.reason == .badSignature }
                // Unlike the other faults, the message itself was received.
                #expect(try Self.received(mock).count == 1)
                #expect(try Self.faultCount(mock, "badReceipt") == 1)

                // Cleared: the retry gets 409 and the good receipt kept for it.
                #expect(try Curl.control("DELETE", "\(mock.controlURL)/faults").status == 200)
                let retry = try Self.deliver(mock, message: message)
                #expect(retry.status == 409)
                let verified = try JWSVerifier().verify(retry.body, trustStore: anchors)
                #expect(try verified.payloadJSON()["receiptFor"] == .string(Messages.id(message)))
            }
        }

        @Test func downRefusesEveryConnectionUntilCleared() async throws {
            try await MockProcess.with { mock in
                try Self.setFaults(mock, ["agency": "EU-EUROPOL", "down": true])
                for _ in 0..<3 {
                    let refused = try Self.deliver(mock)
                    #expect(refused.status == 0)
                    #expect(refused.exitCode != 0, "\(refused.stderr)")
                }
                #expect(try Self.faultCount(mock, "down") == 3)
                #expect(try Self.deliver(mock, "EU-FRONTEX").status == 201, "only Europol is down")
                #expect(try Self.received(mock).isEmpty)

                #expect(try Curl.control("DELETE", "\(mock.controlURL)/faults?agency=EU-EUROPOL").status == 200)
                #expect(try Self.deliver(mock).status == 201)
            }
        }

        @Test func downAlsoResetsConnectionsOpenedBefore() async throws {
            // One curl run: a delivery on a keep-alive connection, the control call setting
            // `down`, then a delivery that reuses the open connection and must be reset.
            try await MockProcess.with { mock in
                let directory = try TestPaths.temporaryDirectory("mock-down")
                defer { try? FileManager.default.removeItem(at: directory) }
                var arguments = ["-sS", "-v"]
                func delivery(_ i: Int) throws -> [String] {
                    let message = try Messages.make()
                    let file = directory.appendingPathComponent("m\(i)")
                    try Data(try Messages.sign(message).flattenedJSON).write(to: file)
                    return ["--max-time", "10", "--cacert", try DevPKI.path("trust/agencies/europol-tls.pem"),
                            "--cert", try DevPKI.path("gateway/tls-client-chain.pem"), "--key", try DevPKI.path("gateway/tls-client.key"),
                            "-H", "Content-Type: application/jose+json", "-H", "Idempotency-Key: \(Messages.id(message))",
                            "--data-binary", "@\(file.path)", "-o", "/dev/null", "-w", "%{http_code}\n", mock.url()]
                }
                arguments += try delivery(0)
                arguments += ["--next", "--max-time", "10", "-X", "POST", "-d", "{\"agency\":\"EU-EUROPOL\",\"down\":true}",
                              "-o", "/dev/null", "-w", "%{http_code}\n", "\(mock.controlURL)/faults"]
                arguments += ["--next"] + (try delivery(1))
                let result = try Subprocess.run("/usr/bin/curl", arguments)
                #expect(result.stdout.split(separator: "\n") == ["201", "200", "000"], "\(result.stdout) \(result.stderr.suffix(800))")
                #expect(result.stderr.contains("Re-using existing") || result.stderr.contains("Reusing existing"),
                        "the third transfer must reuse the first one's connection")
                // curl retries once on a fresh connection when a reused one dies before any
                // response ("Connection died, retrying"); the gate refuses that one too.
                let downs = try Self.faultCount(mock, "down")
                #expect(downs == 1 || downs == 2, "\(downs)")
                #expect(try Self.faultCount(mock, "reset") == 0, "counted as down, not as the reset fault")
                #expect(try Self.received(mock).count == 1)
            }
        }

        @Test func agencyFaultsOverrideTheWildcard() async throws {
            try await MockProcess.with { mock in
                try Self.setFaults(mock, ["agency": "*", "failRate": 1, "status": 500])
                try Self.setFaults(mock, ["agency": "EU-FRONTEX", "failRate": 1, "status": 502])
                #expect(try Self.deliver(mock).status == 500)
                #expect(try Self.deliver(mock, "EU-FRONTEX").status == 502)
                let faults = try #require(try Curl.control("GET", "\(mock.controlURL)/faults").json)
                #expect(faults["*"]?["status"] == 500)
                #expect(faults["EU-FRONTEX"]?["status"] == 502)

                // POST /reset clears faults, received and counters.
                #expect(try Curl.control("POST", "\(mock.controlURL)/reset").status == 200)
                #expect(try Curl.control("GET", "\(mock.controlURL)/faults").json == .object([:]))
                #expect(try Self.faultCount(mock, "status") == 0)
                #expect(try Self.deliver(mock).status == 201)
            }
        }
    }
}
