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
            #"{"\"priority": "immediate"}"#,                      // a member named \"priority (escaped quote)
            #"{"priority""#,
            "",
        ]
        for text in yes { #expect(PickupPipeline.saysImmediate(Array(text.utf8)), "\(text)") }
        for text in no { #expect(!PickupPipeline.saysImmediate(Array(text.utf8)), "\(text)") }
    }

    @Test("an immediate file that arrives behind a backlog of routine files in the outbox is taken ahead of all of them but those the workers hold; every file is queued once")
    func immediateOvertakesBacklog() throws {
        // A rescan interval longer than the test: every file is announced by inotify. Pickup
        // paused (a free-disk threshold no disk meets) while the backlog builds, so that it
        // is all there when the immediate file comes, on however slow a machine.
        // Two workers whatever the machine's cores: each holds a file through the pause.
        let fixture = try GatewayFixture(rescan: "10m", extraSpool: "  workers: 2")
        try DiskFullTests.setMinFreeDisk(fixture, "1000000000000000")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        #expect(waitUntil(timeout: 20) { daemon.log.contains("msg=\"pickup paused\"") }, "\(daemon.log)")
        let alert = try #require(try Samples.valid().first { $0.1["type"] == "alert" }?.1)
        let backlog = 1_000
        for i in 0..<backlog {
            let m = Samples.set(Samples.adapt(alert, unit: "PL-KGP", id: String(format: "routine-%05d", i), recipients: ["EU-EUROPOL"]),
                                "priority", "routine")
            try fixture.drop(Samples.bytes(m), unit: "PL-KGP", name: String(format: "r%05d.json", i))
        }
        let urgent = Samples.set(Samples.adapt(alert, unit: "PL-KGP", id: "threat-to-life", recipients: ["EU-EUROPOL"]), "priority", "immediate")
        try fixture.drop(Samples.bytes(urgent), unit: "PL-KGP", name: "zz-immediate.json")
        // Announced (inotify, on the watcher's thread) before pickup resumes.
        Thread.sleep(forTimeInterval: 2)
        let store = try QueueStore(path: fixture.queuePath)
        #expect(try store.messageCountEstimate() == 0, "paused: nothing queued yet")
        try DiskFullTests.setMinFreeDisk(fixture, "1MB")
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 300) { (try? store.messageCountEstimate()) == backlog + 1 }, "\(daemon.log)")
        #expect(waitUntil(timeout: 60) { fixture.files(fixture.outbox("PL-KGP")).isEmpty })
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
        // Queued in the order of the message rows: how many routine ones came after it. Each
        // worker (two here) took a routine file before it waited for the pause to
        // end, and on a loaded machine the others may finish a few more while the one with
        // the immediate file waits for a core (13 in one CI run): most, not all.
        let after = ProcessRunner.run("/usr/bin/env", ["sqlite3", fixture.queuePath,
            "SELECT count(*) FROM message WHERE id > (SELECT id FROM message WHERE message_id = 'threat-to-life')"])
        #expect(after.status == 0, "\(after.stderr)")
        let behind = Int(after.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(behind >= backlog * 9 / 10, "\(behind) of \(backlog) routine messages queued after the immediate one")
    }
}
