// NAME
//   QueueOwnerLock: one daemon per queue (SPEC §6).
//
// DESCRIPTION
//   An exclusive flock(2) on "<queue>.lock", held for the life of the process and released
//   by the kernel when it dies (so a kill -9 never leaves a stale lock). The file records
//   the owner's pid for the message a second daemon prints. gatewayctl does not take it:
//   SQLite's own locking lets it read and change the queue while the daemon runs.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class QueueOwnerLock: @unchecked Sendable {
    // The descriptor is only touched in init and deinit.
    private let fd: Int32
    public let path: String

    public init(queuePath: String) throws {
        // Named after the queue's real path: two configurations reaching one queue through
        // a symbolic link (of the file or of a folder above it) take the same lock.
        path = Self.resolved(queuePath) + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw QueueStoreError(.io, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let owner = Self.readOwner(fd)
            close(fd)
            throw QueueStoreError(.locked, "the queue \(queuePath) is in use by another gatewayd\(owner.map { " (pid \($0))" } ?? ""); "
                                  + "stop it first, or point this one at another queue")
        }
        ftruncate(fd, 0)
        let text = "\(getpid())\n"
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = fd
    }

    /// `path` with every symbolic link resolved: the file's own when it exists, else its
    /// folder's (a queue not made yet).
    static func resolved(_ path: String) -> String {
        var path = path
        // A link to a queue not made yet: followed by hand (realpath needs the target).
        for _ in 0..<40 {
            if let real = realpath(path, nil) {
                defer { free(real) }
                return String(cString: real)
            }
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else { break }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &buffer, buffer.count - 1)
            guard n > 0 else { break }
            let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            path = target.hasPrefix("/") ? target : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(target).path
        }
        let url = URL(fileURLWithPath: path)
        guard let folder = realpath(url.deletingLastPathComponent().path, nil) else { return path }
        defer { free(folder) }
        return URL(fileURLWithPath: String(cString: folder)).appendingPathComponent(url.lastPathComponent).path
    }

    /// Whether a process (a running gatewayd) holds the queue's lock now.
    public enum Holder: Sendable, Equatable {
        /// `pid` as this process sees it (the lock table's), `writtenPid` the one gatewayd
        /// wrote in the lock file (its own getpid, as in the pickup state it writes; another
        /// when it runs in another pid namespace).
        case running(pid: Int32, writtenPid: Int32?)
        case notRunning
        case unknown(String)
    }

    /// Who holds the queue's lock, read from the kernel's table of locks (/proc/locks), not
    /// by taking the lock: a shared lock taken to look would make a gatewayd starting at that
    /// moment refuse to start, and the pid in the file outlives a kill -9. A lock entry is
    /// the file's when its inode matches and either its device does or its pid is the one
    /// written in the file (btrfs reports a subvolume's own device to stat, not to the lock
    /// table; a process in another pid namespace shows under another pid). A gatewayd in a
    /// pid namespace this process cannot see is not in the table: said as not running.
    public static func holder(queuePath: String) -> Holder {
        let path = resolved(queuePath) + ".lock"
        var st = stat()
        guard stat(path, &st) == 0 else {
            return errno == ENOENT ? .notRunning : .unknown("cannot look at \(path): \(String(cString: strerror(errno)))")
        }
        guard let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else {
            return .unknown("cannot read /proc/locks")
        }
        let written: Int32? = {
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            return readOwner(fd).map { Int32(truncatingIfNeeded: $0) }
        }()
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (major and minor in hex, inode in decimal).
        let device = String(format: "%02x:%02x", major(st.st_dev), minor(st.st_dev))
        var inodeOnly = false
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE" else { continue }
            let id = fields[5].split(separator: ":")
            guard id.count == 3, UInt64(id[2]) == UInt64(st.st_ino), let pid = Int32(fields[4]) else { continue }
            // The lock table's pid is the truth in this namespace; the written one names a
            // holder seen from outside its namespace (it is gatewayd's own getpid, as in the
            // pickup state it writes).
            if "\(id[0]):\(id[1])" == device || pid == written { return .running(pid: pid, writtenPid: written) }
            inodeOnly = true
        }
        return inodeOnly ? .unknown("a lock on another file of the same inode number, or this one's from another namespace") : .notRunning
    }

    private static func major(_ dev: dev_t) -> UInt32 { UInt32((dev >> 8) & 0xfff) | UInt32((dev >> 32) & ~0xfff) }
    private static func minor(_ dev: dev_t) -> UInt32 { UInt32(dev & 0xff) | UInt32((dev >> 12) & ~0xff) }

    private static func readOwner(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, 31, 0)
        guard n > 0 else { return nil }
        return Int(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
