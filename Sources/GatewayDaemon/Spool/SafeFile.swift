// NAME
//   SafeFile: reads one file a unit dropped, treating it as hostile.
//
// SECURITY
//   Trusted: the spool root and the unit folders the daemon created (checked to be real
//   directories, not links, when opened). Not trusted: anything inside outbox/.
//   - The outbox is opened once as a directory descriptor (O_DIRECTORY|O_NOFOLLOW) and
//     files are opened relative to it with openat(O_NOFOLLOW|O_NONBLOCK): no link is ever
//     followed and a FIFO never blocks the opener.
//   - After opening, fstat on the DESCRIPTOR decides: regular file only, exactly one link
//     (a hard link could alias a file the unit does not own), size within the cap. The
//     size cap is checked before reading, so a 1 GB sparse file costs nothing.
//   - At most cap+1 bytes are read, whatever fstat said (a file growing under us).
//
// BUGS
//   A unit that keeps writing into a file after renaming it into outbox/ can change it
//   between our read and our unlink; we only ever act on the bytes we read, and the
//   accepted report carries their digest.

import CGatewaySys
import Foundation
import GatewayJSON
#if canImport(Glibc)
import Glibc
#endif

public struct SafeFileError: Error, Sendable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case symlink, notRegular, hardLinked, tooLarge, unreadable, vanished
        /// Writing failed for want of space (ENOSPC, EDQUOT): trying more now is no use.
        case noSpace
        /// A folder that takes no files now (read-only, no permission): as for `noSpace`,
        /// its other writes would fail alike.
        case notWritable
        /// The name now holds another file than the one read (the unit replaced it).
        case replaced
        /// As `replaced`, and that other file, moved by the gateway, could not be put back
        /// (the description says where it is).
        case replacedNotPutBack
        /// The gateway's trouble, not the file's (out of descriptors or memory, an I/O
        /// error, a lease held): the file is tried again later, never refused for it.
        case transient
    }

    /// Errors of reading a unit's file that are the gateway's (or the machine's) trouble.
    static func isTransient(_ errorNumber: Int32) -> Bool {
        [EMFILE, ENFILE, ENOMEM, EIO, EAGAIN, EWOULDBLOCK, EINTR, ENOBUFS].contains(errorNumber)
    }

    /// A failed open, fstat or read of a unit's file (`what` says which, with the name).
    static func reading(_ errorNumber: Int32, _ what: String) -> SafeFileError {
        SafeFileError(reason: isTransient(errorNumber) ? .transient : .unreadable,
                      description: "\(what): \(String(cString: strerror(errorNumber)))")
    }
    public let reason: Reason
    public let description: String

    /// A failed write: `noSpace` for a full disk or quota, `notWritable` for a read-only
    /// or forbidden folder, else `unreadable` (this file cannot be written there).
    static func writing(_ errorNumber: Int32, _ description: String) -> SafeFileError {
        SafeFileError(reason: errorNumber == ENOSPC || errorNumber == EDQUOT ? .noSpace
                          : [EROFS, EACCES, EPERM].contains(errorNumber) ? .notWritable : .unreadable,
                      description: "\(description): \(String(cString: strerror(errorNumber)))")
    }
}

/// Which file a name held when it was read (device and inode), so that what is done to
/// the name later (removal after the commit, the move to rejected/) is done to that file
/// and not to one the unit has renamed over it meanwhile.
public struct FileIdentity: Equatable, Sendable {
    let device: UInt64
    let inode: UInt64
    /// A freed inode number can come back with the next file: its change time (set when it
    /// was written and renamed into place) and size tell the two apart.
    let changed: Int64
    let changedNanoseconds: Int
    let size: Int64
    /// The modification time: unlike the change time, a rename of ours leaves it as it was.
    let modified: Int64
    let modifiedNanoseconds: Int
    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        changed = Int64(st.st_ctim.tv_sec)
        changedNanoseconds = st.st_ctim.tv_nsec
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec)
        modifiedNanoseconds = st.st_mtim.tv_nsec
    }

    /// Whether `moved` (looked at after a rename of ours, which sets the change time) is
    /// this file: the same inode, size and modification time.
    func isSameFile(afterRename moved: FileIdentity) -> Bool {
        device == moved.device && inode == moved.inode && size == moved.size
            && modified == moved.modified && modifiedNanoseconds == moved.modifiedNanoseconds
    }
}

/// What `remove(_:ifStill:)` did.
public enum Removal: Equatable, Sendable {
    case removed
    /// The name holds another file now: left for the next rescan.
    case replaced
    /// The name held another file, which the removal had renamed to `hidden` and could not
    /// put back (`why`): it stays hidden until the next start puts it back.
    case replacedNotPutBack(hidden: String, why: String)
    case failed(Int32)
}

/// A directory held open by descriptor, whose entries are opened without following links.
public final class DirectoryHandle: @unchecked Sendable {
    // Immutable after init; closed in deinit only.
    public let fd: Int32
    public let path: String

    public init(path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw SafeFileError(reason: .unreadable, description: "\(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SafeFileError(reason: (st.st_mode & S_IFMT) == S_IFLNK ? .symlink : .notRegular,
                                description: "\(path) is not a real directory (links are not followed under the spool)")
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw SafeFileError(reason: .unreadable, description: "\(path): \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Names of the entries (not "." or "..").
    public func entries() -> [String] {
        var names: [String] = []
        // A name that is not UTF-8 is left out: decoded with replacement characters it
        // would name no file, or another one (see undecodableNames()).
        eachName { raw in
            if let name = Self.usableName(raw), name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The name, when it can name a file in the gateway's JSON (reports, error files,
    /// the queue), which must read back: UTF-8 without noncharacters (I-JSON forbids them)
    /// or more than 30 combining marks in a row (JSONParser refuses those); else nil.
    public static func usableName(_ raw: some Collection<UInt8>) -> String? {
        guard let name = String(validating: raw, as: UTF8.self) else { return nil }
        if raw.allSatisfy({ $0 < 0x80 }) { return name }
        return JSONParser.isInteroperableText(name) ? name : nil
    }

    /// The raw names of entries that are not usable names (`usableName`: not UTF-8, or with
    /// a noncharacter or more than 30 combining marks in a row); temporary ones, with a leading dot or ending in ".tmp", left out: a
    /// unit may still be writing them.
    public func undecodableNames() -> [[UInt8]] {
        var names: [[UInt8]] = []
        eachName { raw in
            let temporary = raw.first == UInt8(ascii: ".") || raw.suffix(4).elementsEqual(".tmp".utf8)
            if !temporary, Self.usableName(raw) == nil { names.append(Array(raw)) }
        }
        return names
    }

    /// Each entry's name as the directory holds it (bytes, "." and ".." included).
    private func eachName(_ body: (Slice<UnsafeRawBufferPointer>) -> Void) {
        let dupfd = dup(fd)
        guard dupfd >= 0, let dir = fdopendir(dupfd) else { return }
        defer { closedir(dir) }
        rewinddir(dir)
        while let entry = readdir(dir) {
            withUnsafeBytes(of: entry.pointee.d_name) { raw in body(raw.prefix(while: { $0 != 0 })) }
        }
    }

    /// Moves the entry named by the raw bytes `raw` into `target` as `newName`, never
    /// replacing a file there: false when `newName` is taken.
    public func moveUndecodable(_ raw: [UInt8], to target: DirectoryHandle, as newName: String) throws -> Bool {
        let moved = (raw + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { gw_renameat_noreplace(fd, $0.baseAddress!, target.fd, newName) }
        }
        if moved == 0 { return true }
        let e = errno
        if e == EEXIST { return false }
        throw SafeFileError(reason: e == ENOENT ? .vanished : .unreadable, description: "cannot move a file to \(target.path): \(String(cString: strerror(e)))")
    }

    /// Reads the regular, singly-linked file `name` of at most `maxBytes` bytes.
    public func readHostileFile(_ name: String, maxBytes: Int) throws(SafeFileError) -> [UInt8] {
        try readHostileFileAndIdentity(name, maxBytes: maxBytes).bytes
    }

    /// The first `maxBytes` bytes (or fewer) of a regular file with one link, opened as
    /// `readHostileFile` opens it; nil for anything else or any error. A look ahead of the
    /// real read (which checks everything again), not a substitute for it.
    public func peekHostileFile(_ name: String, maxBytes: Int) -> [UInt8]? {
        let fd = openat(self.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_nlink == 1 else { return nil }
        var bytes = [UInt8](repeating: 0, count: max(0, min(maxBytes, Int(st.st_size))))
        guard !bytes.isEmpty else { return nil }
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { return nil }
        return Array(bytes[0..<n])
    }

    /// As `readHostileFile`, with the identity of the file read.
    public func readHostileFileAndIdentity(_ name: String, maxBytes: Int) throws(SafeFileError) -> (bytes: [UInt8], identity: FileIdentity) {
        let fd = openat(self.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        if fd < 0 {
            let e = errno
            if e == ELOOP { throw SafeFileError(reason: .symlink, description: "\(name) is a symbolic link; links are never followed in the spool") }
            if e == ENOENT { throw SafeFileError(reason: .vanished, description: "\(name) disappeared before it could be read") }
            if e == ENXIO { throw SafeFileError(reason: .notRegular, description: "\(name) is not a regular file (a FIFO or socket)") }
            throw SafeFileError.reading(e, "\(name) cannot be opened")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw SafeFileError.reading(errno, "\(name): fstat failed")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFIFO: throw SafeFileError(reason: .notRegular, description: "\(name) is a FIFO, not a regular file")
        case S_IFCHR, S_IFBLK: throw SafeFileError(reason: .notRegular, description: "\(name) is a device, not a regular file")
        case S_IFDIR: throw SafeFileError(reason: .notRegular, description: "\(name) is a directory, not a regular file")
        default: throw SafeFileError(reason: .notRegular, description: "\(name) is not a regular file")
        }
        guard st.st_nlink == 1 else {
            throw SafeFileError(reason: .hardLinked, description: "\(name) has \(st.st_nlink) hard links; only files with a single link are accepted")
        }
        guard st.st_size <= maxBytes else {
            throw SafeFileError(reason: .tooLarge, description: "\(name) is \(st.st_size) bytes, over the limit of \(maxBytes) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var total = 0
        while total < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, $0.count - total) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SafeFileError.reading(errno, "\(name): read failed")
            }
            if n == 0 { break }
            let asked = bytes.count - total
            total += n
            if total > maxBytes {
                throw SafeFileError(reason: .tooLarge, description: "\(name) grew past the limit of \(maxBytes) bytes while being read")
            }
            // A short read of a regular file ends at its end: when that is the size fstat
            // gave, the read that would return 0 tells nothing more (one system call less).
            if n < asked && total == Int(st.st_size) { break }
            if total == bytes.count && total <= maxBytes { bytes.append(contentsOf: [UInt8](repeating: 0, count: 4096)) }
        }
        bytes.removeSubrange(total...)
        return (bytes, FileIdentity(st))
    }

    /// Whether `name` (not followed), which a rename of ours has just put there, is the file
    /// `identity` says; nil when it cannot be told.
    func holdsMoved(_ name: String, _ identity: FileIdentity) -> Bool? {
        var st = stat()
        guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return identity.isSameFile(afterRename: FileIdentity(st))
    }

    /// Renames `name` into `target` as `newName`, never replacing a file there. Returns nil
    /// when `newName` is taken (the caller picks another), throws on other errors. With
    /// `identity`, what was moved is checked AFTER the move (a check before it would leave
    /// a window for the unit to rename another file onto the name): another file than the
    /// one read goes back to the outbox and the move fails as `.replaced`.
    public func moveAside(_ name: String, to target: DirectoryHandle, as newName: String, ifStill identity: FileIdentity? = nil) throws -> String? {
        if gw_renameat_noreplace(fd, name, target.fd, newName) != 0 {
            let e = errno
            if e == EEXIST { return nil }
            throw SafeFileError(reason: e == ENOENT ? .vanished : .unreadable, description: "cannot move \(name) to \(target.path): \(String(cString: strerror(e)))")
        }
        if let identity, target.holdsMoved(newName, identity) == false {
            if let why = putBack(from: target, newName, as: name) {
                throw SafeFileError(reason: .replacedNotPutBack, description: "\(name) was replaced by another file since it was read, and that file could not be put back (\(why)): it is in \(target.path) as \(newName)")
            }
            throw SafeFileError(reason: .replaced, description: "\(name) was replaced by another file since it was read")
        }
        return newName
    }

    /// Removes `name` (after its message is durably queued), unless it holds another file
    /// than `identity` now. With `identity` the file is first renamed to a hidden name and
    /// checked there, so that a file the unit renames onto the name at that moment is never
    /// the one removed (it is put back, and read at the next rescan).
    public func remove(_ name: String, ifStill identity: FileIdentity? = nil) -> Removal {
        guard let identity else { return unlinkat(fd, name, 0) == 0 || errno == ENOENT ? .removed : .failed(errno) }
        Self.beforeRemoval.withLock { $0 }?(name)
        let hidden = Self.removingName(name)
        if gw_renameat_noreplace(fd, name, fd, hidden) != 0 {
            return errno == ENOENT ? .removed : .failed(errno)
        }
        Self.afterHiding.withLock { $0 }?(name)
        if holdsMoved(hidden, identity) == false {
            if let why = putBack(from: self, hidden, as: name) { return .replacedNotPutBack(hidden: hidden, why: why) }
            return .replaced
        }
        // A crash here leaves the hidden name: restoreHiddenRemovals() at start removes it
        // (its message is queued) or puts it back.
        return unlinkat(fd, hidden, 0) == 0 || errno == ENOENT ? .removed : .failed(errno)
    }

    /// Tests only: runs right before a removal acts (the moment a unit's rename would race it).
    static let beforeRemoval = Locked<(@Sendable (String) -> Void)?>(nil)
    /// Tests only: runs once the file is under its hidden name (the unit may drop another
    /// file under the name it left).
    static let afterHiding = Locked<(@Sendable (String) -> Void)?>(nil)

    /// Names of files being removed: hidden from pickup (a leading dot), unique in the
    /// process, with the unit's name kept when it fits (so that it can be put back).
    static let removingPrefix = ".gw-removing."
    private static let removals = Locked<UInt64>(0)
    static func removingName(_ name: String) -> String {
        let n = removals.withLock { value -> UInt64 in value += 1; return value }
        let head = "\(removingPrefix)\(getpid()).\(n)."
        return head.utf8.count + name.utf8.count <= 255 ? head + name : head + "long.json"
    }

    /// The unit's name a hidden removal name kept ("" when it did not fit).
    static func originalName(ofRemoval hidden: String) -> String {
        let parts = hidden.dropFirst(removingPrefix.count).split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        return parts.count == 3 && parts[2] != "long.json" ? String(parts[2]) : ""
    }

    /// Puts a file moved away by mistake back into this folder under `name`, never over
    /// another file (then under a free variant of it: "NAME~2.json", ...; nothing is lost,
    /// and the rescan reads it). Returns nil when it is back, else why not (it stays as
    /// `moved`).
    func putBack(from source: DirectoryHandle, _ moved: String, as name: String) -> String? {
        let original = name.isEmpty || Spool.classify(name) != .message ? "returned.json" : name
        let tries = 100
        for n in 1...tries {
            let candidate = n == 1 ? original : Self.variant(of: original, n)
            if gw_renameat_noreplace(source.fd, moved, fd, candidate) == 0 { return nil }
            if errno != EEXIST { return "cannot rename it to \(candidate): \(String(cString: strerror(errno)))" }
        }
        return "\(original) and its \(tries - 1) variants are taken"
    }

    /// "NAME~N.json", the stem shortened to keep within 255 bytes.
    public static func variant(of name: String, _ n: Int) -> String {
        let stem = name.hasSuffix(".json") ? String(name.dropLast(5)) : name
        let suffix = "~\(n).json"
        var cut = Substring(stem)
        while cut.utf8.count + suffix.utf8.count > 255 { cut = cut.dropLast() }
        return cut + suffix
    }

    /// At start: files a crash left under a hidden removal name are
    /// removed when `isQueued` says their content is a message already queued (the removal
    /// was under way), else put back under their names (a unit's file renamed onto the name
    /// at that moment: read as any other). Returns how many were removed and put back, and
    /// the ones that could be neither (hidden name, why: tried again at the next start).
    public func restoreHiddenRemovals(maxBytes: Int, isQueued: ([UInt8]) -> Bool)
        -> (removed: Int, restored: Int, stuck: [(hidden: String, why: String)]) {
        var removed = 0, restored = 0
        var stuck: [(hidden: String, why: String)] = []
        for hidden in entries() where hidden.hasPrefix(Self.removingPrefix) {
            if let bytes = try? readHostileFile(hidden, maxBytes: maxBytes), isQueued(bytes), unlinkat(fd, hidden, 0) == 0 {
                removed += 1
                continue
            }
            if let why = putBack(from: self, hidden, as: Self.originalName(ofRemoval: hidden)) {
                stuck.append((hidden, why))
            } else {
                restored += 1
            }
        }
        return (removed, restored, stuck)
    }

    /// Flushes the whole file system holding this directory (one call for a batch of files).
    /// Returns 0, or the error (a write-back error since the last sync is reported once).
    @discardableResult
    public func syncFileSystem() -> Int32 {
        gw_syncfs(fd) == 0 ? 0 : errno
    }
}
