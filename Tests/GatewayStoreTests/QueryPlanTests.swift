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
            let arguments: StatementArguments = sql == QueueStore.expiredSQL ? [5_000, 10] : [5_000]
            let text = try plan(store, sql, arguments)
            #expect(text.contains("message_expires"), "\(text)")
            #expect(!text.contains("delivery_state"), "\(text)")
            #expect(!text.contains("SCAN d") && !text.contains("SCAN m"), "\(text)")
        }
        // And it still finds what is due.
        let expired = try store.expireDue(now: 1_000_010)
        #expect(expired.count == 11)
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
