// An immediate message does not wait behind a backlog in its outbox: a file that arrives
// while files wait, and says it is immediate, is taken ahead of them.
import Foundation
@testable import GatewayDaemon
import GatewayJSON
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("outbox priority", .serialized)
struct OutboxPriorityTests {
    @Test("the quick look finds \"priority\": \"immediate\" as a member, with any spacing, and nothing else")
    func quickLook() {
        let yes = [
            #"{"priority":"immediate"}"#,
            "{\n  \"body\": {},\n  \"priority\" :\t\"immediate\",\n  \"type\": \"alert\"\n}",
            #"{"summary":"a \\", "priority": "immediate"}"#,   // the string ends with an escaped backslash
        ]
        let no = [
            #"{"priority":"urgent"}"#,
            #"{"priority":"routine","note":"immediate"}"#,
            #"{"summary":"\"priority\": \"immediate\""}"#,       // inside a string
            #"{"priority": "immediately"}"#,
            #"{"priority": "immediat"}"#,
            #"{"priorityX":"immediate"}"#,
            #"{"priority""#,
            "",
        ]
        for text in yes { #expect(PickupPipeline.saysImmediate(Array(text.utf8)), "\(text)") }
        for text in no { #expect(!PickupPipeline.saysImmediate(Array(text.utf8)), "\(text)") }
    }

    @Test("an immediate file dropped behind a backlog of routine files in the outbox is queued ahead of most of them; every file is queued once")
    func immediateOvertakesBacklog() throws {
        let fixture = try GatewayFixture(rescan: "10m")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let alert = try #require(try Samples.valid().first { $0.1["type"] == "alert" }?.1)
        let backlog = 3_000
        // Written under temporary names first (pickup ignores them), then renamed at once: a
        // unit's burst, announced by inotify faster than pickup takes it.
        let outbox = fixture.outbox("PL-KGP")
        for i in 0..<backlog {
            let m = Samples.set(Samples.adapt(alert, unit: "PL-KGP", id: String(format: "routine-%05d", i), recipients: ["EU-EUROPOL"]),
                                "priority", "routine")
            try Data(Samples.bytes(m)).write(to: outbox.appendingPathComponent(String(format: ".r%05d.tmp", i)))
        }
        for i in 0..<backlog {
            #expect(rename(outbox.appendingPathComponent(String(format: ".r%05d.tmp", i)).path, outbox.appendingPathComponent(String(format: "r%05d.json", i)).path) == 0)
        }
        let store = try QueueStore(path: fixture.queuePath)
        let queuedAtDrop = try store.messageCountEstimate()
        let urgent = Samples.set(Samples.adapt(alert, unit: "PL-KGP", id: "threat-to-life", recipients: ["EU-EUROPOL"]), "priority", "immediate")
        try fixture.drop(Samples.bytes(urgent), unit: "PL-KGP", name: "zz-immediate.json")
        #expect(waitUntil(timeout: 300) { (try? store.messageCountEstimate()) == backlog + 1 }, "\(daemon.log)")
        #expect(fixture.files(fixture.outbox("PL-KGP")).isEmpty || waitUntil(timeout: 60) { fixture.files(fixture.outbox("PL-KGP")).isEmpty })
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
        // Queued in the order of the message rows: how many routine ones came after it.
        let after = ProcessRunner.run("/usr/bin/env", ["sqlite3", fixture.queuePath,
            "SELECT count(*) FROM message WHERE id > (SELECT id FROM message WHERE message_id = 'threat-to-life')"])
        #expect(after.status == 0, "\(after.stderr)")
        let behind = Int(after.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let waiting = backlog - queuedAtDrop
        // Without the look ahead it comes last (0 after it); with it, next after what the
        // workers hold (a few batches).
        #expect(waiting >= 500, "the test made no backlog to overtake (\(queuedAtDrop) of \(backlog) queued when the immediate file came)")
        #expect(behind >= waiting / 2, "\(behind) routine messages queued after the immediate one, \(waiting) were waiting when it came")
    }
}
