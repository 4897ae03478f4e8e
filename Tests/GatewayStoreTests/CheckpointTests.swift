// The WAL must not grow for as long as writes go on: passive checkpoints alone never catch
// up with writers that commit all the time, so the checkpointer makes the WAL start over.
import Foundation
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("WAL checkpoints under sustained writes")
struct CheckpointTests {
    @Test("with writers committing all the time and readers reading, the WAL stays bounded and starts over")
    func walStaysBounded() throws {
        let dir = try TestPaths.temporaryDirectory("wal")
        let path = dir.appendingPathComponent("queue.sqlite").path
        let store = try QueueStore(path: path, checkpointsInBackground: true)
        // 256 frames (≈ 1 MB of pages) before a restart, looked at every 20 ms.
        let checkpointer = try store.startCheckpointer(interval: 0.02, restartFrames: 256)
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
        checkpointer.stop()
        #expect(checkpointer.lastError == nil)
        #expect(checkpointer.restarts.done > 0, "\(checkpointer.restarts)")
        #expect(largest < 16 << 20, "the WAL reached \(largest) bytes")
        #expect(try store.countDeliveries() == 5_000)
        #expect(try store.integrityCheck() == "ok")
    }
}
