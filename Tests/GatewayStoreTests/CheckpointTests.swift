// The WAL must not grow for as long as writes go on: passive checkpoints alone never catch
// up with writers that commit all the time, so the checkpointer makes the WAL start over.
import Foundation
import GRDB
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("WAL checkpoints under sustained writes")
struct CheckpointTests {
    /// A fresh queue whose commits never checkpoint, its path, and a checkpointer that
    /// looks every 20 ms and restarts the WAL past `restartFrames`.
    static func walQueue(_ name: String, restartFrames: Int) throws -> (QueueStore, String, WALCheckpointer) {
        let path = try TestPaths.temporaryDirectory(name).appendingPathComponent("queue.sqlite").path
        let store = try QueueStore(path: path, checkpointsInBackground: true)
        return (store, path, try store.startCheckpointer(interval: 0.02, restartFrames: restartFrames))
    }

    @Test("with writers committing all the time and readers reading, the WAL stays bounded and starts over")
    func walStaysBounded() throws {
        // 256 frames (≈ 1 MB of pages) before a restart.
        let (store, path, checkpointer) = try Self.walQueue("wal", restartFrames: 256)
        let reader = try QueueStore(path: path, readOnly: true)
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var value = false
            var isSet: Bool { lock.withLock { value } }
            func set() { lock.withLock { value = true } }
        }
        let stop = Flag()
        let readerDone = DispatchSemaphore(value: 0)
        Thread {
            while !stop.isSet {
                _ = try? reader.countDeliveries()
                usleep(2_000)
            }
            readerDone.signal()
        }.start()
        // ≈ 40 MB through the WAL: 8 KB of JWS per message, 100 messages a commit.
        let jws = [UInt8](repeating: UInt8(ascii: "x"), count: 8_192)
        var largest = 0
        for batch in 0..<50 {
            let messages = (0..<100).map { i -> NewMessage in
                var m = message("wal-\(batch)-\(i)")
                m.jws = jws
                return m
            }
            _ = try store.enqueue(messages)
            let size = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
            largest = max(largest, size)
        }
        stop.set()
        readerDone.wait()
        // No more writes: after at most one last restart, none are repeated (the WAL holds
        // the same frames until a writer starts it over).
        // Settled: no restart for a whole second (the checkpointer looks every 20 ms); then
        // another second without one.
        var settled = checkpointer.restarts.done
        let settleDeadline = Date().addingTimeInterval(30)
        while Date() < settleDeadline {
            usleep(1_000_000)
            let now = checkpointer.restarts.done
            if now == settled { break }
            settled = now
        }
        usleep(1_000_000)
        #expect(checkpointer.restarts.done == settled, "restarts repeated without writes")
        checkpointer.stop()
        #expect(checkpointer.lastError == nil)
        #expect(checkpointer.restarts.done > 0, "\(checkpointer.restarts)")
        #expect(largest < 16 << 20, "the WAL reached \(largest) bytes")
        #expect(try store.countDeliveries() == 5_000)
        #expect(try store.integrityCheck() == "ok")
    }

    @Test("a reader that stays in the WAL makes the restart give up and back off, reported once; writes go on; it restarts after")
    func readerHoldsTheWAL() throws {
        let (store, path, checkpointer) = try Self.walQueue("wal-reader", restartFrames: 64)
        defer { checkpointer.stop() }
        let jws = [UInt8](repeating: UInt8(ascii: "x"), count: 8_192)
        func write(_ batch: Int) throws {
            _ = try store.enqueue((0..<20).map { i -> NewMessage in
                var m = message("r-\(batch)-\(i)")
                m.jws = jws
                return m
            })
        }
        try write(0)
        // A reader in another connection holds a snapshot that lives in the WAL.
        var readerConfig = Configuration()
        readerConfig.allowsUnsafeTransactions = true   // the open read transaction is the point
        let reader = try DatabaseQueue(path: path, configuration: readerConfig)
        try reader.inDatabase { db in
            try db.execute(sql: "BEGIN")
            _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message")
        }
        var batch = 1
        var problems: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while problems.isEmpty && Date() < deadline {
            try write(batch)   // writers are never stuck behind the restart for long
            batch += 1
            problems += checkpointer.takeProblems()
            usleep(10_000)
        }
        #expect(problems.count == 1 && problems[0].contains("cannot start over"), "\(problems)")
        #expect(checkpointer.restarts.busy >= 3)
        let doneBefore = checkpointer.restarts.done
        try reader.inDatabase { db in try db.execute(sql: "COMMIT") }
        // Without the reader it starts over again (after its back-off).
        let restartDeadline = Date().addingTimeInterval(20)
        while checkpointer.restarts.done == doneBefore && Date() < restartDeadline {
            try write(batch)
            batch += 1
            usleep(20_000)
        }
        #expect(checkpointer.restarts.done > doneBefore)
        #expect(checkpointer.takeProblems().isEmpty, "reported once, not at every attempt")
        #expect(checkpointer.lastError == nil)
    }
}
