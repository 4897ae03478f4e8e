import Foundation
import GatewayCrypto
@testable import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Logging
import Testing

/// Staged files, the once-a-second sync of reports, and the accepted reports a crash
/// would have lost, written again at start.
@Suite("report durability", .serialized)
struct ReportDurabilityTests {
    func temporaryDirectory() throws -> (URL, DirectoryHandle) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("staged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return (url, try DirectoryHandle(path: url.path))
    }

    func names(_ url: URL) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted() }

    @Test("a staged file has no name until published; publishing replaces a file of that name", arguments: [false, true])
    func stagedFiles(namedFallback: Bool) throws {
        StagedFile.forceNamedFallback = namedFallback
        defer { StagedFile.forceNamedFallback = false }
        let (url, dir) = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: url) }
        let staged = try dir.stage(Array("first".utf8))
        if !namedFallback { #expect(names(url).isEmpty, "an O_TMPFILE file has no name before it is published") }
        try staged.publish(as: "r.json")
        #expect(names(url) == ["r.json"])
        #expect(try String(contentsOf: url.appendingPathComponent("r.json"), encoding: .utf8) == "first")
        // The same name again (a report written twice): replaced whole, nothing left beside it.
        try dir.stage(Array("second".utf8)).publish(as: "r.json")
        #expect(names(url) == ["r.json"])
        #expect(try String(contentsOf: url.appendingPathComponent("r.json"), encoding: .utf8) == "second")
        // One that is never published leaves nothing behind.
        do { _ = try dir.stage(Array("dropped".utf8)) }
        #expect(names(url) == ["r.json"])
        // Written through another folder of the same file system (the spool's staging folder).
        let (otherURL, other) = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: otherURL) }
        try dir.stage(Array("third".utf8), in: other).publish(as: "s.json")
        #expect(names(url) == ["r.json", "s.json"])
        #expect(names(otherURL).isEmpty)
    }

    @Test("a taken name is shown to the caller first: replaced when it says so, else the file takes the name it gives", arguments: [false, true])
    func stagedFileTakenName(namedFallback: Bool) throws {
        StagedFile.forceNamedFallback = namedFallback
        defer { StagedFile.forceNamedFallback = false }
        let (url, dir) = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: url) }
        var seen: [[UInt8]?] = []
        // What was staged can be read back until it is published (to compare it with what is there).
        let readBack = try dir.stage(Array("read back".utf8))
        #expect(readBack.contents() == Array("read back".utf8))
        #expect(try readBack.publishIfFree(as: "z.json"))
        try FileManager.default.removeItem(at: url.appendingPathComponent("z.json"))
        #expect(try dir.stage(Array("a".utf8)).publish(as: "r.json") { seen.append($1); return .use("never") } == "r.json")
        #expect(seen.isEmpty, "a free name is taken without asking")
        #expect(try dir.stage(Array("b".utf8)).publish(as: "r.json") { seen.append($1); return $0 == "r.json" ? .use("r2.json") : .replace } == "r2.json")
        #expect(seen == [Array("a".utf8)])
        #expect(try String(contentsOf: url.appendingPathComponent("r.json"), encoding: .utf8) == "a", "left as it was")
        #expect(try String(contentsOf: url.appendingPathComponent("r2.json"), encoding: .utf8) == "b")
        // The other name taken as well: asked again; replaced when the answer says so.
        var asked: [String] = []
        #expect(try dir.stage(Array("c".utf8)).publish(as: "r.json") { name, _ in asked.append(name); return name == "r.json" ? .use("r2.json") : .replace } == "r2.json")
        #expect(asked == ["r.json", "r2.json"])
        #expect(try String(contentsOf: url.appendingPathComponent("r2.json"), encoding: .utf8) == "c")
        #expect(try String(contentsOf: url.appendingPathComponent("r.json"), encoding: .utf8) == "a")
        // Something that is not a readable file is shown as nil.
        try FileManager.default.createDirectory(at: url.appendingPathComponent("d.json"), withIntermediateDirectories: false)
        seen = []
        #expect(try dir.stage(Array("d".utf8)).publish(as: "d.json") { seen.append($1); return $0 == "d.json" ? .use("d2.json") : .replace } == "d2.json")
        #expect(seen == [nil])
        #expect(names(url) == ["d.json", "d2.json", "r.json", "r2.json"], "nothing left beside them")
        // An answer that never finds a free name: an error after sixteen, nothing replaced.
        #expect(throws: SafeFileError.self) { try dir.stage(Array("e".utf8)).publish(as: "r.json") { name, _ in .use(name) } }
        #expect(try String(contentsOf: url.appendingPathComponent("r.json"), encoding: .utf8) == "a")
        #expect(names(url) == ["d.json", "d2.json", "r.json", "r2.json"])
        // publishIfFree never replaces.
        #expect(try dir.stage(Array("f".utf8)).publishIfFree(as: "r.json") == false)
        #expect(try dir.stage(Array("f".utf8)).publishIfFree(as: "f.json"))
        #expect(try String(contentsOf: url.appendingPathComponent("r.json"), encoding: .utf8) == "a")
    }

    @Test("report names for a unit file name of the full 255 bytes stay apart for every message, kind and recipient")
    func longReportNames() throws {
        let long = String(repeating: "R", count: 250) + ".json"
        let id = "3f0c2a9e-1b7d-4c55-9e2f-8a6b0d4e1c77"
        var seen = Set<String>()
        for kind in ["accepted", "delivered", "cancelled"] {
            let recipient: String? = kind == "accepted" ? nil : "EU-EUROPOL"
            let plain = ReportWriter.name(file: long, kind: kind, recipient: recipient)
            let own = (1...8).map { ReportWriter.name(file: long, kind: kind, recipient: recipient, qualifier: $0 == 1 ? id : "\(id)~\($0)") }
            for name in [plain] + own {
                #expect(name.utf8.count <= 255, "\(name.utf8.count)")
                #expect(seen.insert(name).inserted, "\(name) twice")
            }
            #expect(own.allSatisfy { $0.contains(id) }, "the message's id is kept whole")
        }
    }

    @Test("leftover temporaries of a crashed run are removed at start, nothing else")
    func staleStaging() throws {
        let (url, dir) = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: url) }
        for name in [".gw-staged-123-4.tmp", ".m1.accepted.json.99.tmp", "m1.accepted.json", "notes.txt"] {
            #expect(FileManager.default.createFile(atPath: url.appendingPathComponent(name).path, contents: Data("x".utf8)))
        }
        #expect(dir.removeStaleStaging() == 2)
        #expect(names(url) == ["m1.accepted.json", "notes.txt"])
        // In rejected/ only the gateway's own temporaries go; a unit's dot-file stays.
        for name in [".gw-staged-12-3-99.tmp", ".a.error.json.77.tmp", ".the-units-own.tmp"] {
            #expect(FileManager.default.createFile(atPath: url.appendingPathComponent(name).path, contents: Data("x".utf8)))
        }
        #expect(dir.removeStaleStaging(errorFilesOnly: true) == 2)
        #expect(names(url) == [".the-units-own.tmp", "m1.accepted.json", "notes.txt"])
    }

    @Test("each start stages in a new folder under SPOOL/.staging and removes the old ones")
    func stagingFolder() throws {
        let (url, _) = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: url) }
        // A folder of another live process (pid 1) stays; one of a process that is gone goes.
        try FileManager.default.createDirectory(at: url.appendingPathComponent(".staging/run-1-7"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: url.appendingPathComponent(".staging/run-2147483646-7"), withIntermediateDirectories: true)
        let first = try Spool(root: url.path, units: ["PL-KGP"])
        let firstStaging = first.units["PL-KGP"]!.staging.path
        #expect(firstStaging.hasPrefix(url.path + "/.staging/run-"))
        let second = try Spool(root: url.path, units: ["PL-KGP"])
        let secondStaging = second.units["PL-KGP"]!.staging.path
        #expect(secondStaging != firstStaging)
        #expect(names(url.appendingPathComponent(".staging")) == ["run-1-7", URL(fileURLWithPath: secondStaging).lastPathComponent].sorted())
    }

    @Test("a reports/ folder that gives its files its group (set-group-ID) has them staged in it, so a report is the unit's group's to read")
    func setgidReportsStagedInPlace() throws {
        let (url, _) = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: url) }
        let reports = url.appendingPathComponent("PL-KGP/reports")
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        // The deployment gives reports/ to the unit's group, set-group-ID (a group other than ours).
        let unitGroup: gid_t = getegid() == 4321 ? 4322 : 4321
        let canChown = chown(reports.path, getuid(), unitGroup) == 0
        #expect(chmod(reports.path, 0o2770) == 0)
        let spool = try Spool(root: url.path, units: ["PL-KGP"])
        let unit = try #require(spool.units["PL-KGP"])
        #expect(unit.staging === unit.reports, "staged in reports/ itself")
        try unit.reports.stage(Array("r".utf8), in: unit.staging).publish(as: "r.json")
        var st = stat()
        #expect(stat(reports.appendingPathComponent("r.json").path, &st) == 0)
        if canChown { #expect(st.st_gid == unitGroup, "the report has the unit's group") }
        // Without the bit, the spool's staging folder is used.
        #expect(chmod(reports.path, 0o770) == 0)
        let plain = try Spool(root: url.path, units: ["PL-KGP"])
        #expect(plain.units["PL-KGP"]!.staging !== plain.units["PL-KGP"]!.reports)
    }

    @Test("without a staging folder, reports are staged in reports/ itself and the reason is kept")
    func stagingFallback() throws {
        let (url, _) = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(FileManager.default.createFile(atPath: url.appendingPathComponent(".staging").path, contents: Data("not a folder".utf8)))
        let spool = try Spool(root: url.path, units: ["PL-KGP"])
        #expect(spool.stagingProblem?.contains(".staging") == true, "\(spool.stagingProblem ?? "nil")")
        let unit = try #require(spool.units["PL-KGP"])
        #expect(unit.staging === unit.reports)
        try unit.reports.stage(Array("r".utf8), in: unit.staging).publish(as: "r.json")
        #expect(names(url.appendingPathComponent("PL-KGP/reports")) == ["r.json"])
    }

    /// A gateway installation's queue, signer and report writer, without the daemon.
    struct Installation {
        let fixture: GatewayFixture
        let store: QueueStore
        let signer: JWSGatewaySigner
        let writer: ReportWriter

        init() throws {
            fixture = try GatewayFixture()
            let config = try ConfigLoader.load(path: fixture.configPath)
            store = try QueueStore(path: config.queue.path)
            signer = try GatewayKeys.load(config).messageSigner
            let spool = try Spool(root: config.spool.directory, units: config.units)
            writer = ReportWriter(store: store, spool: spool, signer: signer, gatewayId: config.gatewayId, logger: Logger(label: "test"))
        }
    }

    @Test("accepted reports lost in a crash are written again at start, signed, then confirmed")
    func recoverAcceptedReports() throws {
        let installation = try Installation()
        let (fixture, store, signer, writer) = (installation.fixture, installation.store, installation.signer, installation.writer)
        // Queued (and its outbox file removed) but the report never reached the disk.
        var batch: [NewMessage] = []
        for (i, unit) in ["PL-KGP", "PL-CBA"].enumerated() {
            let doc: JSON = ["messageId": .string("lost-\(i)"), "sender": .string(unit)]
            let canonical = try doc.canonicalBytes()
            batch.append(NewMessage(sender: unit, messageId: "lost-\(i)", type: "alert", priority: .urgent, classification: .restricted,
                                    createdAt: 0, expiresAt: 1_900_000_000_000, contentDigest: SHA256.hex(canonical),
                                    jws: try signer.sign(payload: canonical), sourceFile: "drop-\(i).json",
                                    routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol"), Route(recipient: "EU-OLAF", endpoint: "olaf")],
                                    acceptedAt: 1_800_000_000_000, tracksAcceptedReport: true))
        }
        _ = try store.enqueue(batch)
        #expect(try store.unsyncedAcceptedReports().count == 2)

        #expect(try writer.recover() == 2)
        #expect(try store.unsyncedAcceptedReports().isEmpty, "confirmed once on disk")
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        for (i, unit) in ["PL-KGP", "PL-CBA"].enumerated() {
            let file = fixture.reports(unit).appendingPathComponent("drop-\(i).accepted.json")
            let verified = try JWSVerifier().verify([UInt8](Data(contentsOf: file)), trustStore: trust)
            let report = try JSON.parse(verified.payload)
            #expect(report["kind"] == "accepted")
            #expect(report["messageId"] == .string("lost-\(i)"))
            #expect(report["sender"] == .string(unit))
            #expect(report["file"] == .string("drop-\(i).json"))
            #expect(report["recipients"] == ["EU-EUROPOL", "EU-OLAF"])
            #expect(report["at"] == .string(RFC3339.format(millis: 1_800_000_000_000)), "the time the gateway took it, not the time of the rewrite")
            #expect(report["digest"] == .string(batch[i].contentDigest))
        }
        #expect(try writer.recover() == 0)
    }

    @Test("an accepted report the start cannot write (its unit's folder full, or the unit not configured) stays listed and is written by a later try once it can be",
          .enabled(if: SmallFileSystem.available, "mounts a tmpfs for the spool: needs root or passwordless sudo"))
    func recoverLeftoversRetried() throws {
        let fixture = try GatewayFixture()
        let config = try ConfigLoader.load(path: fixture.configPath)
        let small = try SmallFileSystem(at: URL(fileURLWithPath: config.spool.directory), megabytes: 2)
        defer { small.unmount() }
        let store = try QueueStore(path: config.queue.path)
        let signer = try GatewayKeys.load(config).messageSigner
        let spool = try Spool(root: config.spool.directory, units: config.units)
        let writer = ReportWriter(store: store, spool: spool, signer: signer, gatewayId: config.gatewayId, logger: Logger(label: "test"))
        var batch: [NewMessage] = []
        for (id, unit) in [("full-1", "PL-KGP"), ("gone-1", "PL-GONE")] {
            let canonical = try (["messageId": .string(id), "sender": .string(unit)] as JSON).canonicalBytes()
            batch.append(NewMessage(sender: unit, messageId: id, type: "alert", priority: .routine, classification: .restricted,
                                    createdAt: 0, expiresAt: 1_900_000_000_000, contentDigest: SHA256.hex(canonical),
                                    jws: try signer.sign(payload: canonical), sourceFile: "\(id).json",
                                    routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")],
                                    acceptedAt: 1_800_000_000_000, tracksAcceptedReport: true))
        }
        _ = try store.enqueue(batch)
        let filler = URL(fileURLWithPath: config.spool.directory).appendingPathComponent("filler")
        try small.fill(filler, leaving: 0)
        #expect(try writer.recover() == 0)
        #expect(writer.hasLeftovers)
        #expect(try store.unsyncedAcceptedReports().count == 2, "both stay listed (the unit not configured too: it was dropped before)")
        #expect(try writer.retryLeftovers() == 0, "still full")
        // Space comes back: the next try writes the configured unit's report; the other waits for its unit.
        try FileManager.default.removeItem(at: filler)
        #expect(try writer.retryLeftovers() == 1)
        let file = fixture.reports("PL-KGP").appendingPathComponent("full-1.accepted.json")
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        let report = try JSON.parse(try JWSVerifier().verify([UInt8](Data(contentsOf: file)), trustStore: trust).payload)
        #expect(report["messageId"] == "full-1" && report["at"] == .string(RFC3339.format(millis: 1_800_000_000_000)))
        #expect(try store.unsyncedAcceptedReports().map(\.messageId) == ["gone-1"])
        #expect(writer.hasLeftovers)
    }

    @Test("a crash rewrite of an accepted report that took one of the message's own names keeps it there, even once the first name is free again")
    func rewriteFindsOwnName() throws {
        let installation = try Installation()
        let (fixture, store, signer, writer) = (installation.fixture, installation.store, installation.signer, installation.writer)
        let reports = fixture.reports("PL-KGP")
        for id in ["a-1", "b-1"] {
            let canonical = try (["messageId": .string(id), "sender": "PL-KGP"] as JSON).canonicalBytes()
            _ = try store.enqueue([NewMessage(sender: "PL-KGP", messageId: id, type: "alert", priority: .routine, classification: .restricted,
                                              createdAt: 0, contentDigest: SHA256.hex(canonical), jws: try signer.sign(payload: canonical),
                                              sourceFile: "request.json", routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")],
                                              acceptedAt: 1_800_000_000_000, tracksAcceptedReport: true)])
        }
        // Both written (b-1's under its own name, a-1's has the first), then b-1's sync lost in a crash.
        #expect(try writer.recover() == 2)
        #expect(names(reports) == ["request.accepted.json", "request.b-1.accepted.json"])
        let b = try #require(try store.message("b-1", sender: "PL-KGP"))
        #expect(try store.trackAcceptedReport(messageRowId: b.deliveries[0].summary.messageRowId, sourceFile: "request.json") != nil)
        // The unit takes a-1's report away; the start writes b-1's again: kept where it is.
        try FileManager.default.removeItem(at: reports.appendingPathComponent("request.accepted.json"))
        #expect(try writer.recover() == 1)
        #expect(names(reports) == ["request.b-1.accepted.json"], "one accepted report for b-1, not a second under the free first name")
        #expect(try store.unsyncedAcceptedReports().isEmpty)
    }

    @Test("a failed sync confirms nothing, and the reports it covered are written again as new files (the failed one is not kept), then confirmed")
    func failedSyncRewritesFresh() throws {
        let installation = try Installation()
        let (fixture, store, signer, writer) = (installation.fixture, installation.store, installation.signer, installation.writer)
        let reports = fixture.reports("PL-KGP")
        let canonical = try (["messageId": "s-1", "sender": "PL-KGP"] as JSON).canonicalBytes()
        _ = try store.enqueue([NewMessage(sender: "PL-KGP", messageId: "s-1", type: "alert", priority: .routine, classification: .restricted,
                                          createdAt: 0, contentDigest: SHA256.hex(canonical), jws: try signer.sign(payload: canonical),
                                          sourceFile: "s.json", routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")],
                                          acceptedAt: 1_800_000_000_000, tracksAcceptedReport: true)])
        func inode(_ name: String) -> ino_t? {
            var st = stat()
            return stat(reports.appendingPathComponent(name).path, &st) == 0 ? st.st_ino : nil
        }
        writer.syncFailure.withLock { $0 = EIO }
        // The accepted report: written, its sync fails: not confirmed.
        #expect(try writer.recover() == 0)
        #expect(try store.unsyncedAcceptedReports().count == 1 && writer.hasLeftovers)
        let acceptedBefore = try #require(inode("s.accepted.json"))
        // An owed report: written, its sync fails: still owed.
        let job = try #require(try store.claimDue(endpoint: "europol", limit: 1).first)
        let body: JSON = ["kind": "failed", "messageId": "s-1", "sender": "PL-KGP", "recipient": "EU-EUROPOL", "file": "s.json", "reason": "HTTP 422"]
        try store.resolve([.init(job: job, attempt: nil, resolution: .failed(reason: "HTTP 422"), report: try body.canonicalString())])
        #expect(writer.flush() == 1)
        writer.sync()
        #expect(try store.owedReports().count == 1, "not confirmed")
        let failedBefore = try #require(inode("s.failed.EU-EUROPOL.json"))
        // The disk works again: each is written as a new file under its name, and confirmed.
        writer.syncFailure.withLock { $0 = nil }
        #expect(try writer.retryLeftovers() == 1)
        #expect(writer.flush() == 1)
        writer.sync()
        #expect(try store.unsyncedAcceptedReports().isEmpty && !writer.hasLeftovers)
        #expect(try store.owedReports().isEmpty)
        #expect(inode("s.accepted.json") != nil && inode("s.accepted.json") != acceptedBefore, "a new file, not the one whose sync failed")
        #expect(inode("s.failed.EU-EUROPOL.json") != nil && inode("s.failed.EU-EUROPOL.json") != failedBefore)
        #expect(names(reports) == ["s.accepted.json", "s.failed.EU-EUROPOL.json"], "one of each, nothing under another name")
        // Once written fresh, a later rewrite keeps the file as usual.
        #expect(writer.flush() == 0)
    }

    @Test("a unit that reuses a file name keeps every report: another message's is never replaced, the same report written again is")
    func reusedFileNames() throws {
        let installation = try Installation()
        let (fixture, store, signer, writer) = (installation.fixture, installation.store, installation.signer, installation.writer)
        let reports = fixture.reports("PL-KGP")
        // Three messages dropped one after the other as "request.json".
        for id in ["m-1", "m-2", "m-3"] {
            let doc: JSON = ["messageId": .string(id), "sender": "PL-KGP"]
            let canonical = try doc.canonicalBytes()
            _ = try store.enqueue([NewMessage(sender: "PL-KGP", messageId: id, type: "alert", priority: .routine, classification: .restricted,
                                              createdAt: 0, contentDigest: SHA256.hex(canonical), jws: try signer.sign(payload: canonical),
                                              sourceFile: "request.json", routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")],
                                              acceptedAt: 1_800_000_000_000, tracksAcceptedReport: true)])
        }
        // Something of the unit's own already under one of the names.
        try Data("the unit's notes".utf8).write(to: reports.appendingPathComponent("request.m-3.accepted.json"))
        #expect(try writer.recover() == 3)
        for _ in 1...3 {
            let job = try #require(try store.claimDue(endpoint: "europol", limit: 1).first)
            let body: JSON = ["kind": "failed", "messageId": .string(job.messageId), "sender": "PL-KGP", "recipient": "EU-EUROPOL",
                              "file": "request.json", "reason": "HTTP 422"]
            try store.resolve([.init(job: job, attempt: nil, resolution: .failed(reason: "HTTP 422"), report: try body.canonicalString())])
        }
        #expect(writer.flush() == 3)
        writer.sync()
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        func about(_ name: String) throws -> (kind: String?, messageId: String?) {
            let report = try JSON.parse(try JWSVerifier().verify([UInt8](Data(contentsOf: reports.appendingPathComponent(name))), trustStore: trust).payload)
            return (report["kind"]?.stringValue, report["messageId"]?.stringValue)
        }
        // The first of each kind has the plain name, the later ones the message's id added.
        #expect(try about("request.accepted.json") == ("accepted", "m-1"))
        #expect(try about("request.m-2.accepted.json") == ("accepted", "m-2"))
        #expect(try about("request.failed.EU-EUROPOL.json") == ("failed", "m-1"))
        #expect(try about("request.m-2.failed.EU-EUROPOL.json") == ("failed", "m-2"))
        #expect(try about("request.m-3.failed.EU-EUROPOL.json") == ("failed", "m-3"))
        // m-3's accepted report could not have its first own name either (the unit's file is
        // there, left as it was): it has the next.
        #expect(try about("request.m-3~2.accepted.json") == ("accepted", "m-3"))
        #expect(try String(contentsOf: reports.appendingPathComponent("request.m-3.accepted.json"), encoding: .utf8) == "the unit's notes")
        #expect(names(reports).count == 7, "\(names(reports))")
        // The same report written again (a crash before the sync, the file dropped again):
        // the one there is kept as it was first written.
        let again = [UInt8](try Data(contentsOf: reports.appendingPathComponent("request.m-2.accepted.json")))
        let unit = try #require(writer.spool.units["PL-KGP"])
        #expect(try unit.reports.stage(again, in: unit.staging).publish(as: "request.accepted.json") { ReportWriter.nameIfTaken($0, $1, ours: again) }
                == "request.m-2.accepted.json")
        let first = [UInt8](try Data(contentsOf: reports.appendingPathComponent("request.accepted.json")))
        #expect(try unit.reports.stage(first, in: unit.staging).publish(as: "request.accepted.json") { ReportWriter.nameIfTaken($0, $1, ours: first) }
                == "request.accepted.json")
        #expect(names(reports).count == 7, "\(names(reports))")
        #expect([UInt8](try Data(contentsOf: reports.appendingPathComponent("request.accepted.json"))) == first)
        // Signed again (ECDSA: other bytes), the same subject: the first stays byte for byte.
        let original = [UInt8](try Data(contentsOf: reports.appendingPathComponent("request.m-2.accepted.json")))
        let payload = try #require(try JSON.parse(again)["payload"]?.stringValue.flatMap { Base64URL.decode($0) })
        let resigned = try signer.sign(payload: payload)
        #expect(resigned != original)
        #expect(try unit.reports.stage(resigned, in: unit.staging).publish(as: "request.accepted.json") { ReportWriter.nameIfTaken($0, $1, ours: resigned) }
                == "request.m-2.accepted.json")
        #expect([UInt8](try Data(contentsOf: reports.appendingPathComponent("request.m-2.accepted.json"))) == original)
        // The same id and name with other content (after retention pruned the first): another message's report, a name of its own.
        var other = try JSON.parse(payload)
        other = Samples.set(other, "digest", .string(String(repeating: "e", count: 64)))
        let otherSigned = try signer.sign(payload: try other.canonicalBytes())
        #expect(try unit.reports.stage(otherSigned, in: unit.staging).publish(as: "request.accepted.json") { ReportWriter.nameIfTaken($0, $1, ours: otherSigned) }
                == "request.m-2~2.accepted.json")
        #expect(names(reports).count == 8, "\(names(reports))")
        // Another outcome about the same delivery (requeued, failed again, another reason): news, a name of its own.
        let firstFailure = [UInt8](try Data(contentsOf: reports.appendingPathComponent("request.failed.EU-EUROPOL.json")))
        var failedAgain = try JSON.parse(try #require(try JSON.parse(firstFailure)["payload"]?.stringValue.flatMap { Base64URL.decode($0) }))
        failedAgain = Samples.set(failedAgain, "reason", "HTTP 403")
        let againSigned = try signer.sign(payload: try failedAgain.canonicalBytes())
        #expect(try unit.reports.stage(againSigned, in: unit.staging).publish(as: "request.failed.EU-EUROPOL.json") { ReportWriter.nameIfTaken($0, $1, ours: againSigned) }
                == "request.m-1.failed.EU-EUROPOL.json")
        #expect([UInt8](try Data(contentsOf: reports.appendingPathComponent("request.failed.EU-EUROPOL.json"))) == firstFailure)
        // The same failure written again (a crash before the sync): kept.
        let firstPayload = try #require(try JSON.parse(firstFailure)["payload"]?.stringValue.flatMap { Base64URL.decode($0) })
        let rewritten = try signer.sign(payload: firstPayload)
        #expect(try unit.reports.stage(rewritten, in: unit.staging).publish(as: "request.failed.EU-EUROPOL.json") { ReportWriter.nameIfTaken($0, $1, ours: rewritten) }
                == "request.failed.EU-EUROPOL.json")
        #expect(names(reports).count == 9, "\(names(reports))")
    }

    @Test("written reports are confirmed only by the sync, and not written twice meanwhile")
    func syncConfirms() throws {
        let installation = try Installation()
        let (fixture, store, signer, writer) = (installation.fixture, installation.store, installation.signer, installation.writer)
        let doc: JSON = ["messageId": "m-1", "sender": "PL-KGP"]
        let canonical = try doc.canonicalBytes()
        _ = try store.enqueue([NewMessage(sender: "PL-KGP", messageId: "m-1", type: "alert", priority: .routine, classification: .restricted,
                                          createdAt: 0, contentDigest: SHA256.hex(canonical), jws: try signer.sign(payload: canonical),
                                          sourceFile: "m-1.json", routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")])])
        let job = try #require(try store.claimDue(endpoint: "europol", limit: 1).first)
        let body: JSON = ["kind": "failed", "messageId": "m-1", "sender": "PL-KGP", "recipient": "EU-EUROPOL", "file": "m-1.json", "reason": "HTTP 422"]
        try store.resolve([.init(job: job, attempt: nil, resolution: .failed(reason: "HTTP 422"), report: try body.canonicalString())])
        #expect(writer.flush() == 1)
        #expect(FileManager.default.fileExists(atPath: fixture.reports("PL-KGP").appendingPathComponent("m-1.failed.EU-EUROPOL.json").path))
        #expect(try store.owedReports().count == 1, "written, not yet known to be on disk")
        #expect(writer.flush() == 0, "not written twice while it waits for the sync")
        writer.sync()
        #expect(try store.owedReports().isEmpty)
    }

    @Test("the background checkpointer copies the WAL back and empties it at stop")
    func checkpointer() throws {
        let fixture = try GatewayFixture()
        let config = try ConfigLoader.load(path: fixture.configPath)
        let store = try QueueStore(path: config.queue.path, checkpointsInBackground: true)
        let checkpointer = try store.startCheckpointer(interval: 0.05)
        var batch: [NewMessage] = []
        for i in 0..<2_000 {
            batch.append(NewMessage(sender: "PL-KGP", messageId: "c-\(i)", type: "alert", priority: .routine, classification: .restricted,
                                    createdAt: 0, contentDigest: "d", jws: Array(repeating: 0x41, count: 2_000),
                                    routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")]))
        }
        _ = try store.enqueue(batch)
        let wal = config.queue.path + "-wal"
        func walSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? -1 }
        #expect(walSize() > 4_000_000, "the commit itself did not checkpoint")
        checkpointer.stop()
        #expect(walSize() == 0, "truncated at stop")
        #expect(checkpointer.lastError == nil)
        #expect(try store.countDeliveries() == 2_000)
    }
}
