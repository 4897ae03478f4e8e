// A full disk (issue 5, Build 4: backpressure when the disk is full; nothing lost): pickup
// pauses below queue.minFreeDisk on the queue's or the spool's file system and resumes when
// space comes back; where the threshold is passed anyway, write errors leave the files in
// the outbox (never in rejected/) and they are queued, once each, when space is back.
import Foundation
import GatewayCrypto
@testable import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Logging
import Testing

@Suite("gatewayd on a full disk", .serialized)
struct DiskFullTests {
    /// An alert for `unit` to Europol with id `id`, as the unit would drop it.
    static func message(_ id: String, unit: String = "PL-KGP") throws -> [UInt8] {
        let sample = try Samples.valid().first { $0.1["type"] == "alert" }!.1
        return Samples.bytes(Samples.adapt(sample, unit: unit, id: id, recipients: ["EU-EUROPOL"]))
    }

    /// Copies the queue's WAL back and truncates it, so that the next writes need new
    /// space (SQLite reuses a checkpointed WAL from its start, which would let small
    /// transactions through on a full disk).
    static func emptyWAL(_ fixture: GatewayFixture) throws {
        _ = try QueueStore(path: fixture.queuePath).usedBytes()
    }

    /// The fixture's queue folder on a tmpfs of `megabytes`, and `queue.minFreeDisk`.
    static func smallQueue(_ fixture: GatewayFixture, megabytes: Int = 8, minFreeDisk: String) throws -> (SmallFileSystem, URL) {
        let queueDir = URL(fileURLWithPath: fixture.queuePath).deletingLastPathComponent()
        let small = try SmallFileSystem(at: queueDir, megabytes: megabytes)
        try setMinFreeDisk(fixture, minFreeDisk)
        return (small, queueDir)
    }

    static func setMinFreeInodes(_ fixture: GatewayFixture, _ value: Int) throws {
        var text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        if let line = text.range(of: #"\n  minFreeInodes: [^\n]*"#, options: .regularExpression) { text.removeSubrange(line) }
        text = text.replacingOccurrences(of: "  checkpointInterval: 1s", with: "  checkpointInterval: 1s\n  minFreeInodes: \(value)")
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
    }

    static func setMinFreeDisk(_ fixture: GatewayFixture, _ value: String) throws {
        var text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        if let line = text.range(of: #"\n  minFreeDisk: [^\n]*"#, options: .regularExpression) { text.removeSubrange(line) }
        text = text.replacingOccurrences(of: "  checkpointInterval: 1s", with: "  checkpointInterval: 1s\n  minFreeDisk: \(value)")
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
    }

    @Test("below queue.minFreeDisk pickup pauses and files wait; a reloaded threshold resumes it; nothing lost")
    func thresholdPausesAndReloadResumes() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        try Self.setMinFreeDisk(fixture, "1000000000000000")   // 1 PB: no disk here has it free
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        #expect(waitUntil(timeout: 20) { daemon.log.contains("pickup paused") }, "\(daemon.log)")
        #expect(daemon.log.contains("disk almost full"), "\(daemon.log)")
        for i in 0..<5 { try fixture.drop(try Self.message("disk-threshold-\(i)"), unit: "PL-KGP", name: "t\(i).json") }
        usleep(2_500_000)
        #expect(fixture.files(fixture.outbox("PL-KGP")).count == 5, "files wait while paused")

        // queue.minFreeDisk is reloaded with SIGHUP, like the other thresholds.
        try Self.setMinFreeDisk(fixture, "1MB")
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log)")
        #expect(daemon.log.contains("pickup resumed"), "\(daemon.log)")
        let store = try QueueStore(path: fixture.queuePath)
        #expect(try store.stats().messages == 5, "nothing lost")
        #expect(fixture.files(fixture.reports("PL-KGP")).count == 5, "an accepted report each")
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
    }

    @Test("a full spool file system: pause at the threshold, then real write errors; files stay in the outbox, none refused, all queued once space is back",
          .enabled(if: SmallFileSystem.available, "mounts a 4 MB tmpfs for the spool: needs root or passwordless sudo"))
    func spoolFileSystemFills() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        // Only the spool is on the small file system; the queue stays where it was.
        let small = try SmallFileSystem(at: fixture.spool, megabytes: 4)
        defer { small.unmount() }
        try Self.setMinFreeDisk(fixture, "1MB")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let store = try QueueStore(path: fixture.queuePath)
        let outbox = fixture.outbox("PL-KGP")

        // 1. The threshold: the spool's file system (not the queue's) has less than 1 MB free.
        let filler = fixture.spool.appendingPathComponent(".filler")
        try small.fill(filler, leaving: 512 * 1024)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("pickup paused") }, "\(daemon.log)")
        #expect(daemon.log.contains("under \(fixture.spool.path)"), "the spool's folder is named: \(daemon.log)")
        for i in 0..<10 { try fixture.drop(try Self.message("disk-spool-\(i)"), unit: "PL-KGP", name: "s\(i).json") }
        usleep(2_500_000)
        #expect(fixture.files(outbox).count == 10, "files wait while paused")
        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: 20) { fixture.files(outbox).isEmpty }, "\(daemon.log)")
        #expect(daemon.log.contains("pickup resumed"), "\(daemon.log)")
        #expect(try store.stats().messages == 10)

        // 2. No threshold: the disk really fills while files come in.
        try Self.setMinFreeDisk(fixture, "0")
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 20) { daemon.log.components(separatedBy: "configuration reloaded").count == 2 }, "\(daemon.log)")
        // Written first under temporary names (ignored by the daemon), renamed once the disk is full.
        let count = 40
        for i in 0..<count {
            try Data(try Self.message("disk-full-\(i)")).write(to: outbox.appendingPathComponent(".f\(i).json.tmp"))
        }
        // One written on a machine whose clock is a day ahead: only the rescan can take it
        // once there is space, and its future modification time must not hide it.
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(86_400)],
                                              ofItemAtPath: outbox.appendingPathComponent(".f0.json.tmp").path)
        try small.fill(filler, leaving: 0)
        for i in 0..<count {
            #expect(rename(outbox.appendingPathComponent(".f\(i).json.tmp").path, outbox.appendingPathComponent("f\(i).json").path) == 0)
        }
        #expect(waitUntil(timeout: 20) { daemon.log.contains("left in the outbox") || daemon.log.contains("cannot write an accepted report") },
                "the disk-full errors are logged: \(daemon.log)")
        // Left alone for a growing wait, not read and signed again at every rescan (1 s here).
        #expect(waitUntil(timeout: 20) { daemon.log.contains("wait=2.0s") }, "\(daemon.log)")
        usleep(2_000_000)
        #expect(daemon.process.isRunning)
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty, "nothing is refused for a full disk")
        let waiting = fixture.files(outbox).count
        #expect(waiting > 0, "with no space, files stay in the outbox")

        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: 30) { fixture.files(outbox).isEmpty }, "\(daemon.log)")
        #expect(try store.stats().messages == 10 + count, "every file queued, none twice")
        #expect(waitUntil(timeout: 10) { fixture.files(fixture.reports("PL-KGP")).count == 10 + count }, "an accepted report each")
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
        #expect(daemon.process.isRunning)
    }
}

extension DiskFullTests {
    @Test("a spool file system short of inodes (bytes to spare): pickup pauses at queue.minFreeInodes and resumes; nothing lost",
          .enabled(if: SmallFileSystem.available, "mounts a tmpfs with 3,000 inodes for the spool: needs root or passwordless sudo"))
    func inodesRunOut() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        let small = try SmallFileSystem(at: fixture.spool, megabytes: 64, inodes: 3_000)
        defer { small.unmount() }
        try Self.setMinFreeDisk(fixture, "1MB")
        try Self.setMinFreeInodes(fixture, 2_000)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let outbox = fixture.outbox("PL-KGP")
        try fixture.drop(try Self.message("inodes-0"), unit: "PL-KGP", name: "i0.json")
        #expect(waitUntil(timeout: 20) { fixture.files(outbox).isEmpty }, "picked up while inodes are plenty: \(daemon.log)")

        // Empty files, a few bytes in all: only inodes are used up.
        let filler = fixture.spool.appendingPathComponent(".filler")
        try FileManager.default.createDirectory(at: filler, withIntermediateDirectories: false)
        var fs = statvfs()
        #expect(statvfs(fixture.spool.path, &fs) == 0)
        for i in 0..<max(0, Int(fs.f_favail) - 1_500) {
            #expect(FileManager.default.createFile(atPath: filler.appendingPathComponent("\(i)").path, contents: nil))
        }
        #expect(waitUntil(timeout: 20) { daemon.log.contains("pickup paused") }, "\(daemon.log)")
        #expect(daemon.log.contains("out of file entries") && daemon.log.contains("under \(fixture.spool.path)"), "\(daemon.log)")
        for i in 1...5 { try fixture.drop(try Self.message("inodes-\(i)"), unit: "PL-KGP", name: "i\(i).json") }
        usleep(2_500_000)
        #expect(fixture.files(outbox).count == 5, "files wait while paused")

        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: 20) { fixture.files(outbox).isEmpty }, "\(daemon.log)")
        #expect(daemon.log.contains("pickup resumed"), "\(daemon.log)")
        #expect(try QueueStore(path: fixture.queuePath).stats().messages == 6, "nothing lost")
        #expect(fixture.files(fixture.reports("PL-KGP")).count == 6)
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
    }

    @Test("a full queue file system: commits fail, the files stay in the outbox, the daemon keeps running; all queued once space is back",
          .enabled(if: SmallFileSystem.available, "mounts an 8 MB tmpfs for the queue: needs root or passwordless sudo"))
    func queueFileSystemFills() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        let (small, queueDir) = try Self.smallQueue(fixture, minFreeDisk: "0")
        defer { small.unmount() }
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let outbox = fixture.outbox("PL-KGP")
        for i in 0..<5 { try fixture.drop(try Self.message("queue-before-\(i)"), unit: "PL-KGP", name: "b\(i).json") }
        #expect(waitUntil(timeout: 20) { fixture.files(outbox).isEmpty }, "\(daemon.log)")

        let filler = queueDir.appendingPathComponent("filler")
        try Self.emptyWAL(fixture)
        try small.fill(filler, leaving: 0)
        let count = 40
        for i in 0..<count { try fixture.drop(try Self.message("queue-full-\(i)"), unit: "PL-KGP", name: "q\(i).json") }
        // A file refused meanwhile goes to rejected/ (on the spool); its audit record is
        // written, at once or, when the queue cannot take it, with a later batch.
        try fixture.drop(Array(#"{"messageId": "not-a-message"}"#.utf8), unit: "PL-CBA", name: "bad.json")
        #expect(waitUntil(timeout: 20) { daemon.log.contains("queue commit failed") }, "the failed commit is logged: \(daemon.log)")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.rejected("PL-CBA")) == ["bad.error.json", "bad.json"] })
        #expect(waitUntil(timeout: 20) { daemon.log.contains("wait=2.0s") }, "left alone for a growing wait: \(daemon.log)")
        usleep(2_000_000)
        #expect(daemon.process.isRunning)
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty, "nothing is refused for a full disk")
        #expect(fixture.files(outbox).count > 0, "with no space, files stay in the outbox")
        // Deliveries (to a closed port here) cannot record their outcomes either: said once, not on every pass.
        let storeErrors = daemon.log.components(separatedBy: "\n").filter { $0.contains("cannot claim deliveries") || $0.contains("cannot record delivery outcomes") }
        #expect(storeErrors.count <= 2, "\(storeErrors)")

        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: 30) { fixture.files(outbox).isEmpty }, "\(daemon.log)")
        let store = try QueueStore(path: fixture.queuePath)
        #expect(try store.stats().messages == 5 + count, "every file queued, none twice")
        #expect(waitUntil(timeout: 10) { fixture.files(fixture.reports("PL-KGP")).count == 5 + count }, "an accepted report each")
        #expect(fixture.files(fixture.rejected("PL-KGP")).isEmpty)
        #expect(daemon.process.isRunning)
        // The refusal's audit record went in with a later batch.
        let refusals = try store.auditTail(limit: 200, sender: "PL-CBA").filter { $0.event == "refused" }
        #expect(refusals.count == 1 && refusals[0].details.contains("bad.json"), "\(refusals)")
        // Whether that write failed depends on the WAL space SQLite still had (a failed
        // commit can leave some); when it did, the record was kept and written later.
        #expect(!daemon.log.contains("cannot audit refusals") || daemon.log.contains("refusals and duplicates audited again"), "\(daemon.log)")
        // The queue is whole: its integrity check passes and the audit chain verifies.
        #expect(fixture.ctl(["audit", "verify"]).status == 0)
        #expect(daemon.stop() == 0, "a clean stop after the full disk: \(daemon.log)")
    }
}

/// A tmpfs of a few megabytes mounted over a folder, for tests that fill a disk.
struct SmallFileSystem {
    let path: URL

    /// Whether a tmpfs can be mounted here (root, or passwordless sudo; and a kernel or
    /// container that allows it): tried once on a scratch folder.
    static let available: Bool = {
        guard let probe = try? TestPaths.temporaryDirectory("mount-probe") else { return false }
        guard let mounted = try? SmallFileSystem(at: probe, megabytes: 1) else { return false }
        mounted.unmount()
        return true
    }()

    private static func privileged(_ arguments: [String]) -> ProcessRunner.Result {
        geteuid() == 0 ? ProcessRunner.run("/usr/bin/env", arguments) : ProcessRunner.run("/usr/bin/env", ["sudo", "-n"] + arguments)
    }

    /// `inodes`: how many files and folders it can hold (tmpfs's default is plenty).
    init(at path: URL, megabytes: Int, inodes: Int? = nil) throws {
        self.path = path
        let uid = geteuid(), gid = getegid()
        let options = "size=\(megabytes)m,mode=0755,uid=\(uid),gid=\(gid)" + (inodes.map { ",nr_inodes=\($0)" } ?? "")
        let result = Self.privileged(["mount", "-t", "tmpfs", "-o", options, "tmpfs", path.path])
        guard result.status == 0 else {
            throw DevPKIFixture.Failure(description: "cannot mount a tmpfs on \(path.path): \(result.stderr)")
        }
    }

    /// Makes `file` as large as leaves `leaving` bytes free (or fills the disk: tmpfs
    /// stops a write with ENOSPC, which ends the filling).
    func fill(_ file: URL, leaving: Int) throws {
        var fs = statvfs()
        guard statvfs(path.path, &fs) == 0 else { throw DevPKIFixture.Failure(description: "statvfs \(path.path)") }
        let free = Int(fs.f_bavail) * Int(fs.f_frsize)
        let existing = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
        let target = max(0, existing + free - leaving)
        let fd = open(file.path, O_WRONLY | O_CREAT, 0o600)
        guard fd >= 0 else { throw DevPKIFixture.Failure(description: "open \(file.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x55, count: 64 * 1024)
        var written = Int(lseek(fd, 0, SEEK_END))
        while written < target {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress, min(chunk.count, target - written)) }
            if n <= 0 { break }   // ENOSPC: full
            written += n
        }
    }

    func unmount() {
        _ = Self.privileged(["umount", "-l", path.path])
    }
}

extension DiskFullTests {
    @Test("outcomes that arrive while the queue's disk is full are recorded once there is space, without a restart; each message received once",
          .enabled(if: SmallFileSystem.available, "mounts an 8 MB tmpfs for the queue: needs root or passwordless sudo"))
    func deliveryOutcomesWaitForSpace() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        let fixture = try EndToEndTests.fixture(mock)
        let (small, queueDir) = try Self.smallQueue(fixture, minFreeDisk: "0")
        defer { small.unmount() }
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let store = try QueueStore(path: fixture.queuePath)
        // Europol holds every answer 10 s: the messages are queued and sent before the disk
        // fills, and their answers come back after.
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","stallSeconds":10,"stallRate":1}"#)
        let count = 8
        for i in 0..<count { try fixture.drop(try Self.message("outcome-\(i)"), unit: "PL-KGP", name: "o\(i).json") }
        #expect(waitUntil(timeout: 20) { (try? EndToEndTests.state(store, [.sending])) == count }, "\(daemon.log)")
        let filler = queueDir.appendingPathComponent("filler")
        try Self.emptyWAL(fixture)
        try small.fill(filler, leaving: 0)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("cannot record delivery outcomes") }, "\(daemon.log)")
        usleep(1_500_000)
        #expect(try EndToEndTests.state(store, [.sending]) == count, "not recorded while the disk is full")

        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: 20) { (try? EndToEndTests.state(store, [.delivered])) == count }, "\(daemon.log)")
        #expect(waitUntil(timeout: 10) { daemon.log.contains("delivery outcomes recorded after a failure") }, "\(daemon.log)")
        let received = try JSON.parse(mock.control("GET", "/received?agency=EU-EUROPOL")).arrayValue ?? []
        #expect(received.count == count && received.allSatisfy { $0["count"] == 1 }, "each received once: \(received)")
        // The unit gets its delivered reports (with the receipts) as usual.
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.reports("PL-KGP")).filter { $0.contains("delivered") }.count == count },
                "\(fixture.files(fixture.reports("PL-KGP")))")
        #expect(daemon.stop() == 0)
    }
}

extension DiskFullTests {
    @Test("delivered reports that cannot be written for want of space stay owed, are logged once, and are written when space is back",
          .enabled(if: SmallFileSystem.available, "mounts a 4 MB tmpfs for the spool: needs root or passwordless sudo"))
    func reportsWaitForSpace() throws {
        let mock = try MockProcess.start(config: MockProcess.configuration(agencies: ["EU-EUROPOL"]))
        defer { mock.stop() }
        let fixture = try EndToEndTests.fixture(mock)
        let small = try SmallFileSystem(at: fixture.spool, megabytes: 4)
        defer { small.unmount() }
        try Self.setMinFreeDisk(fixture, "0")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let store = try QueueStore(path: fixture.queuePath)
        let reports = fixture.reports("PL-KGP")
        // Answers come 10 s late: accepted and sent before the disk fills, delivered after.
        mock.control("POST", "/faults", json: #"{"agency":"EU-EUROPOL","stallSeconds":10,"stallRate":1}"#)
        let count = 8   // within the endpoint's concurrency: all in flight at once
        for i in 0..<count { try fixture.drop(try Self.message("report-\(i)"), unit: "PL-KGP", name: "r\(i).json") }
        #expect(waitUntil(timeout: 20) { (try? EndToEndTests.state(store, [.sending])) == count }, "\(daemon.log)")
        #expect(waitUntil(timeout: 10) { fixture.files(reports).count == count }, "accepted reports first")
        let filler = fixture.spool.appendingPathComponent(".filler")
        try small.fill(filler, leaving: 0)
        #expect(waitUntil(timeout: 20) { (try? EndToEndTests.state(store, [.delivered])) == count }, "\(daemon.log)")
        usleep(2_500_000)   // two syncs: the owed reports are tried again, and fail again
        #expect(fixture.files(reports).filter { $0.contains("delivered") }.isEmpty)
        let lines = daemon.log.components(separatedBy: "\n").filter { $0.contains("cannot write reports;") }
        #expect(lines.count == 1 && lines[0].contains("No space left on device") && lines[0].contains("unit=PL-KGP"), "logged once: \(daemon.log)")
        #expect(!daemon.log.contains("msg=\"cannot write report\""), "not once per report: \(daemon.log)")

        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: 20) { fixture.files(reports).filter { $0.contains("delivered") }.count == count },
                "\(fixture.files(reports)) \(daemon.log)")
        // Logged at the end of the flush that wrote them (the files can be seen first).
        #expect(waitUntil(timeout: 10) { daemon.log.contains("reports written again") }, "\(daemon.log)")
        #expect(daemon.stop() == 0)
    }
}

extension DiskFullTests {
    @Test("with the queue's disk full, housekeeping steps that fail do not stop backpressure: pickup pauses, failures are logged once, all resumes",
          .enabled(if: SmallFileSystem.available, "mounts an 8 MB tmpfs for the queue: needs root or passwordless sudo"))
    func housekeepingGoesOnWhenAStepFails() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        let (small, queueDir) = try Self.smallQueue(fixture, minFreeDisk: "1MB")
        defer { small.unmount() }
        // Housekeeping steps that run before backpressure must fail: a cancellation just
        // before the disk fills gives the audit checkpoint a head to sign, and with a
        // retention of 4 s the cancelled message is pruned once the disk is full (writes).
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "  checkpointInterval: 1s", with: "  checkpointInterval: 1s\n  retention: 4s")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        try fixture.drop(try Self.message("housekeeping-old"), unit: "PL-KGP", name: "old.json")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log)")
        #expect(fixture.ctl(["cancel", "--state", "queued,deferred", "--yes"]).status == 0)
        let filler = queueDir.appendingPathComponent("filler")
        try Self.emptyWAL(fixture)
        try small.fill(filler, leaving: 0)
        #expect(waitUntil(timeout: 20) { daemon.log.contains("pickup paused") }, "\(daemon.log)")
        #expect(daemon.log.contains("under \(queueDir.path)"), "\(daemon.log)")
        // The audit checkpoint (the cancellation moved the chain's head) or retention fails.
        #expect(waitUntil(timeout: 20) { daemon.log.contains("housekeeping failed") }, "\(daemon.log)")
        for i in 0..<3 { try fixture.drop(try Self.message("housekeeping-\(i)"), unit: "PL-KGP", name: "h\(i).json") }
        usleep(3_000_000)
        #expect(fixture.files(fixture.outbox("PL-KGP")).count == 3, "files wait while paused")
        let failures = daemon.log.components(separatedBy: "\n").filter { $0.contains("housekeeping failed") }
        #expect(failures.count >= 1 && failures.count <= 3, "logged when it starts, not every second: \(failures)")

        try FileManager.default.removeItem(at: filler)
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log)")
        #expect(daemon.log.contains("pickup resumed"), "\(daemon.log)")
        #expect(waitUntil(timeout: 10) { daemon.log.contains("housekeeping works again") }, "\(daemon.log)")
        #expect(waitUntil(timeout: 20) { (try? QueueStore(path: fixture.queuePath).stats().messages) == 3 }, "the cancelled one pruned, the three queued")
        #expect(daemon.stop() == 0)
    }
}

extension DiskFullTests {
    @Test("one unit's full reports/ folder holds back only its own reports: recover and flush write the others', keep its owed, and catch up when there is space",
          .enabled(if: SmallFileSystem.available, "mounts a 1 MB tmpfs on one unit's reports/: needs root or passwordless sudo"))
    func oneUnitFull() throws {
        let fixture = try GatewayFixture()
        let full = fixture.reports("PL-KGP")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: true)
        let small = try SmallFileSystem(at: full, megabytes: 1)
        defer { small.unmount() }
        let filler = full.appendingPathComponent(".filler")
        try small.fill(filler, leaving: 0)

        let config = try ConfigLoader.load(path: fixture.configPath)
        let store = try QueueStore(path: config.queue.path)
        let signer = try GatewayKeys.load(config).messageSigner
        let writer = ReportWriter(store: store, spool: try Spool(root: config.spool.directory, units: config.units), signer: signer,
                                  gatewayId: config.gatewayId, logger: Logger(label: "test"))
        // Accepted reports lost in a crash, and a failed report owed, for each of two units.
        let units = ["PL-KGP", "PL-CBA"]
        var batch: [NewMessage] = []
        for (i, unit) in units.enumerated() {
            let canonical = try (["messageId": .string("full-\(i)"), "sender": .string(unit)] as JSON).canonicalBytes()
            batch.append(NewMessage(sender: unit, messageId: "full-\(i)", type: "alert", priority: .urgent, classification: .restricted,
                                    createdAt: 0, contentDigest: SHA256.hex(canonical), jws: try signer.sign(payload: canonical),
                                    sourceFile: "full-\(i).json", routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")],
                                    acceptedAt: 1_800_000_000_000, tracksAcceptedReport: true))
        }
        _ = try store.enqueue(batch)
        for job in try store.claimDue(endpoint: "europol", limit: 2) {
            let body: JSON = ["kind": "failed", "messageId": .string(job.messageId), "sender": .string(job.sender), "recipient": "EU-EUROPOL",
                              "file": .string(job.sourceFile ?? ""), "reason": "HTTP 422"]
            try store.resolve([.init(job: job, attempt: nil, resolution: .failed(reason: "HTTP 422"), report: try body.canonicalString())])
        }

        #expect(try writer.recover() == 1, "PL-CBA's accepted report; PL-KGP's cannot be written and does not stop the start")
        #expect(try store.unsyncedAcceptedReports().map(\.sender) == ["PL-KGP"])
        #expect(writer.flush() == 1, "PL-CBA's failed report")
        writer.sync()
        #expect(try store.owedReports().map(\.unit) == ["PL-KGP"])
        #expect(fixture.files(fixture.reports("PL-CBA")) == ["full-1.accepted.json", "full-1.failed.EU-EUROPOL.json"])
        #expect(fixture.files(full).isEmpty)

        try FileManager.default.removeItem(at: filler)
        #expect(try writer.recover() == 1)
        #expect(writer.flush() == 1)
        writer.sync()
        #expect(try store.unsyncedAcceptedReports().isEmpty && store.owedReports().isEmpty)
        #expect(fixture.files(full) == ["full-0.accepted.json", "full-0.failed.EU-EUROPOL.json"])
    }
}
