// DirectoryHandle.readHostileFile: the exact bytes of a regular file of any size, and a
// clear refusal for everything else, whatever the file's size says.

import Foundation
@testable import GatewayDaemon
import Testing

@Suite("hostile file reads", .serialized)  // two tests set process-wide removal hooks
struct HostileReadTests {
    func directory() throws -> (URL, DirectoryHandle) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-read-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return (url, try DirectoryHandle(path: url.path))
    }

    @Test("every size reads back byte for byte, up to the cap exactly", arguments: [0, 1, 2, 4095, 4096, 4097, 8193, 100_000])
    func exactBytes(size: Int) throws {
        let (url, dir) = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        try Data(bytes).write(to: url.appendingPathComponent("f.json"))
        #expect(try dir.readHostileFile("f.json", maxBytes: size) == bytes)
        #expect(try dir.readHostileFile("f.json", maxBytes: size + 1) == bytes)
        if size > 0 {
            #expect { try dir.readHostileFile("f.json", maxBytes: size - 1) } throws: { ($0 as? SafeFileError)?.reason == .tooLarge }
        }
    }

    @Test("links, FIFOs, directories and vanished files are refused with their reason")
    func refusals() throws {
        let (url, dir) = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("{}".utf8).write(to: url.appendingPathComponent("real.json"))
        try FileManager.default.createSymbolicLink(atPath: url.appendingPathComponent("link.json").path, withDestinationPath: "real.json")
        #expect(mkfifo(url.appendingPathComponent("fifo.json").path, 0o600) == 0)
        try FileManager.default.createDirectory(at: url.appendingPathComponent("dir.json"), withIntermediateDirectories: false)
        try Data("{}".utf8).write(to: url.appendingPathComponent("once.json"))
        #expect(link(url.appendingPathComponent("once.json").path, url.appendingPathComponent("twice.json").path) == 0)
        let cases: [(String, SafeFileError.Reason)] = [("link.json", .symlink), ("fifo.json", .notRegular), ("dir.json", .notRegular),
                                                       ("twice.json", .hardLinked), ("gone.json", .vanished)]
        for (name, reason) in cases {
            #expect(throws: SafeFileError.self, "\(name)") { try dir.readHostileFile(name, maxBytes: 1 << 20) }
            do { _ = try dir.readHostileFile(name, maxBytes: 1 << 20) } catch { #expect(error.reason == reason, "\(name): \(error)") }
        }
        #expect(try dir.readHostileFile("real.json", maxBytes: 10) == Array("{}".utf8))
    }

    @Test("the gateway's own trouble is told from the file's: out of descriptors or memory, I/O errors and leases are tried again, never refused")
    func transientErrorsAreNotRefusals() throws {
        for e in [EMFILE, ENFILE, ENOMEM, EIO, EAGAIN, EINTR, ENOBUFS] {
            #expect(SafeFileError.reading(e, "m.json cannot be opened").reason == .transient, "errno \(e)")
        }
        for e in [EACCES, EPERM, ENAMETOOLONG, EINVAL] {
            #expect(SafeFileError.reading(e, "m.json cannot be opened").reason == .unreadable, "errno \(e)")
        }
        #expect(SafeFileError.reading(EACCES, "m.json cannot be opened").description == "m.json cannot be opened: Permission denied")
        for e in [ENOSPC, EDQUOT] { #expect(SafeFileError.writing(e, "cannot write in r").reason == .noSpace, "errno \(e)") }
        for e in [EROFS, EACCES, EPERM] { #expect(SafeFileError.writing(e, "cannot write in r").reason == .notWritable, "errno \(e)") }
        for e in [EIO, EISDIR, ENAMETOOLONG] { #expect(SafeFileError.writing(e, "cannot write in r").reason == .unreadable, "errno \(e)") }
    }

    @Test("a file renamed over the one read is neither removed nor moved in its place")
    func replacedFilesAreLeft() throws {
        let (url, dir) = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        let target = try DirectoryHandle(path: { let r = url.appendingPathComponent("rejected"); try FileManager.default.createDirectory(at: r, withIntermediateDirectories: true); return r.path }())
        try Data("first".utf8).write(to: url.appendingPathComponent("m.json"))
        let (bytes, first) = try dir.readHostileFileAndIdentity("m.json", maxBytes: 100)
        #expect(bytes == Array("first".utf8))
        // The unit renames another file onto the name while the first is being processed.
        try Data("second".utf8).write(to: url.appendingPathComponent(".m.json.tmp"))
        #expect(rename(url.appendingPathComponent(".m.json.tmp").path, url.appendingPathComponent("m.json").path) == 0)
        #expect(dir.remove("m.json", ifStill: first) == .replaced)
        #expect(throws: SafeFileError.self) { try dir.moveAside("m.json", to: target, as: "m.json", ifStill: first) }
        #expect(try dir.readHostileFile("m.json", maxBytes: 100) == Array("second".utf8), "the new file is untouched")
        let (_, second) = try dir.readHostileFileAndIdentity("m.json", maxBytes: 100)
        #expect(second != first)
        #expect(try dir.moveAside("m.json", to: target, as: "m.json", ifStill: second) == "m.json")
        try Data("third".utf8).write(to: url.appendingPathComponent("n.json"))
        let (_, third) = try dir.readHostileFileAndIdentity("n.json", maxBytes: 100)
        #expect(dir.remove("n.json", ifStill: third) == .removed)
        #expect(!FileManager.default.fileExists(atPath: url.appendingPathComponent("n.json").path))
        // Nothing hidden is left behind by either path.
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() == ["rejected"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.path) == ["m.json"])
    }

    @Test("a file the unit renames onto the name at the moment the one read is removed is never the one removed")
    func removalRacesWithRename() throws {
        let (url, dir) = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        try Data("read".utf8).write(to: url.appendingPathComponent("m.json"))
        let (_, identity) = try dir.readHostileFileAndIdentity("m.json", maxBytes: 100)
        let incoming = url.appendingPathComponent(".in.tmp").path
        try Data("new".utf8).write(to: URL(fileURLWithPath: incoming))
        // The unit's rename lands after any check of the name and before the removal acts.
        let target = url.appendingPathComponent("m.json").path
        DirectoryHandle.beforeRemoval.withLock { $0 = { _ in _ = rename(incoming, target) } }
        defer { DirectoryHandle.beforeRemoval.withLock { $0 = nil } }
        #expect(dir.remove("m.json", ifStill: identity) == .replaced)
        #expect(try dir.readHostileFile("m.json", maxBytes: 100) == Array("new".utf8), "the unit's new file is kept under its name")
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.path) == ["m.json"], "nothing hidden is left")
    }

    @Test("files a crash left being removed (hidden names) are put back at start, under their names or a free variant, never over another")
    func hiddenRemovalsRestored() throws {
        let (url, dir) = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        func put(_ name: String, _ text: String) throws { try Data(text.utf8).write(to: url.appendingPathComponent(name)) }
        try put(".gw-removing.41.7.a.json", "a")
        try put(".gw-removing.41.8.b.json", "b hidden")
        try put("b.json", "b waiting")                      // the unit dropped another b.json since
        try put(".gw-removing.41.9.long.json", "long")      // a name too long to keep
        try put(".unit-writing.tmp", "not ours")
        try put(".gw-removing.41.10.c.json", "queued already")  // its message is queued: removed
        let counts = dir.restoreHiddenRemovals(maxBytes: 100) { $0 == Array("queued already".utf8) }
        #expect(counts.removed == 1 && counts.restored == 3, "\(counts)")
        func text(_ name: String) -> String? { (try? Data(contentsOf: url.appendingPathComponent(name))).map { String(decoding: $0, as: UTF8.self) } }
        #expect(text("a.json") == "a")
        #expect(text("b.json") == "b waiting" && text("b~2.json") == "b hidden")
        #expect(text("returned.json") == "long")
        #expect(text(".unit-writing.tmp") == "not ours")
        #expect(try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasPrefix(".gw-removing.") }.isEmpty)
        // The hidden name keeps the unit's name when it fits, and a variant fits 255 bytes.
        let long = String(repeating: "x", count: 250) + ".json"
        #expect(DirectoryHandle.variant(of: long, 12).utf8.count == 255 && DirectoryHandle.variant(of: long, 12).hasSuffix("~12.json"))
    }
    @Test("a file that cannot be put back (its name and every variant taken) is reported with where it stays, then put back by a start once a name is free")
    func putBackFailureReported() throws {
        let (url, dir) = try directory()
        defer { try? FileManager.default.removeItem(at: url) }
        func put(_ name: String, _ text: String) throws { try Data(text.utf8).write(to: url.appendingPathComponent(name)) }
        func text(_ name: String) -> String? { (try? Data(contentsOf: url.appendingPathComponent(name))).map { String(decoding: $0, as: UTF8.self) } }
        for n in 2...100 { try put(DirectoryHandle.variant(of: "m.json", n), "taken") }
        try put("m.json", "read")
        let (_, identity) = try dir.readHostileFileAndIdentity("m.json", maxBytes: 100)
        // The unit renames a new m.json in right before the removal acts, and drops yet
        // another one once the removal has hidden it: the new one finds every name taken.
        try put(".in1.tmp", "new")
        try put(".in2.tmp", "newer")
        DirectoryHandle.beforeRemoval.withLock { $0 = { _ in _ = rename(url.appendingPathComponent(".in1.tmp").path, url.appendingPathComponent("m.json").path) } }
        DirectoryHandle.afterHiding.withLock { $0 = { _ in _ = rename(url.appendingPathComponent(".in2.tmp").path, url.appendingPathComponent("m.json").path) } }
        defer {
            DirectoryHandle.beforeRemoval.withLock { $0 = nil }
            DirectoryHandle.afterHiding.withLock { $0 = nil }
        }
        let removal = dir.remove("m.json", ifStill: identity)
        guard case .replacedNotPutBack(let hidden, let why) = removal else {
            Issue.record("expected replacedNotPutBack, got \(removal)")
            return
        }
        #expect(why.contains("variants are taken"), "\(why)")
        #expect(text(hidden) == "new", "the unit's file stays, hidden")
        #expect(text("m.json") == "newer")
        // A start finds it and, every name still taken, reports it again; once one is free,
        // puts it back there.
        let first = dir.restoreHiddenRemovals(maxBytes: 100) { _ in false }
        #expect(first.restored == 0 && first.stuck.map(\.hidden) == [hidden], "\(first)")
        #expect(text(hidden) == "new")
        try FileManager.default.removeItem(at: url.appendingPathComponent("m~50.json"))
        let second = dir.restoreHiddenRemovals(maxBytes: 100) { _ in false }
        #expect(second.restored == 1 && second.stuck.isEmpty)
        #expect(text("m~50.json") == "new")
    }
}
