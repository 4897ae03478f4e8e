import Foundation
import GatewayModel
@testable import GatewayStore
import GRDB
import GatewayTestSupport
import Testing

@Suite("queue store")
struct QueueStoreTests {
    @Test("the writer commits with synchronous=FULL (GRDB's pool sets NORMAL when it turns WAL on), on a new queue and on reopening it")
    func commitsReachTheDisk() throws {
        let (store, url) = try makeStore()
        func writerSetting(_ store: QueueStore) throws -> Int {
            try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous")! }
        }
        #expect(try writerSetting(store) == 2, "2 is FULL: the WAL is synced at every commit")
        _ = try store.enqueue([message("sync-1")])
        #expect(try writerSetting(store) == 2)
        let again = try QueueStore(path: url.path)
        #expect(try writerSetting(again) == 2)
        #expect(try again.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")
    }

    @Test("a new queue and its WAL are for the gateway's user only; one open to other users is closed when ours, else refused with the fix")
    func filePermissions() throws {
        let (store, url) = try makeStore()
        _ = try store.enqueue([message("perm-1")])
        func mode(_ path: String) -> mode_t {
            var st = stat()
            return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
        }
        for file in [url.path, url.path + "-wal", url.path + "-shm"] {
            #expect(FileManager.default.fileExists(atPath: file))
            #expect(mode(file) == 0o600, "\(file): \(String(mode(file), radix: 8))")
        }
        // Group access (an operators' group for gatewayctl) is the operator's choice.
        chmod(url.path, 0o640)
        #expect(try QueueStore(path: url.path).permissionsClosed.isEmpty)
        // A queue an earlier version made 0644: ours, so closed to others (all three files), and said.
        chmod(url.path, 0o644)
        chmod(url.path + "-wal", 0o606)
        let reopened = try QueueStore(path: url.path)
        #expect(reopened.permissionsClosed.count == 2, "\(reopened.permissionsClosed)")
        #expect(mode(url.path) == 0o640 && mode(url.path + "-wal") == 0o600)
        // Another user's queue open to others: refused with the fix (not ours to change).
        if geteuid() == 0 {
            chmod(url.path, 0o644)
            #expect(chown(url.path, 4321, 4321) == 0)
            do {
                _ = try QueueStore(path: url.path)
                Issue.record("a world-readable queue of another user was opened")
            } catch {
                #expect("\(error)".contains("open to other users") && "\(error)".contains("chmod o-rwx \(url.path)"), "\(error)")
            }
            #expect(chown(url.path, 0, 0) == 0)
        }
    }

    @Test("enqueue is idempotent per (sender, messageId), refuses other content, and refuses an id another sender has")
    func idempotentEnqueue() throws {
        let (store, _) = try makeStore()
        let first = try store.enqueue([message("a"), message("b")])
        guard case .accepted(let idA) = first[0], case .accepted = first[1] else { Issue.record("not accepted: \(first)"); return }
        let again = try store.enqueue([message("a"), message("a", digest: "other"), message("a", sender: "PL-CBA")])
        #expect(again[0] == .duplicate(id: idA))
        #expect(again[1] == .conflict(id: idA, existingDigest: "d1"))
        // Another unit's id is refused: endpoints de-duplicate by message id alone.
        #expect(again[2] == .usedByOtherSender(sender: "PL-KGP"))
        #expect(try store.countDeliveries() == 2)
        // A duplicate inside one batch is caught too, and an id taken earlier in the batch.
        let inBatch = try store.enqueue([message("c"), message("c"), message("c", sender: "PL-CBA")])
        guard case .accepted(let idC) = inBatch[0] else { Issue.record("c"); return }
        #expect(inBatch[1] == .duplicate(id: idC))
        #expect(inBatch[2] == .usedByOtherSender(sender: "PL-KGP"))
        // Every accepted or duplicate drop's report is tracked until it is confirmed on disk.
        let unsynced = try store.unsyncedAcceptedReports()
        #expect(unsynced.map(\.messageId) == ["a", "b", "c"], "one per (message, file): the same file again is no new entry")
        #expect(unsynced.map(\.sender) == ["PL-KGP", "PL-KGP", "PL-KGP"])
        #expect(try store.owedReports().isEmpty, "accepted reports are not owed: the pickup writes them itself")
    }

    @Test("accepted reports stay listed until confirmed on disk, with what it takes to write them again")
    func unsyncedAcceptedReports() throws {
        let (store, _) = try makeStore()
        var m = message("a", recipients: [("EU-EUROPOL", "europol"), ("EU-OLAF", "olaf")], expiresAt: 9_000)
        m.acceptedAt = 1_234
        let outcome = try store.enqueue([m], now: 5_000)
        guard case .accepted(let id) = outcome[0] else { Issue.record("not accepted"); return }
        // The same content dropped again under another name: its own report is tracked too.
        var again = m
        again.sourceFile = "again.json"
        #expect(try store.enqueue([again]) == [.duplicate(id: id)])
        let untracked = NewMessage(sender: "PL-KGP", messageId: "u", type: "alert", priority: .routine, classification: .restricted,
                                   createdAt: 1, contentDigest: "d", jws: [1], sourceFile: "u.json", routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")])
        _ = try store.enqueue([untracked])
        let unsynced = try store.unsyncedAcceptedReports()
        #expect(unsynced.map(\.sourceFile) == ["a.json", "again.json"])
        for r in unsynced {
            #expect(r.messageRowId == id && r.sender == "PL-KGP" && r.messageId == "a" && r.contentDigest == "d1")
            #expect(r.acceptedAt == 1_234, "the time the gateway took it, as the report said")
            #expect(r.expiresAt == 9_000)
            #expect(r.recipients == ["EU-EUROPOL", "EU-OLAF"])
        }
        try store.confirmDurable(acceptedReports: [(id, "a.json")], writtenReports: [])
        #expect(try store.unsyncedAcceptedReports().map(\.sourceFile) == ["again.json"])
        try store.confirmDurable(acceptedReports: [(id, "again.json")], writtenReports: [])
        #expect(try store.unsyncedAcceptedReports().isEmpty)
    }

    @Test("claim order: immediate, urgent, routine, then oldest first; one delivery per recipient")
    func claimOrder() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("r1"), message("u1", priority: .urgent), message("r2")])
        _ = try store.enqueue([message("i1", priority: .immediate, recipients: [("EU-EUROPOL", "europol"), ("EU-OLAF", "olaf")])])
        let jobs = try store.claimDue(endpoint: "europol", limit: 10)
        #expect(jobs.map(\.messageId) == ["i1", "u1", "r1", "r2"])
        #expect(try store.claimDue(endpoint: "europol", limit: 10).isEmpty, "claimed deliveries are sending, not due")
        let olaf = try store.claimDue(endpoint: "olaf", limit: 10)
        #expect(olaf.map(\.recipient) == ["EU-OLAF"])
        #expect(olaf.first?.jws == Array("jws-i1".utf8))
    }

    @Test("outcomes: delivered with receipt, deferred comes due later, failed, expired; each audited")
    func outcomes() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("a"), message("b"), message("c")])
        let jobs = try store.claimDue(endpoint: "europol", limit: 3, now: 10_000)
        let attempt = AttemptRecord(startedAt: 10_000, durationMs: 12, endpoint: "europol", httpStatus: 200, outcome: "ok", error: nil)
        let receipt = ReceiptRecord(receivedAt: 10_010, status: "received", jws: [9, 9])
        try store.resolve([
            .init(job: jobs[0], attempt: attempt, resolution: .delivered(receipt: receipt, duplicate: false), report: "{}"),
            .init(job: jobs[1], attempt: attempt, resolution: .deferred(until: 20_000, reason: "HTTP 503")),
            .init(job: jobs[2], attempt: attempt, resolution: .failed(reason: "HTTP 422"), report: "{}"),
        ], now: 10_020)
        #expect(try store.claimDue(endpoint: "europol", limit: 5, now: 19_999).isEmpty, "deferred is not due before its time")
        let due = try store.claimDue(endpoint: "europol", limit: 5, now: 20_000)
        #expect(due.map(\.messageId) == ["b"])
        #expect(due.first?.attempts == 1)
        let detail = try #require(try store.message("a"))
        #expect(detail.deliveries.first?.summary.state == .delivered)
        #expect(detail.deliveries.first?.receipt == receipt)
        #expect(detail.deliveries.first?.attempts.count == 1)
        #expect(detail.audit.map(\.event) == ["accepted", "attempt", "delivered"])
        // A resolution for a delivery that is no longer sending is skipped, not applied.
        let skipped = try store.resolve([.init(job: jobs[0], attempt: nil, resolution: .failed(reason: "late"))])
        #expect(skipped == [jobs[0].deliveryId])
        #expect(try store.owedReports().map(\.kind).sorted() == ["delivered", "failed"])
    }

    @Test("recovery returns sending to queued")
    func recovery() throws {
        let (store, path) = try makeStore()
        _ = try store.enqueue([message("a"), message("b")])
        _ = try store.claimDue(endpoint: "europol", limit: 1)
        let reopened = try QueueStore(path: path.path)
        #expect(try reopened.recoverInterrupted() == 1)
        #expect(try reopened.countDeliveries({ var f = DeliveryFilter(); f.states = [.queued]; return f }()) == 2)
        #expect(try reopened.claimDue(endpoint: "europol", limit: 5).map(\.messageId) == ["a", "b"])
    }

    @Test("expiry moves pending deliveries to expired and owes a report")
    func expiry() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("old", expiresAt: 5_000), message("new", expiresAt: 50_000), message("none")])
        let expired = try store.expireDue(now: 6_000, report: { _ in "{}" })
        #expect(expired.map(\.messageId) == ["old"])
        #expect(try store.claimDue(endpoint: "europol", limit: 5, now: 6_000).map(\.messageId) == ["new", "none"])
        #expect(try store.owedReports().filter { $0.kind == "expired" }.count == 1)
    }

    @Test("a delivery the agency answered for (receipt undecided) is held at its expiry, not expired: by the housekeeping and by an outcome")
    func answeredIsNotExpired() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("answered", expiresAt: 5_000), message("later", expiresAt: 5_000), message("plain", expiresAt: 5_000)])
        let jobs = try store.claimDue(endpoint: "europol", limit: 5, now: 1_000)
        #expect(jobs.count == 3)
        func attempt(_ outcome: String) -> AttemptRecord {
            AttemptRecord(startedAt: 1_000, durationMs: 5, endpoint: "europol", httpStatus: 201, outcome: outcome, error: "CRL past its next update")
        }
        // "answered" and "later": the agency answered 201, the receipt is undecided: deferred.
        // "later" is then claimed again, gets a 503, and its next try would be past the expiry.
        _ = try store.resolve([
            .init(job: jobs[0], attempt: attempt(QueueStore.undecidedOutcome), resolution: .deferred(until: 3_000, reason: "undecided")),
            .init(job: jobs[1], attempt: attempt(QueueStore.undecidedOutcome), resolution: .deferred(until: 2_000, reason: "undecided")),
            .init(job: jobs[2], attempt: attempt("transient"), resolution: .deferred(until: 3_000, reason: "503")),
        ], now: 1_000)
        let again = try store.claimDue(endpoint: "europol", limit: 5, now: 2_000)
        #expect(again.count == 1)
        _ = try store.resolve([.init(job: again[0], attempt: attempt("transient"), resolution: .expired(reason: "next attempt after the expiry"), report: "{}")],
                              now: 2_000)
        let later = try #require(try store.message("later", sender: "PL-KGP")?.deliveries.first)
        #expect(later.summary.state == .held && later.summary.reason == QueueStore.answeredHoldReason, "\(later.summary)")
        // The housekeeping: "answered" is held, "plain" expires; a second pass leaves the held one alone.
        let expired = try store.expireDue(now: 6_000, report: { _ in "{}" })
        #expect(expired.map(\.messageId) == ["plain"])
        let answered = try #require(try store.message("answered", sender: "PL-KGP")?.deliveries.first)
        #expect(answered.summary.state == .held && answered.summary.reason == QueueStore.answeredHoldReason)
        #expect(try store.expireDue(now: 7_000, report: { _ in "{}" }).isEmpty)
        #expect(try store.owedReports().filter { $0.kind == "expired" }.count == 1, "only the plain one is reported expired")
        var held = DeliveryFilter()
        held.states = [.held]
        #expect(try store.countDeliveries(held) == 2, "both answered deliveries wait for an operator")
        // Released, one is asked once more: the housekeeping leaves it queued, a claim takes it.
        var answeredOne = DeliveryFilter()
        answeredOne.messageIds = ["answered"]
        #expect(try store.apply(.release, filter: answeredOne, actor: "operator", now: 8_000).changed == 1)
        #expect(try store.expireDue(now: 9_000, report: { _ in "{}" }).isEmpty)
        #expect(try store.claimDue(endpoint: "europol", limit: 5, now: 9_000).map(\.messageId) == ["answered"])
        #expect(try store.wasAnswered(deliveryId: jobs[0].deliveryId) && !store.wasAnswered(deliveryId: jobs[2].deliveryId))
    }

    @Test("a 2xx whose receipt did not hold, failed and then requeued by an operator, is held at the expiry, never reported expired (the agency took it)")
    func invalidReceiptRequeuedIsNotExpired() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("took-it", expiresAt: 5_000), message("never-answered", expiresAt: 5_000)])
        let jobs = try store.claimDue(endpoint: "europol", limit: 5, now: 1_000)
        #expect(jobs.map(\.messageId) == ["took-it", "never-answered"])
        _ = try store.resolve([
            .init(job: jobs[0], attempt: AttemptRecord(startedAt: 1_000, durationMs: 5, endpoint: "europol", httpStatus: 201,
                                                       outcome: QueueStore.invalidReceiptOutcome, error: "bad signature"),
                  resolution: .failed(reason: "HTTP 201 without a valid receipt (bad signature)"), report: "{}"),
            .init(job: jobs[1], attempt: AttemptRecord(startedAt: 1_000, durationMs: 5, endpoint: "europol", httpStatus: 400,
                                                       outcome: "permanent", error: "bad request"),
                  resolution: .failed(reason: "HTTP 400"), report: "{}"),
        ], now: 1_000)
        // The operator checks with the agency and requeues both; the endpoint is down until past the expiry.
        var failed = DeliveryFilter()
        failed.states = [.failed]
        #expect(try store.apply(.requeue, filter: failed, actor: "operator", now: 2_000).changed == 2)
        let again = try store.claimDue(endpoint: "europol", limit: 5, now: 3_000)
        #expect(again.count == 2)
        _ = try store.resolve(again.map { job in
            .init(job: job, attempt: AttemptRecord(startedAt: 3_000, durationMs: 5, endpoint: "europol", httpStatus: nil,
                                                   outcome: "transient", error: "connection refused"),
                  resolution: .deferred(until: 7_000, reason: "connection refused"))
        }, now: 3_000)
        #expect(try store.expireDue(now: 6_000, report: { _ in "{}" }).map(\.messageId) == ["never-answered"])
        let tookIt = try #require(try store.message("took-it", sender: "PL-KGP")?.deliveries.first)
        #expect(tookIt.summary.state == .held && tookIt.summary.reason == QueueStore.answeredHoldReason, "\(tookIt.summary)")
        #expect(try store.wasAnswered(deliveryId: jobs[0].deliveryId) && !store.wasAnswered(deliveryId: jobs[1].deliveryId))
    }

    @Test("operator actions by filter, with counts, audit and refusal of impossible transitions")
    func operatorActions() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("a"), message("b", recipients: [("EU-OLAF", "olaf")]), message("c")])
        var europol = DeliveryFilter()
        europol.recipients = ["EU-EUROPOL"]
        #expect(try store.count(.hold, filter: europol) == OperatorResult(changed: 2, skipped: 0))
        #expect(try store.apply(.hold, filter: europol, actor: "alice") == OperatorResult(changed: 2, skipped: 0))
        #expect(try store.claimDue(endpoint: "europol", limit: 5).isEmpty, "held deliveries are not sent")
        #expect(try store.apply(.hold, filter: europol, actor: "alice") == OperatorResult(changed: 0, skipped: 2))
        var one = DeliveryFilter()
        one.messageIds = ["a"]
        #expect(try store.apply(.release, filter: one, actor: "bob").changed == 1)
        #expect(try store.claimDue(endpoint: "europol", limit: 5).map(\.messageId) == ["a"])
        #expect(try store.apply(.cancel, filter: DeliveryFilter(), actor: "carol") == OperatorResult(changed: 2, skipped: 1))
        let audit = try store.auditTail(limit: 100)
        #expect(audit.filter { $0.event == "held" }.allSatisfy { $0.actor == "alice" })
        #expect(audit.filter { $0.event == "cancelled" }.count == 2)
        #expect(audit.last?.actor == "carol")
        // Followed in pages from a sequence number: the same records, in order, none twice.
        var followed: [AuditRecord] = []
        while let page = Optional(try store.auditRecords(after: followed.last?.seq ?? 0, limit: 3)), !page.isEmpty { followed += page }
        #expect(followed == (try store.auditTail(limit: 10_000)) && followed.count > 3)
        #expect(try store.auditRecords(after: audit.last!.seq).isEmpty)
        let cancelled = try store.auditRecords(after: 0, event: "cancelled")
        #expect(cancelled.count == 2 && cancelled == followed.filter { $0.event == "cancelled" })
    }

    @Test("an action applies in chunks, each change once, and only to the deliveries counted before it (not to those queued after)")
    func operatorActionsInChunks() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue((0..<10).map { message("chunk-\($0)") })
        var f = DeliveryFilter()
        f.recipients = ["EU-EUROPOL"]
        f.upToDeliveryId = try store.highestDeliveryId()
        // Accepted while the operator reads the count: not part of the action.
        _ = try store.enqueue([message("later")])
        #expect(try store.count(.hold, filter: f) == OperatorResult(changed: 10, skipped: 0))
        #expect(try store.apply(.hold, filter: f, actor: "dora", chunk: 3) == OperatorResult(changed: 10, skipped: 0))
        #expect(try store.auditTail(limit: 100).filter { $0.event == "held" }.count == 10)
        #expect(try store.claimDue(endpoint: "europol", limit: 20).map(\.messageId) == ["later"])
        // Chunks exactly full, then an empty one: nothing changed twice, none missed.
        f.upToDeliveryId = nil
        f.states = [.held]
        #expect(try store.apply(.release, filter: f, actor: "dora", chunk: 5) == OperatorResult(changed: 10, skipped: 0))
    }

    @Test("migration v9 marks gatewayd's holds from before the marker as its own; an operator's holds stay as they are")
    func oldGatewayHoldsMarked() throws {
        let (store, path) = try makeStore()
        _ = try store.enqueue(["route", "ceiling", "gone", "reload-gone", "reload-ceiling", "operator", "queued"].map { message($0) })
        let reasons = [
            "route": "held: EU-EUROPOL is no longer routed to endpoint europol",
            "ceiling": "held: restricted is above the ceiling of endpoint europol (unclassified)",
            "gone": "held: no route to EU-EUROPOL in the configuration",
            "reload-gone": "held at reload: no route to EU-EUROPOL in the configuration (endpoint europol is gone)",
            "reload-ceiling": "held at reload: restricted is above the ceiling of endpoint europol (unclassified)",
            "operator": "held: waiting for the legal officer",
        ]
        try store.pool.write { db in
            for (id, reason) in reasons {
                try db.execute(sql: "UPDATE delivery SET state = 'held', reason = ? WHERE message = (SELECT id FROM message WHERE message_id = ?)",
                               arguments: [reason, id])
            }
            // As a queue last opened before v9.
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v9:%'")
        }
        let reopened = try QueueStore(path: path.path)
        func reason(_ id: String) throws -> String? { try reopened.message(id, sender: "PL-KGP")?.deliveries.first?.summary.reason }
        #expect(try reason("route") == QueueStore.gatewayHoldPrefix + "EU-EUROPOL is no longer routed to endpoint europol")
        #expect(try reason("ceiling") == QueueStore.gatewayHoldPrefix + "restricted is above the ceiling of endpoint europol (unclassified)")
        #expect(try reason("gone") == QueueStore.gatewayHoldPrefix + "no route to EU-EUROPOL in the configuration")
        #expect(try reason("reload-gone") == QueueStore.gatewayHoldPrefix + "no route to EU-EUROPOL in the configuration (endpoint europol is gone)")
        #expect(try reason("reload-ceiling") == QueueStore.gatewayHoldPrefix + "restricted is above the ceiling of endpoint europol (unclassified)")
        #expect(try reason("operator") == "held: waiting for the legal officer")
        #expect(try reopened.message("queued", sender: "PL-KGP")?.deliveries.first?.summary.state == .queued)
        #expect(try reopened.gatewayHeldRoutes().map(\.count).reduce(0, +) == 5)
    }

    @Test("gatewayd releasing its own holds by id leaves one an operator has held since with a reason of theirs")
    func gatewayReleaseLeavesOperatorHolds() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("ours"), message("theirs")])
        var both = DeliveryFilter()
        both.messageIds = ["ours", "theirs"]
        #expect(try store.apply(.hold, filter: both, actor: "gatewayd", reason: QueueStore.gatewayHoldPrefix + "EU-EUROPOL is no longer routed").changed == 2)
        let ids = try store.list(both, limit: 10).map(\.deliveryId)
        // Between gatewayd's read of its holds and its release, an operator releases one and holds it again.
        var theirs = DeliveryFilter()
        theirs.messageIds = ["theirs"]
        #expect(try store.apply(.release, filter: theirs, actor: "alice").changed == 1)
        #expect(try store.apply(.hold, filter: theirs, actor: "alice", reason: "waiting for the legal officer").changed == 1)
        var release = DeliveryFilter()
        release.deliveryIds = ids
        release.reasonPrefix = QueueStore.gatewayHoldPrefix
        #expect(try store.apply(.release, filter: release, actor: "gatewayd", routes: ["EU-EUROPOL": "europol"]).changed == 1)
        #expect(try store.message("theirs", sender: "PL-KGP")?.deliveries.first?.summary.reason == "waiting for the legal officer")
        #expect(try store.message("theirs", sender: "PL-KGP")?.deliveries.first?.summary.state == .held)
        #expect(try store.message("ours", sender: "PL-KGP")?.deliveries.first?.summary.state == .queued)
    }

    @Test("deliveries going back to the queue take the route in force; without one they are left as they are")
    func requeueFollowsRoutes() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("moved", recipients: [("EU-OLAF", "olaf")]), message("orphan", recipients: [("EU-CEPOL", "cepol")])])
        for endpoint in ["olaf", "cepol"] {
            let jobs = try store.claimDue(endpoint: endpoint, limit: 5)
            try store.resolve(jobs.map { .init(job: $0, attempt: nil, resolution: .failed(reason: "HTTP 404")) })
        }
        // OLAF is served by "olaf-2" now; CEPOL has no route any more.
        let routes = ["EU-OLAF": "olaf-2", "EU-EUROPOL": "europol"]
        var failed = DeliveryFilter()
        failed.states = [.failed]
        #expect(try store.count(.requeue, filter: failed, routes: routes) == OperatorResult(changed: 1, skipped: 1, unrouted: 1), "counted as applied")
        #expect(try store.apply(.requeue, filter: failed, actor: "eve", routes: routes) == OperatorResult(changed: 1, skipped: 1, unrouted: 1))
        #expect(try store.claimDue(endpoint: "olaf", limit: 5).isEmpty)
        #expect(try store.claimDue(endpoint: "olaf-2", limit: 5).map(\.messageId) == ["moved"])
        #expect(try store.message("orphan", sender: "PL-KGP")?.deliveries.first?.summary.state == .failed, "left failed, for an operator")
        let requeued = try #require(try store.auditTail(limit: 10).last { $0.event == "requeued" })
        #expect(requeued.details.contains(#""endpoint":"olaf → olaf-2""#), "\(requeued.details)")
    }

    @Test("requeue of failed deliveries by date range")
    func requeueByDate() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("early")], now: 1_000)
        _ = try store.enqueue([message("late")], now: 100_000)
        let jobs = try store.claimDue(endpoint: "europol", limit: 5, now: 200_000)
        try store.resolve(jobs.map { .init(job: $0, attempt: nil, resolution: .failed(reason: "HTTP 404")) })
        var range = DeliveryFilter()
        range.acceptedFrom = 0
        range.acceptedBefore = 50_000
        #expect(try store.apply(.requeue, filter: range, actor: "ops").changed == 1)
        #expect(try store.claimDue(endpoint: "europol", limit: 5, now: 300_000).map(\.messageId) == ["early"])
    }

    @Test("list, show and stats")
    func queries() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("a"), message("b", priority: .immediate), message("c", recipients: [("EU-OLAF", "olaf")])], now: 0)
        var f = DeliveryFilter()
        f.endpoints = ["europol"]
        #expect(try store.list(f, sort: .priority).map(\.messageId) == ["b", "a"])
        #expect(try store.list(sort: .newest, limit: 2).map(\.messageId) == ["c", "b"])
        #expect(try store.list(sort: .newest, limit: 2, offset: 2).map(\.messageId) == ["a"])
        let stats = try store.stats(now: 7 * 60_000)
        #expect(stats.messages == 3)
        #expect(stats.totals[.queued] == 3)
        let europol = try #require(stats.endpoints.first { $0.endpoint == "europol" })
        #expect(europol.ageHistogram[1] == 2, "7 minutes old falls in the 5-10 minute bucket")
        #expect(europol.oldestPendingAt == 0)
        try store.setEndpointState("europol", breaker: "open", consecutiveFailures: 5)
        #expect(try store.stats().endpoints.first { $0.endpoint == "europol" }?.breaker == "open")
    }

    @Test("retention prunes only old terminal messages, in batches, and keeps the audit log")
    func retention() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue((0..<5).map { message("m\($0)") }, now: 1_000)
        let jobs = try store.claimDue(endpoint: "europol", limit: 4, now: 2_000)
        try store.resolve(jobs.prefix(3).map { .init(job: $0, attempt: nil, resolution: .delivered(receipt: nil, duplicate: false)) }, now: 2_000)
        try store.resolve([.init(job: jobs[3], attempt: nil, resolution: .failed(reason: "x"))], now: 2_000)
        // Every accepted report on disk but m0's (its unit's folder was full, say): its
        // message stays until it is, whatever the retention.
        let unsynced = try store.unsyncedAcceptedReports()
        #expect(unsynced.count == 5)
        try store.confirmDurable(acceptedReports: unsynced.filter { $0.messageId != "m0" }.map { ($0.messageRowId, $0.sourceFile) }, writtenReports: [])
        let auditBefore = try store.verifyAudit(verifier: nil).records
        #expect(try store.prune(before: 1_500) == 0, "too recent")
        #expect(try store.prune(before: 10_000, batchSize: 2) == 2)
        #expect(try store.prune(before: 10_000, batchSize: 2) == 0, "m0's accepted report is not on disk yet; failed and queued stay")
        #expect(try store.message("m0", sender: "PL-KGP") != nil)
        try store.confirmDurable(acceptedReports: unsynced.filter { $0.messageId == "m0" }.map { ($0.messageRowId, $0.sourceFile) }, writtenReports: [])
        #expect(try store.prune(before: 10_000, batchSize: 2) == 1)
        #expect(try store.prune(before: 10_000, batchSize: 2) == 0, "failed and queued stay")
        #expect(try store.countDeliveries() == 2)
        let after = try store.verifyAudit(verifier: nil)
        #expect(after.isValid)
        #expect(after.records == auditBefore + 2)
    }

    @Test("a message id pruned by retention is refused when its sender uses it again (the audit log keeps the key), same content or other; another sender's pruned id is not this sender's")
    func prunedIdsStayUsed() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("old")], now: 1_000)
        let jobs = try store.claimDue(endpoint: "europol", limit: 1, now: 2_000)
        try store.resolve(jobs.map { .init(job: $0, attempt: nil, resolution: .delivered(receipt: nil, duplicate: false)) }, now: 2_000)
        try confirmAcceptedReports(store)
        #expect(try store.prune(before: 10_000, now: 11_000) == 1)
        #expect(try store.message("old", sender: "PL-KGP") == nil)
        #expect(try store.enqueue([message("old")], now: 20_000) == [.acceptedBefore(at: 1_000)])
        #expect(try store.enqueue([message("old", digest: "other")], now: 20_000) == [.acceptedBefore(at: 1_000)])
        #expect(try store.message("old", sender: "PL-KGP") == nil, "nothing kept of the refused ones")
        #expect(try store.countDeliveries() == 0)
        let outcomes = try store.enqueue([message("new"), message("old", sender: "PL-CBA")], now: 20_000)
        if case .accepted = outcomes[0], case .accepted = outcomes[1] {} else { Issue.record("\(outcomes)") }
        #expect(try store.verifyAudit(verifier: nil).isValid)
    }

    @Test("who holds the queue's lock is read from the kernel's lock table, without taking it: the holder's pid while held, none after")
    func lockHolder() throws {
        let (_, path) = try makeStore()
        #expect(QueueOwnerLock.holder(queuePath: path.path) == .notRunning, "no lock file yet")
        let lock = try QueueOwnerLock(queuePath: path.path)
        withExtendedLifetime(lock) {
            #expect(QueueOwnerLock.holder(queuePath: path.path) == .running(pid: getpid(), writtenPid: getpid()))
            // Looking did not take it: the owner still refuses a second one.
            #expect(throws: QueueStoreError.self) { _ = try QueueOwnerLock(queuePath: path.path) }
        }
    }

    @Test("the lock's holder once released is none; another process holding it is named by the pid it wrote")
    func lockHolderReleased() throws {
        let (_, path) = try makeStore()
        do { _ = try QueueOwnerLock(queuePath: path.path) }
        // Released (the file and the pid written in it remain).
        #expect(FileManager.default.fileExists(atPath: path.path + ".lock"))
        #expect(QueueOwnerLock.holder(queuePath: path.path) == .notRunning)
        // Another process takes it and writes its pid, as gatewayd does (python3: one process,
        // so that the lock's pid is its own; .ci/run installs it).
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        child.arguments = ["python3", "-c", """
            import fcntl, os, sys, time
            f = open(sys.argv[1], 'r+'); fcntl.flock(f, fcntl.LOCK_EX); f.truncate(0); f.write(str(os.getpid()) + '\\n'); f.flush(); time.sleep(60)
            """, path.path + ".lock"]
        try child.run()
        // SIGKILL: the test process's children may inherit an ignored SIGTERM.
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        #expect(waitUntil(timeout: 20) { QueueOwnerLock.holder(queuePath: path.path) == .running(pid: child.processIdentifier, writtenPid: child.processIdentifier) || !child.isRunning },
                "\(QueueOwnerLock.holder(queuePath: path.path)) against \(child.processIdentifier)")
        #expect(child.isRunning, "python3 could not take the lock")
    }

    @Test("one owner per queue: a second lock is refused with the owner's pid")
    func ownerLock() throws {
        let (_, path) = try makeStore()
        let lock = try QueueOwnerLock(queuePath: path.path)
        do {
            _ = try QueueOwnerLock(queuePath: path.path)
            Issue.record("second owner accepted")
        } catch {
            #expect("\(error)".contains("in use by another gatewayd (pid \(getpid()))"))
        }
        // The same queue through a link to the file, or to a folder above it, is the same queue.
        let dir = path.deletingLastPathComponent()
        let fileLink = dir.appendingPathComponent("other-name.sqlite")
        let folderLink = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + "-link")
        try FileManager.default.createSymbolicLink(at: fileLink, withDestinationURL: path)
        try FileManager.default.createSymbolicLink(at: folderLink, withDestinationURL: dir)
        defer { try? FileManager.default.removeItem(at: folderLink) }
        for other in [fileLink, folderLink.appendingPathComponent(path.lastPathComponent)] {
            #expect(throws: QueueStoreError.self, "\(other.path)") { _ = try QueueOwnerLock(queuePath: other.path) }
        }
        // A link to a queue not made yet, in another folder: the link's target is locked.
        let elsewhere = try TestPaths.temporaryDirectory("queue-target")
        let dangling = dir.appendingPathComponent("dangling.sqlite")
        try FileManager.default.createSymbolicLink(atPath: dangling.path, withDestinationPath: elsewhere.appendingPathComponent("q.sqlite").path)
        let viaLink = try QueueOwnerLock(queuePath: dangling.path)
        #expect(viaLink.path == elsewhere.resolvingSymlinksInPath().appendingPathComponent("q.sqlite.lock").path, "\(viaLink.path)")
        #expect(throws: QueueStoreError.self) { _ = try QueueOwnerLock(queuePath: elsewhere.appendingPathComponent("q.sqlite").path) }
        // A queue not made yet is locked by its folder's real path.
        let fresh = try QueueOwnerLock(queuePath: folderLink.appendingPathComponent("new.sqlite").path)
        #expect(fresh.path == dir.resolvingSymlinksInPath().appendingPathComponent("new.sqlite.lock").path)
        _ = lock
    }
}
