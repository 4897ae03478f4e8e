import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Testing

/// gatewayctl as a real process against a real queue, while gatewayd delivers to agency-mock.
@Suite("gatewayctl against a running gateway", .serialized)
struct ConsoleTests {
    /// A running gateway with some traffic: `held` messages to OLAF are held before delivery.
    final class Running {
        let mock: MockProcess
        let fixture: GatewayFixture
        let daemon: DaemonProcess
        var ids: [String] = []

        init() throws {
            mock = try MockProcess.start(config: MockProcess.configuration(agencies: GatewayFixture.agencies.map(\.id)))
            var ports: [String: Int] = [:]
            for (id, name) in GatewayFixture.agencies { ports[name] = mock.ports[id] }
            fixture = try GatewayFixture(ports: ports, extra: "retry:\n  initialBackoff: 100ms\n  maxBackoff: 500ms\n")
            // A breaker that reopens quickly, so that steering shows at once.
            let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
                .replacingOccurrences(of: "    classificationCeiling:", with: "    breaker: { failureThreshold: 5, openFor: 200ms }\n    classificationCeiling:")
            try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
            // A TLS key log asked for in the environment is never written by gatewayd, and
            // proxies from the environment are never used (only an endpoint's `proxy`): every
            // variable points at a closed port and no_proxy is empty, so the deliveries the
            // tests below wait for would fail if libcurl took them.
            let closed = "http://127.0.0.1:9"  // the discard port: nothing listens
            daemon = try DaemonProcess.start(fixture, environment: [
                "SSLKEYLOGFILE": fixture.root.appendingPathComponent("tls-keys.log").path,
                "https_proxy": closed, "HTTPS_PROXY": closed, "http_proxy": closed, "ALL_PROXY": closed, "all_proxy": closed,
                "no_proxy": "", "NO_PROXY": ""])
            let samples = try Samples.valid()
            for i in 0..<12 {
                let id = String(format: "ctl-%05d", i)
                let message = Samples.adapt(samples[i % samples.count].1, unit: "PL-KGP", id: id, recipients: ["EU-EUROPOL"])
                try fixture.drop(Samples.bytes(message), unit: "PL-KGP", name: "\(id).json")
                ids.append(id)
            }
            let store = try QueueStore(path: fixture.queuePath)
            guard waitUntil(timeout: 60, { (try? store.list(Self.delivered, limit: 100).count) == 12 }) else {
                daemon.stop()
                mock.stop()
                throw NotReady(description: "the 12 messages were not delivered: \(daemon.log.suffix(2000))")
            }
        }

        struct NotReady: Error, CustomStringConvertible { let description: String }

        static var delivered: DeliveryFilter {
            var f = DeliveryFilter()
            f.states = [.delivered]
            return f
        }

        func ctl(_ args: String...) -> ProcessRunner.Result { fixture.ctl(args) }

        deinit {
            daemon.stop()
            mock.stop()
        }
    }

    @Test("queue list, show and stats (human and --json) while the daemon runs")
    func inspect() throws {
        let g = try Running()
        // Twelve deliveries over TLS, and no key log written (said in the log).
        #expect(!FileManager.default.fileExists(atPath: g.fixture.root.appendingPathComponent("tls-keys.log").path))
        #expect(g.daemon.log.contains("SSLKEYLOGFILE is set in gatewayd's environment: ignored"), "\(g.daemon.log)")
        let list = g.ctl("queue", "list", "--state", "delivered")
        #expect(list.status == 0)
        #expect(list.stdout.contains("DELIVERY") && list.stdout.contains("ctl-00011") && list.stdout.contains("EU-EUROPOL"))
        // Several values: repeated, or separated by commas.
        for args in [["--state", "queued,delivered"], ["--state", "queued", "--state", "delivered"]] {
            let several = g.fixture.ctl(["queue", "list"] + args)
            #expect(several.status == 0 && several.stdout.contains("ctl-00011"), "\(args): \(several.stdout)\(several.stderr)")
        }
        let json = try JSON.parse(g.ctl("--json", "queue", "list", "--limit", "5").stdout)
        #expect(json.arrayValue?.count == 5)
        #expect(json[0]?["state"] == "delivered")
        let page2 = try JSON.parse(g.ctl("queue", "list", "--json", "--limit", "5", "--page", "3").stdout)
        #expect(page2.arrayValue?.count == 2)
        let show = g.ctl("queue", "show", "ctl-00003")
        #expect(show.status == 0)
        #expect(show.stdout.contains("HTTP 201") && show.stdout.contains("receipt received") && show.stdout.contains("audit trail"))
        let showJSON = try JSON.parse(g.ctl("queue", "show", "ctl-00003", "--json", "--payload").stdout)
        #expect(showJSON["payload"]?["messageId"] == "ctl-00003")
        #expect(showJSON["deliveries"]?[0]?["receipt"]?["jws"] != nil)
        // The same message id from another unit is refused at pickup (agencies de-duplicate by id)...
        let twin = Samples.adapt(try Samples.valid()[0].1, unit: "PL-CBA", id: "ctl-00003", recipients: ["EU-EUROPOL"])
        try g.fixture.drop(Samples.bytes(twin), unit: "PL-CBA", name: "twin.json")
        #expect(waitUntil(timeout: 20) { g.fixture.files(g.fixture.rejected("PL-CBA")).contains("twin.error.json") })
        // ...but a queue of an earlier version may hold one: a bare id is then ambiguous for
        // show and for the actions; --sender or the #DELIVERY number (as queue list shows it) narrows it.
        let store = try QueueStore(path: g.fixture.queuePath)
        let copied = ProcessRunner.run("/usr/bin/env", ["sqlite3", "-cmd", ".timeout 10000", g.fixture.queuePath, """
            INSERT INTO message (sender, message_id, type, priority, classification, subject, case_reference, created_at, accepted_at,
                                 expires_at, content_digest, source_file, jws, jws_header)
              SELECT 'PL-CBA', message_id, type, priority, classification, subject, case_reference, created_at, accepted_at,
                     expires_at, content_digest, 'twin.json', jws, jws_header FROM message WHERE sender = 'PL-KGP' AND message_id = 'ctl-00003';
            INSERT INTO delivery (message, recipient, endpoint, state, priority_rank, accepted_at, next_attempt_at, updated_at, reason)
              SELECT m.id, 'EU-EUROPOL', 'europol', 'failed', 2, m.accepted_at, NULL, m.accepted_at, 'HTTP 422'
              FROM message m WHERE m.sender = 'PL-CBA' AND m.message_id = 'ctl-00003';
            """])
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(waitUntil(timeout: 20) { (try? store.message("ctl-00003", sender: "PL-CBA")) != nil })
        let ambiguous = g.ctl("queue", "show", "ctl-00003")
        #expect(ambiguous.status == 1 && ambiguous.stderr.contains("--sender"), "\(ambiguous.stderr)")
        let hold = g.ctl("hold", "ctl-00003", "--yes")
        #expect(hold.status == 1 && hold.stderr.contains("several units (PL-CBA, PL-KGP)"), "\(hold.stderr)")
        let twinDelivery = try #require(try store.message("ctl-00003", sender: "PL-CBA")?.deliveries.first?.summary.deliveryId)
        let byNumber = g.ctl("queue", "show", "#\(twinDelivery)")
        #expect(byNumber.status == 0 && byNumber.stdout.contains("sender      PL-CBA"), "\(byNumber.stdout)\(byNumber.stderr)")
        #expect(g.ctl("queue", "show", "ctl-00003", "--sender", "PL-KGP").stdout.contains("sender      PL-KGP"))
        let missing = g.ctl("queue", "show", "no-such-message")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no message no-such-message"))
        let stats = g.ctl("queue", "stats")
        #expect(stats.status == 0 && stats.stdout.contains("europol") && stats.stdout.contains("pending deliveries by age"))
        let statsJSON = try JSON.parse(g.ctl("queue", "stats", "--json").stdout)
        #expect(statsJSON["totals"]?["delivered"] == 12)
        // Whether gatewayd runs and takes files: the process holding the queue's lock, and
        // the pickup state it wrote (within a housekeeping tick of its start).
        let pid = g.daemon.process.processIdentifier
        #expect(waitUntil(timeout: 20) { g.ctl("queue", "stats").stdout.contains("gatewayd      running (pid \(pid)); pickup running since ") },
                "\(g.ctl("queue", "stats").stdout)")
        let running = try JSON.parse(g.ctl("queue", "stats", "--json").stdout)["gatewayd"]
        #expect(running?["running"] == true && running?["pid"]?.doubleValue == Double(pid) && running?["pickup"] == "running", "\(String(describing: running))")
    }

    @Test("hold, release, retry, cancel, requeue: by id and by filter, confirmed, audited with the operator's name")
    func steer() throws {
        let g = try Running()
        // Make OLAF unreachable so that new messages wait, then steer them.
        // 503 with a long Retry-After: the deliveries stay deferred while we steer them.
        g.mock.control("POST", "/faults", json: #"{"agency":"EU-OLAF","failRate":1.0,"status":503,"retryAfter":"60"}"#)
        let samples = try Samples.valid()
        for i in 0..<4 {
            let id = String(format: "olaf-%05d", i)
            try g.fixture.drop(Samples.bytes(Samples.adapt(samples[i].1, unit: "PL-CBA", id: id, recipients: ["EU-OLAF"])), unit: "PL-CBA", name: "\(id).json")
        }
        let store = try QueueStore(path: g.fixture.queuePath)
        var olaf = DeliveryFilter()
        olaf.recipients = ["EU-OLAF"]
        olaf.states = [.deferred]
        #expect(waitUntil(timeout: 20) { (try? store.countDeliveries(olaf)) == 4 })
        // retry: a deferred delivery is tried again now (and deferred again by the fault).
        let retried = g.ctl("retry", "olaf-00002")
        #expect(retried.status == 0 && retried.stdout.contains("retry: 1 delivery changed"), "\(retried.stdout)\(retried.stderr)")
        #expect(waitUntil(timeout: 20) { (try? store.message("olaf-00002", sender: "PL-CBA"))??.deliveries.first?.attempts.count == 2 })
        #expect(waitUntil(timeout: 20) { (try? store.countDeliveries(olaf)) == 4 })
        // By filter, without --yes and without a terminal: refused, nothing changed.
        let unconfirmed = g.ctl("hold", "--recipient", "EU-OLAF")
        #expect(unconfirmed.status == 1)
        #expect(unconfirmed.stdout.contains("hold: 4 deliveries match") && unconfirmed.stderr.contains("--yes"))
        let held = g.ctl("hold", "--recipient", "EU-OLAF", "--yes", "--reason", "investigating OLAF outage")
        #expect(held.status == 0 && held.stdout.contains("4 deliveries changed"))
        var heldFilter = DeliveryFilter()
        heldFilter.states = [.held]
        #expect(try store.countDeliveries(heldFilter) == 4)
        // From here OLAF refuses for good (422), so whatever is released fails: set before
        // the first release, or a delivery released while the 503 fault still held would
        // wait out its 60 s Retry-After (the daemon sees operator changes within a second,
        // sooner or later depending on the machine's load).
        g.mock.control("POST", "/faults", json: #"{"agency":"EU-OLAF","failRate":1.0,"status":422}"#)
        // A reason that looks like the gateway's own hold marker is refused (gatewayd would release it).
        #expect(g.ctl("hold", "olaf-00000", "--reason", "held by gatewayd: looks official").status == 64)
        // By id.
        #expect(g.ctl("release", "olaf-00000").status == 0)
        // An id after a filter narrows it (the filter takes one value): this one message only.
        let cancelled = g.ctl("cancel", "--recipient", "EU-OLAF", "olaf-00001", "--reason", "sent in error")
        #expect(cancelled.status == 0 && cancelled.stdout.contains("cancel: 1 delivery changed"), "\(cancelled.stdout)\(cancelled.stderr)")
        // Nothing to do is a failed check.
        #expect(g.ctl("release", "olaf-00001").status == 1)
        // Failed deliveries come back with requeue; deferred ones are retried now.
        #expect(g.ctl("release", "--state", "held", "--yes").status == 0)
        var failed = DeliveryFilter()
        failed.states = [.failed]
        #expect(waitUntil(timeout: 20) { (try? store.countDeliveries(failed)) == 3 })
        g.mock.control("DELETE", "/faults")
        let requeue = g.ctl("requeue", "--recipient", "EU-OLAF", "--since", "2020-01-01", "--yes")
        #expect(requeue.status == 0 && requeue.stdout.contains("3 deliveries changed"))
        #expect(waitUntil(timeout: 20) { (try? store.countDeliveries({ var f = DeliveryFilter(); f.recipients = ["EU-OLAF"]; f.states = [.delivered]; return f }())) == 3 })
        #expect(g.ctl("retry", "--state", "deferred", "--yes").status == 1, "nothing deferred any more")
        // The audit log names the operator and the reason; the unit got a cancellation report.
        let tail = try JSON.parse(g.ctl("audit", "tail", "-n", "200", "--json").stdout).arrayValue ?? []
        // SUDO_USER is believed when running as root only.
        let environment = ProcessInfo.processInfo.environment
        let account = getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid-\(geteuid())"
        let operatorName = (geteuid() == 0 ? environment["SUDO_USER"].flatMap { $0.isEmpty ? nil : $0 } : nil) ?? account
        #expect(tail.contains { $0["event"] == "held" && $0["actor"]?.stringValue == operatorName && $0["details"]?["reason"] == "investigating OLAF outage" })
        #expect(tail.contains { $0["event"] == "cancelled" })
        #expect(tail.contains { $0["event"] == "retried" && $0["messageId"] == "olaf-00002" })
        // The unit's cancellation report: named after its file, and valid against the report schema.
        let cancellation = g.fixture.reports("PL-CBA").appendingPathComponent("olaf-00001.cancelled.EU-OLAF.json")
        #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: cancellation.path) }, "\(g.fixture.files(g.fixture.reports("PL-CBA")))")
        let jws = try JSON.parse(Data(contentsOf: cancellation))
        let payload = try #require(jws["payload"]?.stringValue.flatMap { Base64URL.decode($0) })
        let payloadFile = g.fixture.root.appendingPathComponent("cancellation-payload.json")
        try Data(payload).write(to: payloadFile)
        let checked = g.ctl("validate", "--schema", "report", payloadFile.path)
        #expect(checked.status == 0, "\(checked.stdout)\(checked.stderr)")
        let report = try JSON.parse(payload)
        #expect(report["kind"] == "cancelled" && report["file"] == "olaf-00001.json" && report["reason"] == "sent in error")
        #expect(report["gateway"] != nil && report["digest"] != nil)
        #expect(g.ctl("verify", cancellation.path).status == 0)
        #expect(g.ctl("audit", "verify").status == 0)
        // gatewayd logs each checkpoint it signs: the anchor an operator keeps off the machine.
        #expect(waitUntil(timeout: 10) { g.daemon.log.contains("audit checkpoint signed") }, "\(g.daemon.log)")
        let logged = try #require(g.daemon.log.firstMatch(of: /anchor="?([0-9]+:[0-9a-f]{64})/)?.1)
        let anchored = g.ctl("audit", "verify", "--anchor", String(logged))
        #expect(anchored.status == 0 && anchored.stdout.contains("1 anchor held"), "\(anchored.stdout)\(anchored.stderr)")
        let seq = logged.split(separator: ":")[0]
        let wrong = g.ctl("audit", "verify", "--anchor", "\(seq):" + String(repeating: "0", count: 64))
        #expect(wrong.status == 1 && wrong.stdout.contains("differs from the anchor"), "\(wrong.stdout)\(wrong.stderr)")
        #expect(g.ctl("audit", "verify", "--anchor", "12:nothex").status != 0)
        // Checkpoints that cannot be checked (no certificate to check them with) fail it.
        #expect(waitUntil(timeout: 10) { ((try? store.verifyAudit(verifier: nil))?.checkpoints ?? 0) > 0 })
        let junk = g.fixture.root.appendingPathComponent("not-a-certificate.pem")
        try Data("not a certificate\n".utf8).write(to: junk)
        let config = try String(contentsOfFile: g.fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: #"chain: [^\n]*signing-chain.pem"#, with: "chain: \(junk.path)", options: .regularExpression)
            .replacingOccurrences(of: #"\n  trustAnchors: [^\n]*"#, with: "", options: .regularExpression)
        let blind = g.fixture.root.appendingPathComponent("blind.yml")
        try config.write(to: blind, atomically: true, encoding: .utf8)
        let unchecked = g.fixture.ctl(["audit", "verify", "--config", blind.path])
        #expect(unchecked.status == 1 && unchecked.stdout.contains("could not be checked"), "\(unchecked.stdout)\(unchecked.stderr)")
        // Nor does a chain whose checkpoints were all deleted (gatewayd stopped first: it would sign another).
        #expect(g.daemon.stop() == 0)
        #expect(ProcessRunner.run("/usr/bin/env", ["sqlite3", g.fixture.queuePath, "DELETE FROM audit_checkpoint"]).status == 0)
        let none = g.ctl("audit", "verify")
        #expect(none.status == 1 && none.stdout.contains("no signed checkpoint"), "\(none.stdout)\(none.stderr)")
    }

    @Test("release puts deliveries back on the routes gatewayd applied last, not on a file it has not applied yet (with a warning)")
    func releaseOnAppliedRoutes() throws {
        let g = try Running()
        let store = try QueueStore(path: g.fixture.queuePath)
        #expect(waitUntil(timeout: 10) { (try? Gateway.appliedRoutes(in: store))?["EU-OLAF"] == "olaf" })
        g.mock.control("POST", "/faults", json: #"{"agency":"EU-OLAF","failRate":1.0,"status":503,"retryAfter":"60"}"#)
        let sample = try Samples.valid()[0].1
        try g.fixture.drop(Samples.bytes(Samples.adapt(sample, unit: "PL-CBA", id: "route-00000", recipients: ["EU-OLAF"])), unit: "PL-CBA", name: "route.json")
        #expect(waitUntil(timeout: 20) { (try? store.message("route-00000", sender: "PL-CBA"))??.deliveries.first?.summary.state == .deferred })
        #expect(g.ctl("hold", "route-00000").status == 0)
        g.mock.control("DELETE", "/faults")
        // The operator edits the routes (OLAF through Europol's endpoint) but has not reloaded.
        let text = try String(contentsOfFile: g.fixture.configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "  EU-OLAF: olaf\n", with: "  EU-OLAF: europol\n").write(toFile: g.fixture.configPath, atomically: true, encoding: .utf8)
        let released = g.ctl("release", "route-00000")
        #expect(released.status == 0 && released.stderr.contains("deliveries go back on gatewayd's routes"), "\(released.stdout)\(released.stderr)")
        let delivery = try #require(try store.message("route-00000", sender: "PL-CBA")?.deliveries.first)
        #expect(delivery.summary.endpoint == "olaf", "on the route gatewayd sends on: \(delivery.summary.endpoint)")
        #expect(waitUntil(timeout: 20) { (try? store.message("route-00000", sender: "PL-CBA"))??.deliveries.first?.summary.state == .delivered })
        let olaf = try JSON.parse(g.mock.control("GET", "/received?agency=EU-OLAF")).arrayValue ?? []
        #expect(olaf.contains { $0["messageId"] == "route-00000" }, "\(olaf)")
    }

    @Test("run as root (sudo), gatewayctl works on the queue as its owner: the files it leaves are the gateway user's; the operator is still the sudo user",
          .enabled(if: geteuid() == 0, "needs root"))
    func sudoActsAsQueueOwner() throws {
        let fixture = try GatewayFixture()
        let config = try ConfigLoader.load(path: fixture.configPath)
        let store = try QueueStore(path: fixture.queuePath)
        let signer = try GatewayKeys.load(config).messageSigner
        let canonical = try JSON.object(["messageId": "sudo-00001", "sender": "PL-KGP"]).canonicalBytes()
        _ = try store.enqueue([NewMessage(sender: "PL-KGP", messageId: "sudo-00001", type: "alert", priority: .routine, classification: .restricted,
                                          createdAt: 0, contentDigest: SHA256.hex(canonical), jws: try signer.sign(payload: canonical),
                                          sourceFile: "sudo-00001.json", routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")])])
        let queueDir = URL(fileURLWithPath: fixture.queuePath).deletingLastPathComponent()
        // The queue's owner must be able to reach it (whatever the test process's umask).
        #expect(chmod(fixture.root.path, 0o755) == 0)
        #expect(ProcessRunner.run("/usr/bin/env", ["chown", "-R", "4321:4321", queueDir.path]).status == 0)
        let ctl = TestPaths.product("gatewayctl").path
        let env = ["GATEWAY_CONFIG": fixture.configPath, "SUDO_USER": "alice"]
        // Ends without closing the queue (no terminal to confirm): what SQLite left is the owner's.
        #expect(ProcessRunner.run(ctl, ["hold", "--recipient", "EU-EUROPOL"], environment: env).status == 1)
        let held = ProcessRunner.run(ctl, ["hold", "--recipient", "EU-EUROPOL", "--yes", "--reason", "sudo test"], environment: env)
        #expect(held.status == 0 && held.stdout.contains("audited as alice"), "\(held.stdout)\(held.stderr)")
        var owners: [String: UInt32] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: queueDir.path) {
            var st = stat()
            if stat(queueDir.appendingPathComponent(name).path, &st) == 0 { owners[name] = st.st_uid }
        }
        #expect(owners.values.allSatisfy { $0 == 4321 }, "\(owners)")
        #expect(try QueueStore(path: fixture.queuePath, readOnly: true).auditTail(limit: 5).contains { $0.event == "held" && $0.actor == "alice" })
    }

    @Test("gatewayctl never upgrades the queue: one of another version is refused with what to do, and reading it changes nothing")
    func queueOfAnotherVersion() throws {
        let fixture = try GatewayFixture()
        _ = try QueueStore(path: fixture.queuePath)   // made and migrated as gatewayd would
        let ctl = { (args: [String]) in fixture.ctl(args) }
        #expect(ctl(["queue", "stats"]).status == 0)
        // A newer gatewayd's queue (a migration this program does not know).
        // The sqlite3 tool (.ci/run installs it) edits the migration records.
        let sqlite = { (sql: String) in ProcessRunner.run("/usr/bin/env", ["sqlite3", fixture.queuePath, sql]) }
        #expect(sqlite("INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')").status == 0)
        let newer = ctl(["queue", "list"])
        #expect(newer.status == 1 && newer.stderr.contains("made by a newer gatewayd"), "\(newer.stderr)")
        #expect(ctl(["hold", "--state", "queued", "--yes"]).stderr.contains("made by a newer gatewayd"))
        // An older one (its last migration not applied): refused, and left as it was.
        #expect(sqlite("DELETE FROM grdb_migrations WHERE identifier = 'v99-from-the-future'").status == 0)
        let last = sqlite("SELECT identifier FROM grdb_migrations ORDER BY rowid DESC LIMIT 1").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!last.isEmpty)
        let quoted = "'" + last.replacingOccurrences(of: "'", with: "''") + "'"
        #expect(sqlite("DELETE FROM grdb_migrations WHERE identifier = \(quoted)").status == 0)
        let older = ctl(["audit", "tail"])
        #expect(older.status == 1 && older.stderr.contains("of an older version"), "\(older.stderr)")
        let still = sqlite("SELECT count(*) FROM grdb_migrations WHERE identifier = \(quoted)").stdout
        #expect(still.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "gatewayctl did not upgrade it")
    }

    @Test("submit never replaces a file waiting in the outbox, takes names of any legal length, and follows no link")
    func submitSafely() throws {
        // No daemon: what is submitted stays in the outbox to be looked at.
        let fixture = try GatewayFixture()
        let outbox = fixture.outbox("PL-KGP")
        try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
        let first = fixture.root.appendingPathComponent("first.json")
        let second = fixture.root.appendingPathComponent("second.json")
        try Data(#"{"n":1}"#.utf8).write(to: first)
        try Data(#"{"n":2}"#.utf8).write(to: second)
        #expect(fixture.ctl(["submit", first.path, "--unit", "PL-KGP", "--name", "waiting.json"]).status == 0)
        let again = fixture.ctl(["submit", second.path, "--unit", "PL-KGP", "--name", "waiting.json"])
        #expect(again.status == 1 && again.stderr.contains("already exists"), "\(again.stderr)")
        #expect(try String(contentsOf: outbox.appendingPathComponent("waiting.json"), encoding: .utf8) == #"{"n":1}"#)
        let long = String(repeating: "L", count: 250) + ".json"
        let longSubmit = fixture.ctl(["submit", second.path, "--unit", "PL-KGP", "--name", long])
        #expect(longSubmit.status == 0, "\(longSubmit.stderr)")
        #expect(fixture.files(outbox).sorted() == [long, "waiting.json"], "no temporary left behind: \(fixture.files(outbox))")
        // An outbox swapped for a link to somewhere else is not written through.
        let elsewhere = fixture.root.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: fixture.spool.appendingPathComponent("PL-CBA"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(at: fixture.outbox("PL-CBA"), withDestinationURL: elsewhere)
        let linked = fixture.ctl(["submit", first.path, "--unit", "PL-CBA"])
        #expect(linked.status == 1 && linked.stderr.contains("not a real directory"), "\(linked.stderr)")
        #expect(fixture.files(elsewhere).isEmpty)
    }

    @Test("validate, verify, submit, config check, certs, and bad usage")
    func filesAndChecks() throws {
        let g = try Running()
        let valid = Samples.validDirectory.appendingPathComponent("alert--stolen-firearm.json").path
        let invalid = Samples.invalidDirectory.appendingPathComponent("envelope--priority-high.json").path
        #expect(g.ctl("validate", valid).status == 0)
        let bad = g.ctl("validate", invalid)
        #expect(bad.status == 1 && bad.stdout.contains("/priority"))
        let receipt = Samples.validDirectory.appendingPathComponent("receipt--received.json").path
        #expect(g.ctl("validate", "--schema", "receipt", receipt).status == 0)
        // verify: a report signed by the gateway; a tampered copy fails.
        let report = g.fixture.reports("PL-KGP").appendingPathComponent("ctl-00000.accepted.json")
        let verified = g.ctl("verify", report.path)
        #expect(verified.status == 0 && verified.stdout.contains("VALID") && verified.stdout.contains("chain         verified"))
        #expect(verified.stdout.contains("schema        follows report.schema.json"), "\(verified.stdout)")
        // With --anchors alone revocation is not checked, and said; --crl checks it: a revoked signer fails.
        let anchorsOnly = g.ctl("verify", "--anchors", try DevPKIFixture.path("trust/gateway-signing.pem"), report.path)
        #expect(anchorsOnly.status == 0 && anchorsOnly.stdout.contains("revocation    not checked"), "\(anchorsOnly.stdout)")
        let revokedSigner = try JWSSigner(key: try PrivateKey.load(path: DevPKIFixture.path("bad/revoked.key")),
                                          chain: try Certificate.load(path: DevPKIFixture.path("bad/revoked-chain.pem")))
        let byRevoked = g.fixture.root.appendingPathComponent("by-revoked.json")
        try Data(try revokedSigner.sign(["kind": "note"]).flattenedJSON).write(to: byRevoked)
        let unknown = g.ctl("verify", "--anchors", try DevPKIFixture.path("trust/gateway-signing.pem"), byRevoked.path)
        #expect(unknown.stdout.contains("revocation    not checked"), "\(unknown.stdout)")
        let checked = g.ctl("verify", "--anchors", try DevPKIFixture.path("trust/gateway-signing.pem"), "--crl", try DevPKIFixture.path("ca/crls.pem"), byRevoked.path)
        #expect(checked.status == 1 && checked.stdout.contains("revoked"), "\(checked.stdout)\(checked.stderr)")
        let crlAlone = g.ctl("verify", "--crl", try DevPKIFixture.path("ca/crls.pem"), report.path)
        #expect(crlAlone.status != 0 && crlAlone.stderr.contains("--crl goes with --anchors"), "\(crlAlone.stderr)")
        // A receipt with a good signature whose payload breaks receipt.schema.json is no evidence.
        let agency = try JWSSigner(key: try PrivateKey.load(path: DevPKIFixture.path("agencies/europol/receipt.key")),
                                   chain: try Certificate.load(path: DevPKIFixture.path("agencies/europol/receipt-chain.pem")))
        var members: [String: JSON] = ["receiptFor": "ctl-00000", "digest": .string(String(repeating: "a", count: 64)), "recipient": "EU-EUROPOL",
                                       "receivedAt": "2026-11-29T12:00:00Z", "status": "received"]
        let goodReceipt = g.fixture.root.appendingPathComponent("receipt-good.json")
        try Data(try agency.sign(.object(members)).flattenedJSON).write(to: goodReceipt)
        members["storedBy"] = "someone"
        let oddReceipt = g.fixture.root.appendingPathComponent("receipt-odd.json")
        try Data(try agency.sign(.object(members)).flattenedJSON).write(to: oddReceipt)
        let good = g.ctl("verify", "--endpoint", "europol", goodReceipt.path)
        #expect(good.status == 0 && good.stdout.contains("follows receipt.schema.json"), "\(good.stdout)\(good.stderr)")
        let odd = g.ctl("verify", "--endpoint", "europol", oddReceipt.path)
        #expect(odd.status == 1 && odd.stdout.contains("INVALID") && odd.stdout.contains("does not follow receipt.schema.json")
                && odd.stdout.contains("/storedBy"), "\(odd.stdout)\(odd.stderr)")
        let oddJSON = try JSON.parse(g.ctl("verify", "--json", "--endpoint", "europol", oddReceipt.path).stdout)
        #expect(oddJSON["valid"] == .bool(false) && oddJSON["schemaErrors"]?.arrayValue?.count == 1, "\(oddJSON)")
        // Dropping the member a receipt is told by does not escape the check.
        members["storedBy"] = nil
        members["receiptFor"] = nil
        let anonymous = g.fixture.root.appendingPathComponent("receipt-anonymous.json")
        try Data(try agency.sign(.object(members)).flattenedJSON).write(to: anonymous)
        let unnamed = g.ctl("verify", "--endpoint", "europol", anonymous.path)
        #expect(unnamed.status == 1 && unnamed.stdout.contains("does not follow receipt.schema.json"), "\(unnamed.stdout)\(unnamed.stderr)")
        // Years later, when the certificates have expired: still valid as of the signing time,
        // and said so; --strict-time refuses it.
        let later = g.ctl("verify", "--at", "2099-01-01", report.path)
        #expect(later.status == 0 && later.stdout.contains("as of its signing time"), "\(later.stdout)\(later.stderr)")
        let strict = g.ctl("verify", "--at", "2099-01-01", "--strict-time", report.path)
        #expect(strict.status == 1 && strict.stdout.contains("expired"), "\(strict.stdout)")
        let before = g.ctl("verify", "--at", "2001-01-01", report.path)
        #expect(before.status == 1, "a certificate not yet valid is not helped by the signing time")
        let original = String(decoding: try Data(contentsOf: report), as: UTF8.self)
        let text = original.replacingOccurrences(of: "\"payload\":\"ey", with: "\"payload\":\"ez")
        #expect(text != original)
        let bytes = Array(text.utf8)
        let tampered = g.fixture.root.appendingPathComponent("tampered.json")
        try Data(bytes).write(to: tampered)
        #expect(g.ctl("verify", tampered.path).status == 1)
        // submit: the atomic drop, then the daemon takes it.
        let message = Samples.adapt(try JSON.parse(Data(contentsOf: URL(fileURLWithPath: valid))), unit: "PL-CBA", id: "submitted-00001")
        let file = g.fixture.root.appendingPathComponent("to-submit.json")
        try Data(Samples.bytes(message)).write(to: file)
        let submitted = g.ctl("submit", file.path, "--unit", "PL-CBA")
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(waitUntil(timeout: 20) { g.fixture.files(g.fixture.reports("PL-CBA")).contains("to-submit.accepted.json") })
        #expect(g.ctl("submit", file.path, "--unit", "PL-NOPE").status == 1)
        // config check and certs.
        let check = g.ctl("config", "check")
        #expect(check.status == 0 && check.stdout.contains("OK"))
        // It says what gatewayd would warn about the file systems, exactly those warnings.
        let fsWarnings = FileSystemCheck.warnings(for: [g.fixture.spool.path, URL(fileURLWithPath: g.fixture.queuePath).deletingLastPathComponent().path])
        #expect(check.stdout.components(separatedBy: "\n").filter { $0.hasPrefix("warning: ") } == fsWarnings.map { "warning: \($0)" })
        // The daemon's start checks of key material: a CRL libcurl cannot read, a TLS key
        // that is not the certificate's.
        let der = g.fixture.root.appendingPathComponent("crl.der")
        #expect(ProcessRunner.run("/usr/bin/env", ["openssl", "crl", "-in", try DevPKIFixture.path("ca/crls.pem"), "-outform", "DER", "-out", der.path]).status == 0)
        let configText = try String(contentsOfFile: g.fixture.configPath, encoding: .utf8)
        let badCRL = g.fixture.root.appendingPathComponent("bad-crl.yml")
        try configText.replacingOccurrences(of: "    classificationCeiling:", with: "    crl: \(der.path)\n    classificationCeiling:").write(to: badCRL, atomically: true, encoding: .utf8)
        let crlCheck = g.fixture.ctl(["config", "check", "--config", badCRL.path])
        #expect(crlCheck.status == 1 && crlCheck.stdout.contains("is not a PEM file"), "\(crlCheck.stdout)\(crlCheck.stderr)")
        let badKey = g.fixture.root.appendingPathComponent("bad-key.yml")
        let pki = try DevPKIFixture.directory().path
        try configText.replacingOccurrences(of: "clientKey: \(pki)/gateway/tls-client.key", with: "clientKey: \(pki)/gateway/signing.key").write(to: badKey, atomically: true, encoding: .utf8)
        let keyCheck = g.fixture.ctl(["config", "check", "--config", badKey.path])
        #expect(keyCheck.status == 1 && keyCheck.stdout.contains("does not belong to the certificate"), "\(keyCheck.stdout)\(keyCheck.stderr)")
        let checkJSON = try JSON.parse(g.ctl("config", "check", "--json").stdout)
        #expect(checkJSON["warnings"]?.arrayValue?.compactMap(\.stringValue) == fsWarnings)
        let certs = g.ctl("certs")
        #expect(certs.status == 0 && certs.stdout.contains("signing") && certs.stdout.contains("ok"))
        // Bad usage is 64; help works.
        #expect(g.ctl("queue", "list", "--state", "lost").status == 64)
        for bad in [["queue", "list", "--older-than", "1e300d"], ["queue", "list", "--page", "9223372036854775807"], ["audit", "tail", "-n", "-1"],
                    ["audit", "tail", "-n", "0"]] {
            let refused = g.fixture.ctl(bad)
            #expect(refused.status == 64, "\(bad): \(refused.status) \(refused.stderr)")
        }
        #expect(g.ctl("frobnicate").status == 64)
        #expect(g.ctl("verify", "--anchors", "/a.pem", "--endpoint", "europol", "/f.json").status == 64, "two sources of anchors")
        #expect(g.ctl("queue", "list", "--help").status == 0)
        // Without a configuration: a failed check that says what to do.
        let none = ProcessRunner.run(TestPaths.product("gatewayctl").path, ["queue", "list"], environment: ["GATEWAY_CONFIG": "/nonexistent.yml"])
        #expect(none.status == 1 && none.stderr.contains("cannot read the file"))
        // verify --endpoint needs the configuration: without one it fails saying how to give
        // it (it used to be ignored, and the file came out INVALID, "chain not checked").
        let noEndpoint = ProcessRunner.run(TestPaths.product("gatewayctl").path, ["verify", "--endpoint", "europol", g.fixture.queuePath],
                                           environment: ["GATEWAY_CONFIG": ""])
        #expect(noEndpoint.status == 1 && noEndpoint.stderr.contains("cannot read the file") && noEndpoint.stderr.contains("--config FILE"),
                "\(noEndpoint.stderr)")
    }
}
