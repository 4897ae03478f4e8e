import Foundation
@testable import GatewayDaemon
import Testing

@Suite("Files left in the outbox for the gateway's own reasons")
struct LeftFilesTests {
    static let second: UInt64 = 1_000_000_000

    static func identity(inode: UInt64, size: Int64 = 1_000, changed: Int = 1) -> FileIdentity {
        var st = stat()
        st.st_dev = 7
        st.st_ino = UInt(inode)
        st.st_size = Int(size)
        st.st_ctim.tv_sec = changed
        st.st_mtim.tv_sec = changed
        return FileIdentity(st)
    }

    @Test("a left file is left alone until due; each failure doubles the wait, up to the bound")
    func backoff() {
        var memo = LeftFiles(firstWait: 5 * Self.second, maxWait: 60 * Self.second)
        let id = Self.identity(inode: 1)
        var now: UInt64 = 1_000 * Self.second
        let r1 = memo.isWaiting(unit: "PL-KGP", name: "a.json", identity: id, now: now)
        #expect(!r1, "never left: read")
        var waits: [UInt64] = []
        for _ in 0..<7 {
            let wait = memo.left(unit: "PL-KGP", name: "a.json", identity: id, now: now)
            waits.append(wait / Self.second)
            let r2 = memo.isWaiting(unit: "PL-KGP", name: "a.json", identity: id, now: now + wait - 1)
            #expect(r2)
            now += wait
            let r3 = memo.isWaiting(unit: "PL-KGP", name: "a.json", identity: id, now: now)
            #expect(!r3, "due: read again")
        }
        #expect(waits == [5, 10, 20, 40, 60, 60, 60])
        #expect(memo.count == 1, "a file that is read again and fails keeps its one entry")
    }

    @Test("a file replaced or written again is read at once, and starts from the first wait")
    func replacedFile() {
        var memo = LeftFiles(firstWait: 5 * Self.second)
        let now: UInt64 = 50 * Self.second
        memo.left(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 1), now: now)
        memo.left(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 1), now: now)
        let r4 = memo.isWaiting(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 2), now: now)
        #expect(!r4, "another inode")
        #expect(!memo.has(unit: "PL-KGP", name: "a.json"), "forgotten")
        memo.left(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 1), now: now)
        let r5 = memo.isWaiting(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 1, size: 2_000), now: now)
        #expect(!r5, "written again")
        memo.left(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 1), now: now)
        let r6 = memo.isWaiting(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 1, changed: 2), now: now)
        #expect(!r6, "changed since")
        memo.left(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 1), now: now)
        let r7 = memo.isWaiting(unit: "PL-KGP", name: "a.json", identity: nil, now: now)
        #expect(!r7, "gone (no stat)")
        let wait = memo.left(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 3), now: now)
        #expect(wait == 5 * Self.second, "a new file starts from the first wait")
        let r8 = memo.left(unit: "PL-KGP", name: "a.json", identity: Self.identity(inode: 4), now: now)
        #expect(r8 == 5 * Self.second)
    }

    @Test("a unit's success clears that unit's files only; clearAll clears every unit's")
    func clearing() {
        var memo = LeftFiles(firstWait: 5 * Self.second)
        let now: UInt64 = 10 * Self.second
        for (i, unit) in ["PL-KGP", "PL-CBA"].enumerated() {
            for n in 0..<3 { memo.left(unit: unit, name: "\(n).json", identity: Self.identity(inode: UInt64(10 * i + n)), now: now) }
        }
        #expect(memo.count == 6)
        memo.clear(unit: "PL-KGP")
        #expect(memo.count == 3)
        let r9 = memo.isWaiting(unit: "PL-KGP", name: "0.json", identity: Self.identity(inode: 0), now: now)
        #expect(!r9)
        let r10 = memo.isWaiting(unit: "PL-CBA", name: "0.json", identity: Self.identity(inode: 10), now: now)
        #expect(r10)
        memo.forget(unit: "PL-CBA", name: "0.json")
        #expect(memo.count == 2)
        memo.clearAll()
        #expect(memo.isEmpty)
        let r11 = memo.isWaiting(unit: "PL-CBA", name: "1.json", identity: Self.identity(inode: 11), now: now)
        #expect(!r11)
    }

    @Test("a rescan's listing forgets the files that have gone from the outbox, and only that unit's")
    func pruning() {
        var memo = LeftFiles(firstWait: 5 * Self.second)
        for (i, name) in ["a.json", "b.json", "c.json"].enumerated() {
            memo.left(unit: "PL-KGP", name: name, identity: Self.identity(inode: UInt64(i)), now: 0)
        }
        memo.left(unit: "PL-CBA", name: "a.json", identity: Self.identity(inode: 9), now: 0)
        memo.keep(unit: "PL-KGP", only: ["b.json", "other.json"])
        #expect(memo.count == 2 && memo.has(unit: "PL-KGP", name: "b.json") && memo.has(unit: "PL-CBA", name: "a.json"))
        memo.keep(unit: "PL-KGP", only: [])
        #expect(!memo.has(unit: "PL-KGP") && memo.count == 1)
    }

    @Test("waits are bounded whatever the first wait")
    func bounds() {
        var memo = LeftFiles(firstWait: 600 * Self.second, maxWait: 60 * Self.second)
        let r12 = memo.left(unit: "U", name: "a.json", identity: Self.identity(inode: 1), now: 0)
        #expect(r12 == 60 * Self.second)
        var tiny = LeftFiles(firstWait: 0, maxWait: UInt64.max)
        var wait: UInt64 = 0
        for _ in 0..<70 { wait = tiny.left(unit: "U", name: "a.json", identity: Self.identity(inode: 1), now: UInt64.max - 5) }
        #expect(wait == UInt64.max, "no overflow when doubling")
        let r13 = tiny.isWaiting(unit: "U", name: "a.json", identity: Self.identity(inode: 1), now: UInt64.max - 10)
        #expect(r13, "a due time past the clock's end saturates")
    }
}
