// Retention: delivered, cancelled and expired messages older than the configured age are
// pruned in small batches (each its own short transaction, so the daemon never stalls).
// A message goes only when every one of its deliveries is terminal and old enough, and no
// report about it is still owed to its unit (a delivered report takes its receipt from
// the queue when it is written), nor an accepted report not yet confirmed on disk.
// Failed deliveries stay until an operator requeues or cancels them. The audit log is
// never pruned.

import Foundation
import GRDB

extension QueueStore {
    /// Deletes up to `batchSize` prunable messages (with their deliveries, attempts and
    /// receipts) whose last change is before `cutoff`, and written reports older than it.
    /// Returns how many messages went; call again until it returns 0.
    @discardableResult
    public func prune(before cutoff: Millis, batchSize: Int = 500, actor: String = "gatewayd", now: Millis = Date().millis) throws -> Int {
        // Look without the write lock first: nearly always nothing is due.
        let due = try pool.read { db in
            try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM message m WHERE m.accepted_at < ? AND NOT EXISTS (
                                   SELECT 1 FROM delivery d WHERE d.message = m.id
                                   AND (d.state NOT IN ('delivered', 'cancelled', 'expired') OR d.updated_at >= ?))
                               AND NOT EXISTS (SELECT 1 FROM report r WHERE r.message = m.id AND r.written_at IS NULL)
                               AND NOT EXISTS (SELECT 1 FROM accepted_report_unsynced u WHERE u.message = m.id))
                    OR EXISTS (SELECT 1 FROM report WHERE written_at IS NOT NULL AND written_at < ?)
                """, arguments: [cutoff, cutoff, cutoff]) ?? false
        }
        guard due else { return 0 }
        return try pool.write { db in
            let ids = try Int64.fetchAll(db, sql: """
                SELECT m.id FROM message m WHERE m.accepted_at < ? AND NOT EXISTS (
                    SELECT 1 FROM delivery d WHERE d.message = m.id
                    AND (d.state NOT IN ('delivered', 'cancelled', 'expired') OR d.updated_at >= ?))
                AND NOT EXISTS (SELECT 1 FROM report r WHERE r.message = m.id AND r.written_at IS NULL)
                AND NOT EXISTS (SELECT 1 FROM accepted_report_unsynced u WHERE u.message = m.id)
                ORDER BY m.id LIMIT ?
                """, arguments: [cutoff, cutoff, batchSize])
            // Written reports' rows in bounded batches too (a lowered retention, or a start after
            // a long stop, can make millions due at once): the rest at the next calls.
            try db.execute(sql: """
                DELETE FROM report WHERE id IN (SELECT id FROM report WHERE written_at IS NOT NULL AND written_at < ? LIMIT ?)
                """, arguments: [cutoff, batchSize * 10])
            guard !ids.isEmpty else { return 0 }
            // The protected headers these messages and their receipts used, deleted after them
            // unless another message or receipt still uses one (by the jws_header indexes).
            let headerOf = try db.cachedStatement(sql: """
                SELECT jws_header FROM message WHERE id = ?1 AND jws_header IS NOT NULL
                UNION SELECT rc.jws_header FROM delivery d JOIN receipt rc ON rc.delivery = d.id WHERE d.message = ?1 AND rc.jws_header IS NOT NULL
                """)
            var headers = Set<Int64>()
            for id in ids { headers.formUnion(try Int64.fetchAll(headerOf, arguments: [id])) }
            let delete = try db.cachedStatement(sql: "DELETE FROM message WHERE id = ?")
            for id in ids { try delete.execute(arguments: [id]) }
            let unused = try db.cachedStatement(sql: """
                DELETE FROM jws_header WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM message WHERE jws_header = ?1)
                                                   AND NOT EXISTS (SELECT 1 FROM receipt WHERE jws_header = ?1)
                """)
            for h in headers.sorted() { try unused.execute(arguments: [h]) }
            var audit = try AuditAppender(db, at: now)
            try audit.append(AuditEvent("pruned", actor: actor, details: [
                "messages": .number(Double(ids.count)), "before": .number(Double(cutoff)),
                "firstRow": .number(Double(ids.first!)), "lastRow": .number(Double(ids.last!)),
            ]), in: db)
            return ids.count
        }
    }
}
