// A reload (SIGHUP) applies new routes and ceilings to the deliveries already waiting, and
// lets transfers to an endpoint it removes finish and be recorded.
import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("gatewayd reload and the waiting deliveries", .serialized)
struct ReloadTests {
    static func message(_ id: String, to recipient: String, classification: String? = nil) throws -> [UInt8] {
        let sample = try Samples.valid().first { $0.1["type"] == "alert" }!.1
        var m = Samples.adapt(sample, unit: "PL-KGP", id: id, recipients: [recipient])
        if let classification { m = Samples.set(m, "classification", .string(classification)) }
        return Samples.bytes(m)
    }

    static func edit(_ fixture: GatewayFixture, _ change: (String) -> String) throws {
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        let changed = change(text)
        #expect(changed != text, "the edit changed the configuration")
        try changed.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
    }

    @Test("renaming an endpoint: its transfers in flight are recorded, its waiting deliveries move to the new name and are delivered once")
    func endpointRenamed() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        let fixture = try EndToEndTests.fixture(mock)
        try Self.edit(fixture) { $0.replacingOccurrences(of: "  europol:\n", with: "  europol:\n    concurrency: 1\n") }
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let store = try QueueStore(path: fixture.queuePath)
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","stallSeconds":4,"stallRate":1}"#)
        for i in 0..<3 { try fixture.drop(try Self.message("renamed-\(i)", to: "EU-EUROPOL"), unit: "PL-KGP", name: "r\(i).json") }
        // One in flight (concurrency 1, the immediate slot unused), two waiting.
        #expect(waitUntil(timeout: 20) { (try? EndToEndTests.state(store, [.sending])) == 1 && (try? EndToEndTests.state(store, [.queued])) == 2 },
                "\(daemon.log)")
        try Self.edit(fixture) {
            $0.replacingOccurrences(of: "  europol:\n", with: "  europol2:\n").replacingOccurrences(of: "EU-EUROPOL: europol\n", with: "EU-EUROPOL: europol2\n")
        }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("waiting deliveries rerouted") }, "\(daemon.log)")
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","stallRate":0}"#)
        #expect(waitUntil(timeout: 30) { (try? EndToEndTests.state(store, [.delivered])) == 3 }, "\(daemon.log)")
        let received = try JSON.parse(mock.control("GET", "/received?agency=EU-EUROPOL")).arrayValue ?? []
        #expect(received.count == 3 && received.allSatisfy { $0["count"] == 1 }, "each received once: \(received)")
        let rerouted = try store.auditTail(limit: 100).filter { $0.event == "rerouted" }
        #expect(rerouted.count == 2 && rerouted.allSatisfy { $0.details.contains("europol2") }, "\(rerouted)")
    }

    @Test("a reload closes the connections opened under the old trust: a server CA removed from the endpoint's file is not trusted on a kept-alive connection")
    func reloadClosesConnections() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        // The endpoint's anchors in a file of the fixture's own, changed in place later.
        let anchors = try TestPaths.temporaryDirectory("reload-anchors").appendingPathComponent("europol-tls.pem")
        try FileManager.default.copyItem(atPath: try DevPKIFixture.path("trust/agencies/europol-tls.pem"), toPath: anchors.path)
        let fixture = try EndToEndTests.fixture(mock, caOverride: ["europol": anchors.path])
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let store = try QueueStore(path: fixture.queuePath)
        try fixture.drop(try Self.message("before-reload", to: "EU-EUROPOL"), unit: "PL-KGP", name: "before.json")
        #expect(waitUntil(timeout: 20) { (try? EndToEndTests.state(store, [.delivered])) == 1 }, "\(daemon.log)")
        // The operator replaces the anchors (the agency's CA is no longer trusted) and reloads.
        try FileManager.default.removeItem(at: anchors)
        try FileManager.default.copyItem(atPath: try DevPKIFixture.path("ca/wrong-root-ca.pem"), toPath: anchors.path)
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("configuration reloaded") }, "\(daemon.log)")
        try fixture.drop(try Self.message("after-reload", to: "EU-EUROPOL"), unit: "PL-KGP", name: "after.json")
        #expect(waitUntil(timeout: 20) {
            (try? store.message("after-reload", sender: "PL-KGP"))??.deliveries.first?.attempts.isEmpty == false
        }, "\(daemon.log)")
        let after = try #require(try store.message("after-reload", sender: "PL-KGP")?.deliveries.first)
        #expect(after.summary.state != .delivered, "delivered over a connection the old anchors verified")
        #expect(after.attempts.first?.outcome != "delivered" && after.summary.reason?.contains("certificate") == true,
                "\(String(describing: after.summary.reason)) \(after.attempts)")
        let received = try JSON.parse(mock.control("GET", "/received?agency=EU-EUROPOL")).arrayValue ?? []
        #expect(received.count == 1, "the agency saw only the message sent before the reload: \(received)")
    }

    @Test("a message already queued, dropped again after a reload that would refuse it, is the duplicate it is: removed, not refused, its report unchanged")
    func queuedDuplicateAfterReload() throws {
        let fixture = try GatewayFixture(extra: "retry:\n  initialBackoff: 1h\n  maxBackoff: 2h\n")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let bytes = try Self.message("queued-once", to: "EU-FRONTEX")
        try fixture.drop(bytes, unit: "PL-KGP", name: "once.json")
        let report = fixture.reports("PL-KGP").appendingPathComponent("once.accepted.json")
        #expect(waitUntil(timeout: 20) { FileManager.default.fileExists(atPath: report.path) && fixture.files(fixture.outbox("PL-KGP")).isEmpty })
        let original = try Data(contentsOf: report)
        func payload(_ url: URL) throws -> JSON {
            try JSON.parse(try #require(try JSON.parse(Data(contentsOf: url))["payload"]?.stringValue.flatMap { Base64URL.decode($0) }))
        }
        // Dropped again under another name while the configuration accepts it: a report of its
        // own, as first accepted.
        usleep(1_100_000)
        try fixture.drop(bytes, unit: "PL-KGP", name: "again.json")
        let againReport = fixture.reports("PL-KGP").appendingPathComponent("again.accepted.json")
        #expect(waitUntil(timeout: 20) { FileManager.default.fileExists(atPath: againReport.path) && fixture.files(fixture.outbox("PL-KGP")).isEmpty })
        #expect(try payload(againReport)["at"] == payload(report)["at"], "the time it was first accepted")
        // EU-FRONTEX loses its route: a new message to it would be refused.
        try Self.edit(fixture) { $0.replacingOccurrences(of: "  EU-FRONTEX: frontex\n", with: "") }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("configuration reloaded") }, "\(daemon.log)")
        try fixture.drop(bytes, unit: "PL-KGP", name: "once.json")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log)")
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty, "not refused: \(fixture.files(fixture.rejected("PL-KGP")))")
        #expect(try Data(contentsOf: report) == original, "the accepted report is the one first written")
        // Dropped again under another name: its own accepted report, as first accepted (the queue's time and recipients).
        try fixture.drop(bytes, unit: "PL-KGP", name: "twice.json")
        let second = fixture.reports("PL-KGP").appendingPathComponent("twice.accepted.json")
        #expect(waitUntil(timeout: 20) { FileManager.default.fileExists(atPath: second.path) && fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log)")
        let first = try payload(report), again = try payload(second)
        #expect(again["at"] == first["at"] && again["recipients"] == first["recipients"] && again["file"] == "twice.json", "\(again)")
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
        let store = try QueueStore(path: fixture.queuePath)
        #expect(try store.auditTail(limit: 100).contains { $0.event == "duplicate" && $0.messageId == "queued-once" })
        // A new message to EU-FRONTEX is refused, as the configuration says.
        try fixture.drop(try Self.message("after-reload-new", to: "EU-FRONTEX"), unit: "PL-KGP", name: "new.json")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.rejected("PL-KGP")).contains("new.error.json") })
    }

    @Test("lowering an endpoint's ceiling holds the waiting deliveries above it, with the reason, and leaves the others")
    func ceilingLowered() throws {
        // Frontex is unreachable here: its deliveries wait (deferred) until the reload.
        let fixture = try GatewayFixture(extra: "retry:\n  initialBackoff: 500ms\n  maxBackoff: 1s\n")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let store = try QueueStore(path: fixture.queuePath)
        try fixture.drop(try Self.message("ceiling-high", to: "EU-FRONTEX", classification: "CONFIDENTIEL UE/EU CONFIDENTIAL"), unit: "PL-KGP", name: "high.json")
        try fixture.drop(try Self.message("ceiling-low", to: "EU-FRONTEX", classification: "RESTREINT UE/EU RESTRICTED"), unit: "PL-KGP", name: "low.json")
        #expect(waitUntil(timeout: 20) { (try? store.stats().messages) == 2 }, "\(daemon.log)")
        try Self.edit(fixture) { text in
            let start = text.range(of: "  frontex:\n")!
            let ceiling = text.range(of: "classificationCeiling: SECRET UE/EU SECRET", range: start.upperBound..<text.endIndex)!
            return text.replacingCharacters(in: ceiling, with: "classificationCeiling: RESTREINT UE/EU RESTRICTED")
        }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 30) { (try? EndToEndTests.state(store, [.held])) == 1 }, "\(daemon.log)")
        let high = try #require(try store.message("ceiling-high", sender: "PL-KGP"))
        #expect(high.deliveries[0].summary.state == .held)
        #expect(waitUntil(timeout: 10) { daemon.log.contains("waiting deliveries held") || daemon.log.contains("delivery held") }, "\(daemon.log)")
        let low = try #require(try store.message("ceiling-low", sender: "PL-KGP"))
        #expect(low.deliveries[0].summary.state != .held, "the one within the ceiling goes on")
        let held = fixture.ctl(["queue", "list", "--state", "held"])
        #expect(held.status == 0 && held.stdout.contains("ceiling-high"), "\(held.stdout)")
        // The ceiling raised again: what gatewayd held goes back to the queue by itself; what
        // an operator held stays held.
        // (Between attempts: a delivery being sent cannot be held, so try until one lands.)
        #expect(waitUntil(timeout: 20, interval: 0.2) { fixture.ctl(["hold", "ceiling-low", "--reason", "operator's own hold"]).status == 0 })
        try Self.edit(fixture) { text in
            let start = text.range(of: "  frontex:\n")!
            let ceiling = text.range(of: "classificationCeiling: RESTREINT UE/EU RESTRICTED", range: start.upperBound..<text.endIndex)!
            return text.replacingCharacters(in: ceiling, with: "classificationCeiling: SECRET UE/EU SECRET")
        }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 30) { (try? store.message("ceiling-high", sender: "PL-KGP"))??.deliveries[0].summary.state != .held }, "\(daemon.log)")
        #expect(waitUntil(timeout: 10) { daemon.log.contains("held deliveries released") }, "\(daemon.log)")
        #expect(try store.message("ceiling-low", sender: "PL-KGP")?.deliveries[0].summary.state == .held, "the operator's hold stays")
        #expect(try store.auditTail(limit: 50).contains { $0.event == "released" && $0.actor == "gatewayd" && $0.messageId == "ceiling-high" })
    }
}

extension ReloadTests {
    @Test("an outbox removed and made again while gatewayd runs is reported in the log (its files wait for a restart), and picked up after it")
    func outboxReplaced() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        var daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let outbox = fixture.outbox("PL-CBA")
        try FileManager.default.removeItem(at: outbox)
        try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("spool folder replaced while running") && daemon.log.contains("\(outbox.path) was replaced") },
                "\(daemon.log)")
        try fixture.drop(try Self.message("replaced-outbox", to: "EU-EUROPOL").replacingUnit("PL-CBA"), unit: "PL-CBA", name: "x.json")
        usleep(2_500_000)   // two rescans
        #expect(fixture.files(outbox) == ["x.json"], "not seen in the new folder until a restart")
        #expect(daemon.stop() == 0)
        daemon = try DaemonProcess.start(fixture)
        #expect(waitUntil(timeout: 20) { fixture.files(outbox).isEmpty }, "\(daemon.log)")
        #expect(try QueueStore(path: fixture.queuePath).stats().messages == 1)
    }

    @Test("a unit whose reports/ was replaced by a link: gatewayd starts, says which unit is left out and why, and the other units run")
    func unusableUnitLeftOut() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        let reports = fixture.reports("PL-CBA")
        try FileManager.default.createDirectory(at: reports.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: reports, withDestinationURL: fixture.root)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        #expect(waitUntil(timeout: 20) { daemon.log.contains("gatewayd started") }, "\(daemon.log)")
        #expect(daemon.log.contains("a unit's spool folders cannot be used") && daemon.log.contains("unit=PL-CBA"), "\(daemon.log)")
        try fixture.drop(try Self.message("other-unit", to: "EU-EUROPOL"), unit: "PL-KGP", name: "ok.json")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log)")
        try fixture.drop(try Self.message("left-out", to: "EU-EUROPOL").replacingUnit("PL-CBA"), unit: "PL-CBA", name: "x.json")
        usleep(2_500_000)   // two rescans
        #expect(fixture.files(fixture.outbox("PL-CBA")) == ["x.json"], "not picked up")
        #expect(try QueueStore(path: fixture.queuePath).stats().messages == 1)
        // A unit folder gatewayd makes is not the unit's group's to change (its subfolders are).
        let fresh = fixture.root.appendingPathComponent("fresh-spool")
        let spool = try Spool(root: fresh.path, units: ["PL-NEW"])
        #expect(spool.unusableUnits.isEmpty && spool.units["PL-NEW"] != nil)
        let mask = umask(0)
        umask(mask)
        for (path, mode) in [("PL-NEW", 0o750), ("PL-NEW/outbox", 0o770), ("PL-NEW/reports", 0o770)] as [(String, mode_t)] {
            var st = stat()
            #expect(lstat(fresh.appendingPathComponent(path).path, &st) == 0)
            #expect(st.st_mode & 0o777 == mode & ~mask, "\(path): \(String(st.st_mode & 0o777, radix: 8))")
        }
    }
}

private extension Array where Element == UInt8 {
    /// The same message, sent by `unit`.
    func replacingUnit(_ unit: String) throws -> [UInt8] {
        Samples.bytes(Samples.set(try JSON.parse(self), "sender", .string(unit)))
    }

}

extension ReloadTests {
    @Test("key files rewritten in place: a reload names them among the settings it does not apply, and the running keys keep signing; files rewritten with the same content are not named")
    func keyFilesChangedOnDisk() throws {
        let fixture = try GatewayFixture()
        let keys = fixture.root.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        // Copies the configuration names, so that the test can rewrite them.
        for (from, to) in [("gateway/signing.key", "signing.key"), ("gateway/signing-chain.pem", "signing-chain.pem"),
                           ("gateway/tls-client.key", "tls-client.key"), ("gateway/tls-client-chain.pem", "tls-client-chain.pem")] {
            try Data(contentsOf: URL(fileURLWithPath: DevPKIFixture.path(from))).write(to: keys.appendingPathComponent(to))
            chmod(keys.appendingPathComponent(to).path, 0o600)
        }
        var moved: [(String, String)] = []
        for name in ["signing.key", "signing-chain.pem", "tls-client.key", "tls-client-chain.pem"] {
            moved.append((try DevPKIFixture.path("gateway/\(name)"), keys.appendingPathComponent(name).path))
        }
        try Self.edit(fixture) { text in moved.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) } }
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let reloads = { daemon.log.components(separatedBy: "msg=\"configuration reloaded\"").count - 1 }

        // The same bytes written again (a configuration tool rewriting every file): nothing to say.
        for name in ["signing-chain.pem", "tls-client-chain.pem"] {
            let url = keys.appendingPathComponent(name)
            try Data(contentsOf: url).write(to: url)
        }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { reloads() == 1 }, "\(daemon.log)")
        #expect(!daemon.log.contains("files changed on disk"), "\(daemon.log)")

        // Another valid signing identity under the same anchors, written over the files in use.
        try Data(contentsOf: URL(fileURLWithPath: DevPKIFixture.path("agencies/europol/receipt.key"))).write(to: keys.appendingPathComponent("signing.key"))
        try Data(contentsOf: URL(fileURLWithPath: DevPKIFixture.path("agencies/europol/receipt-chain.pem"))).write(to: keys.appendingPathComponent("signing-chain.pem"))
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { reloads() == 2 }, "\(daemon.log)")
        let warning = daemon.log.split(separator: "\n").first { $0.contains("changed settings that a reload does not apply") }
        #expect(warning?.contains("signing (its files changed on disk)") == true, "\(daemon.log)")
        #expect(warning?.contains("tls") == false, "\(String(describing: warning))")

        // Until a restart, messages are signed with the key the daemon started with.
        try fixture.drop(try Self.message("after-key-change", to: "EU-EUROPOL"), unit: "PL-KGP", name: "k.json")
        let store = try QueueStore(path: fixture.queuePath)
        #expect(waitUntil(timeout: 20) { (try? store.message("after-key-change", sender: "PL-KGP")) != nil }, "\(daemon.log)")
        let m = try #require(try store.message("after-key-change", sender: "PL-KGP"))
        let verified = try JWSVerifier().verify(m.jws, trustStore: try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem")))
        #expect(verified.signerSubject?.contains("PL-GW signing") == true, "\(verified.signerSubject ?? "-")")
    }
}

extension ReloadTests {
    @Test("the signing certificate revoked while gatewayd runs (by its CRL file replaced, or a reload): nothing more is signed with it (pickup pauses, reports and checkpoints wait, delivery goes on); only a check that verifies it reopens; files wait in the outbox and go then")
    func signingRevokedWhileRunning() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        let fixture = try EndToEndTests.fixture(mock)
        let pki = try DevPKIFixture.directory().path
        let crl = fixture.root.appendingPathComponent("signing-crl.pem")
        // The root's CRL alone: it cannot decide the issuing CA's certificates.
        try Data(contentsOf: URL(fileURLWithPath: "\(pki)/ca/root-ca.crl.pem")).write(to: crl)
        try Self.edit(fixture) {
            $0.replacingOccurrences(of: "\(pki)/gateway/signing.key", with: "\(pki)/bad/revoked.key")
                .replacingOccurrences(of: "\(pki)/gateway/signing-chain.pem", with: "\(pki)/bad/revoked-chain.pem")
        }
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let store = try QueueStore(path: fixture.queuePath)
        func queued(_ id: String) -> Bool { (try? store.message(id, sender: "PL-KGP")) != nil }
        let reloads = { daemon.log.components(separatedBy: "msg=\"configuration reloaded\"").count - 1 }
        let checkpoints = { daemon.log.components(separatedBy: "msg=\"audit checkpoint signed\"").count - 1 }
        let reports = { fixture.files(fixture.reports("PL-KGP")) }
        let stats = { fixture.ctl(["queue", "stats"]).stdout }
        try fixture.drop(try Self.message("before-crl", to: "EU-EUROPOL"), unit: "PL-KGP", name: "a.json")
        #expect(waitUntil(timeout: 30) { reports().contains("a.delivered.EU-EUROPOL.json") }, "\(daemon.log)")

        // A reload names signing.crl (applied, not left for a restart); this one cannot decide,
        // and the verdict of the start stands.
        let anchorsLine = "  trustAnchors: \(pki)/trust/gateway-signing.pem"
        try Self.edit(fixture) { $0.replacingOccurrences(of: anchorsLine, with: "\(anchorsLine)\n  crl: \(crl.path)") }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { reloads() == 1 }, "\(daemon.log)")
        #expect(!daemon.log.contains("a reload does not apply"), "\(daemon.log)")
        #expect(daemon.log.contains("its last verdict stands"), "\(daemon.log)")
        // A restart with that CRL would not start (revocation status unknown): said now.
        #expect(daemon.log.contains("a restart with the files on disk would refuse to start"), "\(daemon.log)")
        // Signed while it may sign; its delivery waits for the agency (down).
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","down":true}"#)
        try fixture.drop(try Self.message("signed-before", to: "EU-EUROPOL"), unit: "PL-KGP", name: "b.json")
        #expect(waitUntil(timeout: 20) { queued("signed-before") }, "\(daemon.log)")

        // The CRL file replaced by one that lists the certificate (a cron job's fetch): read
        // again without a reload; pickup pauses.
        let fetched = fixture.root.appendingPathComponent(".signing-crl.tmp")
        try Data(contentsOf: URL(fileURLWithPath: "\(pki)/ca/crls.pem")).write(to: fetched)
        #expect(rename(fetched.path, crl.path) == 0)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("the signing certificate may not sign") }, "\(daemon.log)")
        let line = daemon.log.split(separator: "\n").first { $0.contains("the signing certificate may not sign") }
        #expect(line?.contains("revoked by signing.crl") == true, "\(String(describing: line))")
        #expect(waitUntil(timeout: 20) { stats().contains("pickup PAUSED since ") }, "\(stats())")
        #expect(stats().contains("signing certificate unusable: the signing certificate CN=bad revoked"), "\(stats())")
        // Delivery goes on (b was signed while it could sign), its report waits; nothing new
        // is signed: no report, no checkpoint over the audit records the delivery adds.
        let signedCheckpoints = checkpoints()
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","down":false}"#)
        #expect(waitUntil(timeout: 30) { (try? store.message("signed-before", sender: "PL-KGP"))??.deliveries.first?.summary.state == .delivered },
                "\(daemon.log)")
        try fixture.drop(try Self.message("after-revocation", to: "EU-EUROPOL"), unit: "PL-KGP", name: "c.json")
        // Longer than a rescan (2 s) and several housekeeping ticks (1 s).
        Thread.sleep(forTimeInterval: 4)
        #expect(!queued("after-revocation"))
        #expect(fixture.files(fixture.outbox("PL-KGP")) == ["c.json"])
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
        #expect(!reports().contains("b.delivered.EU-EUROPOL.json"), "a report signed with a revoked certificate")
        #expect(checkpoints() == signedCheckpoints, "a checkpoint signed with a revoked certificate")
        #expect(daemon.log.components(separatedBy: "the signing certificate may not sign").count == 2, "said once")

        // A reload to anchors of another CA (ahead of a key rotation) and without the CRL does
        // not vouch for it: it stays closed.
        try Self.edit(fixture) {
            $0.replacingOccurrences(of: "\(anchorsLine)\n  crl: \(crl.path)", with: "  trustAnchors: \(pki)/ca/wrong-root-ca.pem")
        }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { reloads() == 2 }, "\(daemon.log)")
        Thread.sleep(forTimeInterval: 2)
        #expect(!queued("after-revocation"))
        #expect(!daemon.log.contains("the signing certificate may sign again"), "\(daemon.log)")

        // The operator's decision (the anchors it chains to, no CRL): it verifies, it may sign
        // again, and everything waiting goes.
        try Self.edit(fixture) { $0.replacingOccurrences(of: "  trustAnchors: \(pki)/ca/wrong-root-ca.pem", with: anchorsLine) }
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("the signing certificate may sign again") }, "\(daemon.log)")
        #expect(waitUntil(timeout: 20) { queued("after-revocation") }, "\(daemon.log)")
        let m = try #require(try store.message("after-revocation", sender: "PL-KGP"))
        let verified = try JWSVerifier().verify(m.jws, trustStore: try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem")))
        #expect(verified.payload.isEmpty == false)
        #expect(waitUntil(timeout: 30) { reports().contains("b.delivered.EU-EUROPOL.json") && reports().contains("c.delivered.EU-EUROPOL.json") },
                "\(reports())")
        #expect(waitUntil(timeout: 20) { checkpoints() > signedCheckpoints }, "\(daemon.log)")
        #expect(waitUntil(timeout: 20) { stats().contains("; pickup running since ") }, "\(stats())")
        #expect(daemon.stop() == 0)
        #expect(stats().contains("gatewayd      not running"), "\(stats())")
    }
}
