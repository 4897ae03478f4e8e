import Foundation
import GatewayJSON
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("gatewayd crash during pickup", .serialized)
struct PickupCrashTests {
    @Test("SIGKILL during a 10,000-file pickup, then restart: every file is in the outbox, rejected, or queued exactly once")
    func killDuringPickup() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        let example = try Samples.valid().first { $0.1["type"] == "operational-report" }!.1
        let total = 10_000
        var names: [String] = []
        // Drop everything first: the daemon starts on a full spool and is killed mid-way.
        for i in 0..<total {
            let unit = GatewayFixture.units[i % 3]
            let name = String(format: "msg-%05d.json", i)
            let message = Samples.adapt(example, unit: unit, id: String(format: "crash-%05d", i), recipients: ["EU-EUROPOL"])
            // One in 500 is bad, to have refusals in flight too.
            let bytes = i % 500 == 7 ? Array("{\"broken\":".utf8) : Array((try message.canonicalString()).utf8)
            try fixture.drop(bytes, unit: unit, name: name)
            names.append(name)
        }
        let first = try DaemonProcess.start(fixture)
        // Kill once some, not all, files were taken.
        let store = try QueueStore(path: fixture.queuePath)
        let killAt = Int.random(in: 500...3_000)
        let reached = waitUntil(timeout: 120, interval: 0.005) { ((try? store.stats().messages) ?? 0) >= killAt }
        first.kill()
        let queuedAtKill = try store.stats().messages
        #expect(reached, "the pickup did not reach \(killAt) messages before the kill: \(first.log.suffix(1500))")
        #expect(queuedAtKill > 0 && queuedAtKill < total, "the kill must come during the pickup (\(queuedAtKill) of \(total) queued, aimed at \(killAt))")

        let second = try DaemonProcess.start(fixture)
        defer { second.stop() }
        let drained = waitUntil(timeout: 180, interval: 0.2) {
            GatewayFixture.units.prefix(3).allSatisfy { fixture.files(fixture.outbox($0)).isEmpty }
        }
        #expect(drained, "outboxes not drained: \(second.log.suffix(1500))")
        var missing: [String] = []
        var rejectedCount = 0
        let rejectedFiles = Dictionary(uniqueKeysWithValues: GatewayFixture.units.prefix(3).map { ($0, fixture.files(fixture.rejected($0))) })
        for (i, name) in names.enumerated() {
            let unit = GatewayFixture.units[i % 3]
            // Under its name, or a numbered one: a kill between a refusal's error file and the
            // file's move leaves that error file, and the file, refused again after the restart,
            // takes the next name (msg-00007.2.json, with msg-00007.2.error.json).
            let stem = String(name.dropLast(5))
            let inRejected = rejectedFiles[unit, default: []].contains { file in
                file == name || (file.hasPrefix(stem + ".") && file.hasSuffix(".json") && !file.hasSuffix(".error.json")
                                 && Int(file.dropFirst(stem.count + 1).dropLast(5)) != nil)
            }
            let queued = try store.message(String(format: "crash-%05d", i), sender: unit) != nil
            if i % 500 == 7 {
                #expect(inRejected && !queued, "\(name): a bad file must be rejected")
                rejectedCount += 1
            } else if !queued || inRejected {
                missing.append(name)
            }
        }
        #expect(missing.isEmpty, "\(missing.count) files neither queued nor rejected: \(missing.prefix(10))")
        #expect(rejectedCount == total / 500)
        // Queued exactly once: one message row per id (the unique key), one delivery each.
        #expect(try store.stats().messages == total - total / 500)
        #expect(try store.countDeliveries() == total - total / 500)
        #expect(try store.integrityCheck() == "ok")
        #expect(try store.verifyAudit(verifier: nil).isValid)
        // Every accepted message has its accepted report.
        let reports = GatewayFixture.units.prefix(3).reduce(0) { $0 + fixture.files(fixture.reports($1)).count }
        #expect(reports == total - total / 500)
    }
}
