import Foundation
import GatewayModel
@testable import GatewayStore
import GatewayTestSupport
import Testing

/// Runs SQL against a database file with the sqlite3 command line, as an intruder would.
func sqlite(_ path: URL, _ sql: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = [path.path, sql]
    let err = Pipe()
    p.standardError = err
    try p.run()
    p.waitUntilExit()
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    guard p.terminationStatus == 0 else { throw TamperError(message: message) }
}
struct TamperError: Error { var message: String }

@Suite("audit log tampering")
struct AuditTamperTests {
    static let signer = KeyedDigestSigner(key: "gateway-key")

    /// A queue with a dozen audit records and a signed checkpoint; returns a COPY's path.
    func tamperableCopy() throws -> (URL, QueueStore) {
        let (store, path) = try makeStore()
        _ = try store.enqueue((0..<4).map { message("m\($0)") }, now: 1_000)
        let jobs = try store.claimDue(endpoint: "europol", limit: 4, now: 2_000)
        let attempt = AttemptRecord(startedAt: 2_000, durationMs: 5, endpoint: "europol", httpStatus: 200, outcome: "ok", error: nil)
        try store.resolve(jobs.map { .init(job: $0, attempt: attempt, resolution: .delivered(receipt: nil, duplicate: false)) }, now: 3_000)
        try store.checkpointAudit(signer: Self.signer, now: 4_000)
        #expect(try store.verifyAudit(verifier: Self.signer).isValid)
        // Work on a copy, as the issue asks: checkpoint the WAL into the main file first.
        try sqlite(path, "PRAGMA wal_checkpoint(TRUNCATE);")
        let copy = path.deletingLastPathComponent().appendingPathComponent("copy.sqlite")
        try FileManager.default.copyItem(at: path, to: copy)
        return (copy, try QueueStore(path: copy.path))
    }

    func problems(_ store: QueueStore) throws -> [AuditVerification.Problem] {
        try store.verifyAudit(verifier: Self.signer).problems
    }

    @Test("the untouched log verifies, with its checkpoint")
    func untouched() throws {
        let (_, store) = try tamperableCopy()
        let v = try store.verifyAudit(verifier: Self.signer)
        #expect(v.isValid)
        #expect(v.records == 12)
        #expect(v.checkpointsVerified == 1)
    }

    @Test("an edited record is detected and named")
    func edited() throws {
        let (copy, store) = try tamperableCopy()
        try sqlite(copy, "UPDATE audit SET details = '{\"reason\":\"nothing to see\"}' WHERE seq = 5;")
        let found = try problems(store)
        #expect(found.contains { $0.seq == 5 && $0.message.contains("altered") }, "\(found)")
    }

    @Test("a deleted record is detected and named")
    func deleted() throws {
        let (copy, store) = try tamperableCopy()
        try sqlite(copy, "DELETE FROM audit WHERE seq = 3;")
        let found = try problems(store)
        #expect(found.contains { $0.seq == 4 && $0.message.contains("record 3 is missing") }, "\(found)")
    }

    @Test("reordered records are detected")
    func reordered() throws {
        let (copy, store) = try tamperableCopy()
        try sqlite(copy, """
            UPDATE audit SET seq = -1 WHERE seq = 6; UPDATE audit SET seq = 6 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = -1;
            """)
        let found = try problems(store)
        #expect(found.contains { $0.seq == 6 }, "\(found)")
    }

    @Test("an inserted record is detected")
    func inserted() throws {
        let (copy, store) = try tamperableCopy()
        try sqlite(copy, """
            UPDATE audit SET seq = seq + 100 WHERE seq >= 4; UPDATE audit SET seq = seq - 99 WHERE seq >= 104;
            INSERT INTO audit (seq, at, event, actor, details, prev_hash, hash)
            SELECT 4, at, 'cancelled', 'intruder', '{}', hash, hash FROM audit WHERE seq = 3;
            """)
        let found = try problems(store)
        #expect(found.contains { $0.seq == 4 && $0.message.contains("altered") }, "\(found)")
    }

    /// What an intruder without the key can do: alter record 2 and recompute every hash
    /// after it (after running `first`). Returns the new head hash.
    @discardableResult
    func rewriteChain(_ copy: URL, _ store: QueueStore, first: String = "") throws -> String {
        var records = try store.auditTail(limit: 1_000)
        records[1].actor = "intruder"
        var prev = AuditChain.genesis
        var sql = first
        for i in records.indices {
            records[i].prevHash = prev
            records[i].hash = records[i].computedHash
            prev = records[i].hash
            sql += "UPDATE audit SET actor = '\(records[i].actor)', prev_hash = '\(records[i].prevHash)', hash = '\(records[i].hash)' WHERE seq = \(records[i].seq);\n"
        }
        try sqlite(copy, sql)
        return prev
    }

    @Test("a chain rewritten without the key is caught by the signed checkpoint")
    func rewritten() throws {
        let (copy, store) = try tamperableCopy()
        // The intruder alters record 2 and recomputes every hash after it, so the chain
        // itself is consistent again.
        let prev = try rewriteChain(copy, store)
        let chainOnly = try store.verifyAudit(verifier: Self.signer).problems
        #expect(chainOnly.count == 1, "\(chainOnly)")
        #expect(chainOnly.first?.message.contains("chain rewritten") == true)
        // Moving the checkpoint along with it needs the key.
        try sqlite(copy, "UPDATE audit_checkpoint SET hash = '\(prev)';")
        let forged = try problems(store)
        #expect(forged.contains { $0.message.contains("checkpoint") }, "\(forged)")
        // And a checkpoint signed with another key does not verify.
        let other = KeyedDigestSigner(key: "not-the-key")
        try sqlite(copy, "UPDATE audit_checkpoint SET signature = '\(try other.sign(AuditChain.checkpointPayload(seq: 12, hash: prev, at: 4_000)))';")
        #expect(try problems(store).contains { $0.message.contains("checkpoint signature invalid") })
    }

    @Test("a chain rewritten with its checkpoints deleted, or cut back, is caught by an anchor kept outside the queue")
    func anchors() throws {
        let (copy, store) = try tamperableCopy()
        let head = try #require(try store.auditTail(limit: 1).last)
        let anchor = AuditAnchor(seq: head.seq, hash: head.hash)
        #expect(try store.verifyAudit(verifier: Self.signer, anchors: [anchor]).isValid)
        // The intruder deletes the checkpoints and rewrites the chain from record 2: the
        // queue alone has nothing left to tell (a chain anyone can recompute).
        try rewriteChain(copy, store, first: "DELETE FROM audit_checkpoint;\n")
        let alone = try store.verifyAudit(verifier: Self.signer)
        #expect(alone.isValid && alone.checkpoints == 0, "the queue alone cannot tell (gatewayctl refuses a chain without checkpoints)")
        let anchored = try store.verifyAudit(verifier: Self.signer, anchors: [anchor]).problems
        #expect(anchored.contains { $0.seq == head.seq && $0.message.contains("differs from the anchor") }, "\(anchored)")
        // Cut back before the anchor: the anchored record is missing.
        try sqlite(copy, "DELETE FROM audit WHERE seq >= \(head.seq - 2);")
        let cut = try store.verifyAudit(verifier: Self.signer, anchors: [anchor]).problems
        #expect(cut.contains { $0.seq == head.seq && $0.message.contains("missing") }, "\(cut)")
    }
}
