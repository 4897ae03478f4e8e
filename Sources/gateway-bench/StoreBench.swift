// Queue benchmarks (issue #4): durable batched enqueue, the next-due query and a claim on a
// large backlog, open + recovery on a large queue, bytes on disk per message.
import Foundation
import GatewayModel
import GatewayStore

func runStoreBench(quick: Bool) throws {
    let backlog = quick ? 100_000 : 1_000_000
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gw-bench-store-\(getpid())")
    try? FileManager.default.removeItem(at: dir)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("queue.sqlite").path
    let store = try QueueStore(path: path)

    let jws = [UInt8](repeating: 0x61, count: 1_024)
    var n = 0
    func batch(_ size: Int, endpoint: String = "europol", priority: Priority = .routine) -> [NewMessage] {
        (0..<size).map { _ in
            n += 1
            return NewMessage(sender: "PL-KGP", messageId: "bench-\(n)", type: "operational-report", priority: priority,
                              classification: .restricted, subject: nil, createdAt: 0, expiresAt: nil,
                              contentDigest: String(repeating: "0", count: 64), jws: jws, sourceFile: "bench-\(n).json",
                              routes: [Route(recipient: "EU-EUROPOL", endpoint: endpoint)])
        }
    }

    // Durable enqueue: batches of 500 (each commit fsyncs once).
    let measured = quick ? 20_000 : 100_000
    let t = try measure { for _ in 0..<(measured / 500) { _ = try store.enqueue(batch(500)) } }
    report("enqueue_msgs_per_s", Double(measured) / t, "msgs/s")
    // And one message per commit, for comparison (what unbatched pickup would cost).
    let single = 2_000
    let ts = try measure { for _ in 0..<single { _ = try store.enqueue(batch(1)) } }
    report("enqueue_unbatched_msgs_per_s", Double(single) / ts, "msgs/s")

    // Fill to the backlog.
    while n < backlog { _ = try store.enqueue(batch(min(2_000, backlog - n))) }
    let files = [path, path + "-wal"]
    let bytes = files.compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int }.reduce(0, +)
    report("bytes_per_1kb_msg", Double(bytes) / Double(n), "bytes")

    // The next-due query with the backlog queued (read only), and a real claim (write).
    _ = try store.enqueue(batch(1, priority: .immediate))
    let rounds = 200
    let tq = try measure { for _ in 0..<rounds { _ = try store.peekDue(endpoint: "europol", limit: 50) } }
    report("next_due_query_ms", tq / Double(rounds) * 1000, "ms")
    let tc = try measure { for _ in 0..<rounds { _ = try store.claimDue(endpoint: "europol", limit: 1) } }
    report("claim_due_ms", tc / Double(rounds) * 1000, "ms")

    // Open + recovery with the backlog queued and the claimed ones left "sending".
    let to = try measure {
        let reopened = try QueueStore(path: path)
        let recovered = try reopened.recoverInterrupted()
        precondition(recovered == rounds)
    }
    report("open_recover_s", to, "s")
    report("store_backlog", Double(n), "deliveries")
}
