import Foundation
import GatewayModel
import GRDB
@testable import GatewayStore
import Testing

/// The once-a-second housekeeping queries must cost what is due, not what is queued: their
/// plans are checked with EXPLAIN QUERY PLAN on a queue with many pending deliveries.
@Suite("housekeeping query plans")
struct QueryPlanTests {
    func plan(_ store: QueueStore, _ sql: String, _ arguments: StatementArguments) throws -> String {
        try store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
                .map { $0["detail"] as String }.joined(separator: "\n")
        }
    }

    @Test("expiry starts from the messages past their expiry (message_expires), never from every pending delivery")
    func expiryUsesTheExpiryIndex() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue((0..<500).map { message("m\($0)", expiresAt: 1_000_000 + Int64($0)) })
        for sql in [QueueStore.anyExpiredSQL, QueueStore.expiredSQL] {
            let arguments: StatementArguments = sql == QueueStore.expiredSQL ? [1_000, 5_000, 10] : [1_000, 5_000]
            let text = try plan(store, sql, arguments)
            #expect(text.contains("message_expires"), "\(text)")
            #expect(!text.contains("delivery_state"), "\(text)")
            #expect(!text.contains("SCAN d") && !text.contains("SCAN m"), "\(text)")
        }
        // And it still finds what is due; from a time on, only what expired after it (the
        // housekeeping walks the index from where it left it, not from the retention).
        #expect(try store.expireDue(now: 1_000_005, since: 1_000_002).map(\.messageId) == ["m3", "m4", "m5"])
        let expired = try store.expireDue(now: 1_000_010)
        #expect(expired.count == 8)
        // Walked as a range of the index: a SEARCH with both bounds.
        let ranged = try plan(store, QueueStore.anyExpiredSQL, [1_000, 5_000])
        #expect(ranged.contains("expires_at>? AND expires_at<?"), "\(ranged)")
    }

    @Test("the housekeeping's expiry watermark: looks from where a complete look ended, takes an incomplete one up again, and looks at everything once an hour")
    func expiryWatermark() throws {
        let (store, _) = try makeStore()
        var watermark = ExpiryWatermark()
        _ = try store.enqueue([message("early", expiresAt: 500)])
        #expect(try watermark.expireDue(in: store, now: 1_000, uptime: 0).map(\.messageId) == ["early"])
        #expect(watermark.scannedTo == 1_000)
        // Made waiting with an expiry behind the watermark (as an operator's release of a
        // delivery whose message had expired): not seen by the looks from the watermark.
        _ = try store.enqueue([message("behind", expiresAt: 800)])
        #expect(try watermark.expireDue(in: store, now: 2_000, uptime: 1).isEmpty)
        #expect(watermark.scannedTo == 2_000)
        // 2,500 due at once, 1,000 a look: the watermark stays until all of them are done.
        _ = try store.enqueue((0..<2_500).map { message("m\($0)", expiresAt: 1_000_000 + Int64($0)) })
        var counts: [Int] = []
        for uptime in 2...5 {
            counts.append(try watermark.expireDue(in: store, now: 1_003_000, uptime: Double(uptime)).count)
            if counts.last! < 1_000 { #expect(watermark.scannedTo == 1_003_000) } else { #expect(watermark.scannedTo == 2_000) }
        }
        #expect(counts == [1_000, 1_000, 500, 0], "\(counts)")
        #expect(try store.message("m2499", sender: "PL-KGP")?.deliveries.first?.summary.state == .expired)
        // An hour on, a look at everything finds the one behind.
        #expect(try watermark.expireDue(in: store, now: 1_004_000, uptime: 3_599).isEmpty)
        #expect(try watermark.expireDue(in: store, now: 1_005_000, uptime: 3_600).map(\.messageId) == ["behind"])
        #expect(watermark.scannedTo == 1_005_000)
    }
}

@Suite("accepted audit details written directly")
struct AcceptedDetailsTests {
    @Test("byte for byte the JCS of the JSON form, for awkward names and several routes")
    func sameAsJSON() throws {
        let awkward = ["EU-EUROPOL", "quote \" backslash \\", "ctl \u{01}\t", "żółć 😀 \u{2028}", ""]
        for i in 0..<100 {
            let routes = (0...(i % 4)).map { Route(recipient: awkward[($0 + i) % awkward.count], endpoint: awkward[($0 + 2 * i) % awkward.count]) }
            var m = message("m\(i)", recipients: routes.map { ($0.recipient, $0.endpoint) })
            m.type = awkward[i % awkward.count]
            if i % 5 == 0 { m.sourceFile = nil }
            let direct = QueueStore.acceptedDetails(m)
            let reference = try QueueStore.acceptedDetailsJSON(m).canonicalString()
            #expect(direct == reference)
        }
    }
}

@Suite("inserts bound through the SQLite C API")
struct FastInsertTests {
    @Test("every kind of value reads back as GRDB bound it; a constraint failure throws and rolls the transaction back")
    func roundTrip() throws {
        let (store, _) = try makeStore()
        try store.pool.write { db in
            try db.execute(sql: "CREATE TABLE t (a INTEGER, b TEXT, c BLOB, d TEXT, e INTEGER UNIQUE)")
            let insert = try db.cachedStatement(sql: "INSERT INTO t (a, b, c, d, e) VALUES (?, ?, ?, ?, ?)")
            try insert.run(.int(Int64.max), .text("żółć 😀 \" '); DROP TABLE t; --"), .blob([0, 1, 2, 255]), .null, .int(1))
            try insert.run(.int(-1), .text(""), .blob([]), .text(nil), .int(2))
            try insert.run(.int(nil), .text("x"), .blob(Array(repeating: 7, count: 100_000)), .text("y"), .int(3))
        }
        let rows = try store.pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM t ORDER BY e") }
        #expect(rows.count == 3)
        #expect(rows[0]["a"] as Int64 == Int64.max)
        #expect(rows[0]["b"] as String == "żółć 😀 \" '); DROP TABLE t; --")
        #expect(rows[0]["c"] as Data == Data([0, 1, 2, 255]))
        #expect((rows[0]["d"] as DatabaseValue).isNull)
        #expect(rows[1]["b"] as String? == "", "the empty string is text, not NULL")
        #expect(!(rows[1]["c"] as DatabaseValue).isNull, "an empty blob is a blob, not NULL")
        #expect((rows[1]["d"] as DatabaseValue).isNull)
        #expect((rows[2]["a"] as DatabaseValue).isNull)
        #expect((rows[2]["c"] as Data).count == 100_000)
        // A constraint failure: the error names it, and nothing of that transaction stays.
        let error = #expect(throws: DatabaseError.self) {
            try store.pool.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO t (a, b, c, d, e) VALUES (?, ?, ?, ?, ?)")
                try insert.run(.int(10), .text("kept?"), .blob([1]), .null, .int(10))
                try insert.run(.int(11), .text("dup"), .blob([1]), .null, .int(1))
            }
        }
        #expect(error?.resultCode == .SQLITE_CONSTRAINT)
        #expect(error?.message?.contains("UNIQUE") == true)
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 3)
        // The statement is usable again after the failure.
        try store.pool.write { db in
            try db.cachedStatement(sql: "INSERT INTO t (a, b, c, d, e) VALUES (?, ?, ?, ?, ?)").run(.int(4), .text("after"), .null, .null, .int(4))
        }
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 4)
    }
}

@Suite("backpressure check")
struct PendingCheckTests {
    @Test("counts only when the delivery table could hold the limit; the count decides")
    func pendingReaches() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue((0..<5).map { message("p\($0)", recipients: [("EU-EUROPOL", "europol"), ("EU-OLAF", "olaf")]) })
        let small = try store.pendingReaches(11)
        #expect(small.reached == false && small.count == nil, "10 rows cannot hold 11 pending: nothing counted")
        let full = try store.pendingReaches(10)
        #expect(full.reached && full.count?.pending == 10)
        let jobs = try store.claimDue(endpoint: "europol", limit: 3)
        try store.resolve(jobs.map { .init(job: $0, attempt: nil, resolution: .delivered(receipt: nil, duplicate: false)) })
        let after = try store.pendingReaches(10)
        #expect(after.reached == false && after.count?.pending == 7, "delivered rows still count as rows, not as pending")
        #expect(try store.countPending() == 7)
    }

    @Test("a previous count is reused while it plus the rows added since stay under the limit, and for at most `recount` seconds")
    func previousCountReused() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue((0..<5).map { message("q\($0)", recipients: [("EU-EUROPOL", "europol"), ("EU-OLAF", "olaf")]) })
        let jobs = try store.claimDue(endpoint: "europol", limit: 5)
        try store.resolve(jobs.map { .init(job: $0, attempt: nil, resolution: .delivered(receipt: nil, duplicate: false)) })
        let t0 = Date()
        // 10 rows, 5 pending, limit 8: counted once.
        let first = try #require(try store.pendingReaches(8, now: t0).count)
        #expect(first.pending == 5)
        // 5 + 0 new rows < 8: the same count, not made again.
        let same = try store.pendingReaches(8, previous: first, now: t0.addingTimeInterval(1))
        #expect(same.reached == false && same.count == first)
        // Two new rows: 5 + 2 < 8, still no count; then one more: 5 + 3 reaches 8, counted.
        _ = try store.enqueue([message("q5", recipients: [("EU-EUROPOL", "europol"), ("EU-OLAF", "olaf")])])
        #expect(try store.pendingReaches(8, previous: first, now: t0.addingTimeInterval(2)).count == first)
        _ = try store.enqueue([message("q6")])
        let recounted = try #require(try store.pendingReaches(8, previous: first, now: t0.addingTimeInterval(3)).count)
        #expect(recounted != first && recounted.pending == 8)
        #expect(try store.pendingReaches(8, previous: first, now: t0.addingTimeInterval(3)).reached)
        // A requeue adds pending deliveries without rows: the periodic count catches it.
        let old = QueueStore.PendingCount(pending: 1, maxRowId: recounted.maxRowId, at: t0)
        #expect(try store.pendingReaches(8, previous: old, now: t0.addingTimeInterval(30)).count == old, "trusted within a minute")
        let late = try store.pendingReaches(8, previous: old, now: t0.addingTimeInterval(61))
        #expect(late.reached && late.count?.pending == 8, "counted again after a minute")
    }
}

@Suite("written reports")
struct WrittenReportTests {
    @Test("once confirmed on disk a report is no longer owed and its body is dropped; the row stays")
    func bodyDroppedAfterSync() throws {
        let (store, _) = try makeStore()
        _ = try store.enqueue([message("r1"), message("r2")])
        let jobs = try store.claimDue(endpoint: "europol", limit: 2)
        let body = #"{"kind":"failed","receipt":"\#(String(repeating: "x", count: 4_000))"}"#
        try store.resolve(jobs.map { .init(job: $0, attempt: nil, resolution: .failed(reason: "HTTP 422"), report: body) })
        let owed = try store.owedReports()
        #expect(owed.count == 2 && owed.allSatisfy { $0.body == body })
        try store.confirmDurable(acceptedReports: [], writtenReports: [owed[0].id], now: 7_000)
        #expect(try store.owedReports().map(\.id) == [owed[1].id], "the other one is still owed, with its body")
        #expect(try store.owedReports().first?.body == body)
        let row = try #require(try store.pool.read { db in try Row.fetchOne(db, sql: "SELECT body, written_at FROM report WHERE id = ?", arguments: [owed[0].id]) })
        #expect(row["body"] as String == "" && row["written_at"] as Int64 == 7_000)
    }
}
