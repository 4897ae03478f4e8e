import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore
import GatewayTestSupport
import GatewayTransport
import Testing

/// gatewayd and agency-mock as real processes over real mutual TLS on loopback.
@Suite("end to end: gatewayd → agency-mock over mutual TLS", .serialized)
struct EndToEndTests {
    static let allAgencies = GatewayFixture.agencies.map(\.id)

    static func fixture(_ mock: MockProcess, extra: String = "", caOverride: [String: String] = [:], timeout: String = "30s") throws -> GatewayFixture {
        var ports: [String: Int] = [:]
        for (id, name) in GatewayFixture.agencies { ports[name] = mock.ports[id] }
        let fixture = try GatewayFixture(ports: ports, extra: "retry:\n  initialBackoff: 100ms\n  maxBackoff: 1s\n" + extra)
        var text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "    classificationCeiling:", with: "    timeout: \(timeout)\n    connectTimeout: 2s\n    breaker: { failureThreshold: 5, openFor: 500ms }\n    classificationCeiling:")
        for (name, ca) in caOverride {
            text = text.replacingOccurrences(of: "ca: \(try DevPKIFixture.path("trust/agencies/\(name)-tls.pem"))", with: "ca: \(ca)")
        }
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        return fixture
    }

    /// Drops `count` messages from the units to random subsets of the agencies.
    static func dropMixed(_ fixture: GatewayFixture, count: Int, prefix: String) throws -> [(unit: String, id: String, recipients: [String])] {
        let samples = try Samples.valid()
        var dropped: [(String, String, [String])] = []
        for i in 0..<count {
            let unit = GatewayFixture.units[i % 2]
            let (name, example) = samples[i % samples.count]
            var recipients = allAgencies.filter { _ in Bool.random() }
            if recipients.isEmpty { recipients = [allAgencies[i % 5]] }
            let id = "\(prefix)-\(String(format: "%05d", i))"
            let message = Samples.adapt(example, unit: unit, id: id, recipients: recipients)
            try fixture.drop(Samples.bytes(message), unit: unit, name: "\(id)-\(name)")
            dropped.append((unit, id, recipients))
        }
        return dropped
    }

    static func state(_ store: QueueStore, _ states: [DeliveryState]) throws -> Int {
        var f = DeliveryFilter()
        f.states = states
        return try store.countDeliveries(f)
    }

    @Test("mixed messages to all five agencies are each delivered exactly once, receipts verified and stored, reported; over HTTP/2 where offered")
    func deliversEverything() throws {
        // The agencies offer HTTP/2; the endpoints do not say (`http2` unset).
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: Self.allAgencies, http2: true))
        defer { mock.stop() }
        let fixture = try Self.fixture(mock)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let dropped = try Self.dropMixed(fixture, count: 60, prefix: "mixed")
        let expected = dropped.reduce(0) { $0 + $1.recipients.count }
        let store = try QueueStore(path: fixture.queuePath)
        let done = waitUntil(timeout: 60, interval: 0.1) { (try? Self.state(store, [.delivered])) == expected }
        #expect(done, "delivered \((try? Self.state(store, [.delivered])) ?? -1) of \(expected); log: \(daemon.log.suffix(3000))")
        // Exactly once, as the mock counts: one message per recipient, each received once.
        for agency in Self.allAgencies {
            let received = try JSON.parse(mock.control("GET", "/received?agency=\(agency)")).arrayValue ?? []
            let want = dropped.filter { $0.recipients.contains(agency) }
            #expect(received.count == want.count, "\(agency): \(received.count) received, \(want.count) sent")
            #expect(received.allSatisfy { $0["count"] == 1 }, "\(agency) received something twice")
        }
        // The log says which libcurl delivers and which endpoints are offered HTTP/2.
        let offered = HTTPSClient.http2ByDefault ? GatewayFixture.agencies.map(\.name).sorted().joined(separator: ",") : "none"
        #expect(daemon.log.contains("msg=\"delivery over HTTPS\""), "\(daemon.log.prefix(2000))")
        #expect(daemon.log.contains("libcurl=\(HTTPSClient.libcurlVersion)") && daemon.log.contains("http2Offered=\(offered)"), "\(daemon.log.prefix(2000))")
        // Every request on HTTP/2 where this libcurl is trusted with it, else on HTTP/1.1.
        let stats = try JSON.parse(mock.control("GET", "/stats"))
        for agency in Self.allAgencies {
            let protocols = stats[agency]?["protocols"]?.objectValue?.keys.sorted() ?? []
            #expect(protocols == [HTTPSClient.http2ByDefault ? "HTTP/2" : "HTTP/1.1"], "\(agency): \(protocols)")
        }
        // Receipts are kept and verify against each agency's receipt anchors.
        let d = dropped[0]
        let m = try #require(try store.message(d.id, sender: d.unit))
        for delivery in m.deliveries {
            let receipt = try #require(delivery.receipt)
            let name = GatewayFixture.agencies.first { $0.id == delivery.summary.recipient }!.name
            let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/agencies/\(name)-receipts.pem"))
            let verified = try JWSVerifier().verify(receipt.jws, trustStore: trust)
            #expect(try JSON.parse(verified.payload)["digest"]?.stringValue == m.contentDigest)
        }
        // A delivered report per recipient, carrying the receipt.
        #expect(waitUntil(timeout: 20) {
            dropped.allSatisfy { d in
                let files = fixture.files(fixture.reports(d.unit))
                return d.recipients.allSatisfy { r in files.contains { $0.hasPrefix("\(d.id)-") && $0.hasSuffix(".delivered.\(r).json") } }
            }
        })
        #expect(try store.verifyAudit(verifier: nil).isValid)
    }

    @Test("kill -9 with deliveries in flight, then a restart: every message delivered once, the agency's answer to a resend (409 with its receipt) taken as proof")
    func killedWhileSending() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        let fixture = try Self.fixture(mock)
        // A third of the requests are held 2 s before the agency takes them: some are in
        // flight whenever the kill comes; the agency takes them anyway once their wait ends.
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","stallSeconds":2,"stallRate":0.35}"#)
        let first = try DaemonProcess.start(fixture)
        let example = try Samples.valid()[0].1
        let count = 150
        let ids = (0..<count).map { String(format: "killed-%05d", $0) }
        for id in ids {
            try fixture.drop(Samples.bytes(Samples.adapt(example, unit: "PL-KGP", id: id, recipients: ["EU-EUROPOL"])), unit: "PL-KGP", name: "\(id).json")
        }
        let store = try QueueStore(path: fixture.queuePath)
        func takenByAgency() -> [JSON] { ((try? JSON.parse(mock.control("GET", "/received?agency=EU-EUROPOL")))?.arrayValue) ?? [] }
        #expect(waitUntil(timeout: 60) { takenByAgency().count >= 30 }, "\(first.log.suffix(2000))")
        first.kill()
        let sendingAtKill = try Self.state(store, [.sending])
        let deliveredAtKill = try Self.state(store, [.delivered])
        #expect(sendingAtKill > 0, "the kill must come with deliveries in flight")
        // The held requests are taken by the agency meanwhile (their client is gone).
        usleep(3_000_000)
        mock.control("DELETE", "/faults?agency=EU-EUROPOL")
        let takenBeforeRestart = takenByAgency().count
        #expect(takenBeforeRestart > deliveredAtKill, "the agency has messages the gateway has not recorded as delivered (\(takenBeforeRestart) against \(deliveredAtKill))")

        let second = try DaemonProcess.start(fixture)
        defer { second.stop() }
        let settled = waitUntil(timeout: 120, interval: 0.2) { (try? Self.state(store, [.delivered])) == count }
        let totals = try store.stats().totals
        #expect(settled, "\(totals) \(second.log.suffix(2000))")
        // The agency took each message once as new; what it had taken before the restart and
        // was sent again was answered as a duplicate, and that answer proved the delivery.
        let taken = takenByAgency()
        #expect(taken.count == count && Set(taken.compactMap { $0["messageId"]?.stringValue }) == Set(ids))
        let stats = try JSON.parse(mock.control("GET", "/stats"))
        #expect(stats["EU-EUROPOL"]?["received"]?.intValue == count, "\(stats)")
        let duplicates = stats["EU-EUROPOL"]?["duplicates"]?.intValue ?? 0
        #expect(duplicates >= takenBeforeRestart - deliveredAtKill, "each of those was sent again and answered as a duplicate: \(stats)")
        for id in ids {
            let m = try #require(try store.message(id, sender: "PL-KGP"))
            #expect(m.deliveries.first?.summary.state == .delivered && m.deliveries.first?.receipt != nil, "\(id)")
        }
        #expect(try store.verifyAudit(verifier: nil).isValid)
    }

    @Test("messages the agency cannot take before they expire end expired, each with a signed expired report; queue.maxLifetime caps every message's life")
    func expiry() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        let fixture = try Self.fixture(mock)
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "  checkpointInterval: 1s\n", with: "  checkpointInterval: 1s\n  maxLifetime: 4s\n")
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","down":true}"#)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let example = try Samples.valid()[0].1
        let now = Date().millis
        // Its own expiry in 2 s; none (the cap); an hour away (capped at 4 s).
        let cases: [(id: String, expiresAt: Int64?)] = [("expiry-own", now + 2_000), ("expiry-none", nil), ("expiry-hour", now + 3_600_000)]
        for c in cases {
            var m = Samples.adapt(example, unit: "PL-KGP", id: c.id, recipients: ["EU-EUROPOL"])
            if let at = c.expiresAt { m = Samples.set(m, "expiresAt", .string(RFC3339.format(millis: at))) }
            try fixture.drop(Samples.bytes(m), unit: "PL-KGP", name: "\(c.id).json")
        }
        let store = try QueueStore(path: fixture.queuePath)
        let allExpired = waitUntil(timeout: 30) { (try? Self.state(store, [.expired])) == cases.count }
        let totals = try store.stats().totals
        #expect(allExpired, "\(totals) \(daemon.log.suffix(2000))")
        for c in cases {
            let m = try #require(try store.message(c.id, sender: "PL-KGP"))
            let expiresAt = try #require(m.expiresAt)
            #expect(expiresAt <= m.acceptedAt + 4_000, "\(c.id): capped by queue.maxLifetime")
            if let own = c.expiresAt, own < m.acceptedAt + 4_000 { #expect(expiresAt == own, "\(c.id): its own expiry") }
            #expect(m.deliveries.first?.summary.state == .expired)
        }
        // A signed expired report for each, following the report schema; the agency got nothing.
        let reports = fixture.reports("PL-KGP")
        #expect(waitUntil(timeout: 20) { cases.allSatisfy { fixture.files(reports).contains("\($0.id).expired.EU-EUROPOL.json") } }, "\(fixture.files(reports))")
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        let schema = try SchemaServices.validator().validator.schema(named: "report")
        for c in cases {
            let bytes = [UInt8](try Data(contentsOf: reports.appendingPathComponent("\(c.id).expired.EU-EUROPOL.json")))
            let report = try JSON.parse(try JWSVerifier().verify(bytes, trustStore: trust).payload)
            #expect(report["kind"] == "expired" && report["messageId"]?.stringValue == c.id && report["recipient"] == "EU-EUROPOL", "\(report)")
            #expect(schema.validate(report).isValid, "\(report)")
        }
        #expect(((try? JSON.parse(mock.control("GET", "/received?agency=EU-EUROPOL")))?.arrayValue ?? [1]).isEmpty)
    }

    @Test("a unit that drops every message as the same file name keeps every accepted and delivered report")
    func reusedFileName() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        let fixture = try Self.fixture(mock)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let example = try Samples.valid()[0].1
        var ids: [String] = []
        for i in 0..<3 {
            let id = "same-name-\(i)"
            try fixture.drop(Samples.bytes(Samples.adapt(example, unit: "PL-KGP", id: id, recipients: ["EU-EUROPOL"])), unit: "PL-KGP", name: "request.json")
            ids.append(id)
            // The unit drops the next one once the last has left the outbox.
            #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log.suffix(2000))")
        }
        let reports = fixture.reports("PL-KGP")
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        func subjects() -> [String: [String]] {
            var byKind: [String: [String]] = [:]
            for file in fixture.files(reports) {
                guard let bytes = try? [UInt8](Data(contentsOf: reports.appendingPathComponent(file))),
                      let verified = try? JWSVerifier().verify(bytes, trustStore: trust),
                      let report = try? JSON.parse(verified.payload) else { continue }
                byKind[report["kind"]?.stringValue ?? "?", default: []].append(report["messageId"]?.stringValue ?? "?")
            }
            return byKind.mapValues { $0.sorted() }
        }
        let complete = waitUntil(timeout: 30, interval: 0.1) { subjects() == ["accepted": ids, "delivered": ids] }
        #expect(complete, "reports: \(fixture.files(reports)) → \(subjects())\n\(daemon.log.suffix(2000))")
        #expect(fixture.files(reports).count == 6, "\(fixture.files(reports))")
        #expect(fixture.files(reports).contains("request.accepted.json") && fixture.files(reports).contains("request.delivered.EU-EUROPOL.json"))
        let received = try JSON.parse(mock.control("GET", "/received?agency=EU-EUROPOL")).arrayValue ?? []
        #expect(received.count == 3 && received.allSatisfy { $0["count"] == 1 })
        // Every report follows schemas/report.schema.json.
        let schema = try SchemaServices.validator().validator.schema(named: "report")
        for file in fixture.files(reports) {
            let verified = try JWSVerifier().verify([UInt8](Data(contentsOf: reports.appendingPathComponent(file))), trustStore: trust)
            let result = schema.validate(try JSON.parse(verified.payload))
            #expect(result.isValid, "\(file): \(result)")
        }
    }

    @Test("under faults every message ends delivered or correctly failed, none lost; the breaker opens and recovers")
    func faults() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: Self.allAgencies))
        defer { mock.stop() }
        // Europol's server certificate is checked against the WRONG CA until the config is fixed.
        let fixture = try Self.fixture(mock, caOverride: ["europol": try DevPKIFixture.path("ca/wrong-root-ca.pem")], timeout: "1s")
        mock.control("POST", "/faults", json: #"{"agency":"EU-FRONTEX","failRate":0.3,"status":503}"#)
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROJUST","resetRate":0.3}"#)
        mock.control("POST", "/faults", json: #"{"agency":"EU-CEPOL","failRate":0.5,"status":429,"retryAfter":"1","stallSeconds":3,"stallRate":0.1}"#)
        mock.control("POST", "/faults", json: #"{"agency":"EU-OLAF","badReceipt":true}"#)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let dropped = try Self.dropMixed(fixture, count: 40, prefix: "fault")
        let expected = dropped.reduce(0) { $0 + $1.recipients.count }
        let store = try QueueStore(path: fixture.queuePath)
        // Europol: TLS trust failures open the breaker; nothing is delivered to an unverified server.
        func logged(_ words: String...) -> Bool { daemon.log.split(separator: "\n").contains { line in words.allSatisfy { line.contains($0) } } }
        #expect(waitUntil(timeout: 30) { logged("circuit breaker open", "endpoint=europol") }, "\(daemon.log.suffix(2000))")
        var europol = DeliveryFilter()
        europol.endpoints = ["europol"]
        europol.states = [.delivered]
        #expect(try store.countDeliveries(europol) == 0)
        // Fix the CA and reload: Europol recovers.
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: try DevPKIFixture.path("ca/wrong-root-ca.pem"), with: try DevPKIFixture.path("trust/agencies/europol-tls.pem"))
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        // Frontex goes down for a while, then comes back.
        mock.control("POST", "/faults", json: #"{"agency":"EU-FRONTEX","down":true}"#)
        usleep(1_500_000)
        mock.control("DELETE", "/faults?agency=EU-FRONTEX")
        let settled = waitUntil(timeout: 120, interval: 0.2) {
            (try? Self.state(store, [.delivered, .failed])) == expected
        }
        let counts = try store.stats().totals
        #expect(settled, "not settled: \(counts); log: \(daemon.log.suffix(3000))")
        // Nothing lost: every delivery exists and is final.
        #expect(try store.countDeliveries() == expected)
        // Only OLAF's (bad receipts) failed, and for that reason.
        var failed = DeliveryFilter()
        failed.states = [.failed]
        let failures = try store.list(failed, limit: 1_000)
        #expect(failures.allSatisfy { $0.recipient == "EU-OLAF" && ($0.reason ?? "").contains("receipt") }, "\(failures.map { "\($0.recipient): \($0.reason ?? "")" })")
        #expect(failures.count == dropped.filter { $0.recipients.contains("EU-OLAF") }.count)
        // Europol's breaker, opened by the TLS failures, closed again once the CA was fixed.
        #expect(logged("circuit breaker closed", "endpoint=europol"), "\(daemon.log.suffix(3000))")
        // Retries were recorded with their statuses, and a 429's Retry-After (1 s) was waited.
        var cepolAttempts: [[AttemptRecord]] = []
        for message in dropped where message.recipients.contains("EU-CEPOL") {
            let m = try #require(try store.message(message.id, sender: message.unit))
            let delivery = try #require(m.deliveries.first { $0.summary.recipient == "EU-CEPOL" })
            #expect(delivery.summary.state == .delivered)
            cepolAttempts.append(delivery.attempts)
        }
        let afterRetryAfter = cepolAttempts.flatMap { attempts in
            zip(attempts, attempts.dropFirst()).filter { $0.0.httpStatus == 429 }.map { $0.1.startedAt - ($0.0.startedAt + $0.0.durationMs) }
        }
        #expect(!afterRetryAfter.isEmpty, "with half of CEPOL's answers 429, some delivery was retried after one")
        #expect(afterRetryAfter.allSatisfy { $0 >= 900 }, "retried before the Retry-After: \(afterRetryAfter.sorted().prefix(5)) ms")
        // Every report written (accepted, delivered, failed) follows schemas/report.schema.json.
        let schema = try SchemaServices.validator().validator.schema(named: "report")
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        var kinds: Set<String> = []
        for unit in GatewayFixture.units {
            let reports = fixture.reports(unit)
            for file in fixture.files(reports) {
                let payload = try JSON.parse(try JWSVerifier().verify([UInt8](Data(contentsOf: reports.appendingPathComponent(file))), trustStore: trust).payload)
                kinds.insert(payload["kind"]?.stringValue ?? "?")
                let result = schema.validate(payload)
                #expect(result.isValid, "\(file): \(result)")
            }
        }
        #expect(kinds.isSuperset(of: ["accepted", "delivered", "failed"]), "\(kinds)")
        #expect(try store.verifyAudit(verifier: nil).isValid)
    }
}
