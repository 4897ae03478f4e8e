// NAME
//   StagedFile: a file written now and given its name later, or never.
//
// DESCRIPTION
//   The pickup workers write each accepted report before the queue commits its message;
//   the finisher names it once the commit is durable. Where the file system offers
//   O_TMPFILE the staged file has no name at all until it is published (linkat), so a
//   crash leaves nothing behind; elsewhere it is a dot-prefixed temporary that publish
//   renames and `DirectoryHandle.removeStaleStaging()` clears at start.
//   Publishing never shows a partial file: the content is complete before the name
//   appears, and an existing file of that name is replaced in one rename, once the
//   caller has seen it and agreed (a report written again), or the file takes another name.
//
// SECURITY
//   Created with O_EXCL (named fallback) or O_TMPFILE, relative to a directory descriptor;
//   nothing is followed. Durability is the caller's (one syncfs for many files).

import CGatewaySys
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class StagedFile: @unchecked Sendable {
    // The descriptor and the temporary name are owned here and released exactly once
    // (publish or deinit); a staged file is handed from one thread to the next, never shared.
    let directory: DirectoryHandle
    private var fd: Int32
    private var tempName: String?
    public private(set) var published = false

    /// The prefix of fallback temporaries (cleared at start).
    static let stagingPrefix = ".gw-staged-"
    private static let counter = Locked(0)
    /// Tests force the named fallback to cover file systems without O_TMPFILE.
    nonisolated(unsafe) static var forceNamedFallback = false

    /// `staging`: where the unnamed file is made (same file system as `directory`).
    init(directory: DirectoryHandle, staging: DirectoryHandle, bytes: [UInt8], mode: mode_t) throws {
        self.directory = directory
        var fd: Int32 = Self.forceNamedFallback ? -1 : gw_open_tmpfile(staging.fd, UInt32(mode))
        var tempName: String? = nil
        if fd < 0 {
            let n = Self.counter.withLock { c -> Int in c += 1; return c }
            // Random as well as counted: made in folders a unit can write (rejected/).
            let name = "\(Self.stagingPrefix)\(getpid())-\(n)-\(UInt32.random(in: 0...UInt32.max)).tmp"
            fd = openat(directory.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            guard fd >= 0 else {
                throw SafeFileError.writing(errno, "cannot create a file in \(directory.path)")
            }
            tempName = name
        }
        self.fd = fd
        self.tempName = tempName
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                release()
                throw SafeFileError.writing(e, "cannot write in \(directory.path)")
            }
            written += n
        }
        if tempName != nil {
            close(fd)
            self.fd = -1
        }
    }

    deinit { release() }

    /// What to do when the name to publish under is taken.
    public enum WhenTaken: Equatable, Sendable {
        /// Replace what is there.
        case replace
        /// Leave what is there (it is this same file, as first written) and drop this one.
        case keep
        /// Try this other name instead (asked again if it is taken too).
        case use(String)
    }

    /// Gives the file its name and returns the name given. When a file of that name is
    /// there already, `ifTaken` is shown the name and the file's content (nil when it is
    /// not a readable regular file of at most 1 MB) and answers what to do. Sixteen names
    /// taken, none to be replaced or kept: an error, nothing replaced.
    @discardableResult
    public func publish(as name: String, ifTaken: (_ name: String, _ existing: [UInt8]?) -> WhenTaken = { _, _ in .replace }) throws -> String {
        precondition(!published, "a staged file is published once")
        var target = name
        // Never replacing before the caller has seen what is there.
        for _ in 0..<16 {
            if try link(as: target) {
                published = true
                release()
                return target
            }
            switch ifTaken(target, try? directory.readHostileFile(target, maxBytes: 1 << 20)) {
            case .replace:
                try replace(target)
                published = true
                release()
                return target
            case .keep:
                published = true
                release()
                return target
            case .use(let next):
                target = next
            }
        }
        throw SafeFileError.writing(EEXIST, "no free name in \(directory.path) for \(name) (sixteen taken)")
    }

    /// What was written, read back (for an `ifTaken` that must compare it with what is
    /// there: read only then, so that nobody keeps a copy of every staged file meanwhile).
    public func contents() -> [UInt8]? {
        precondition(!published, "read before it is published")
        if let tempName { return try? directory.readHostileFile(tempName, maxBytes: 1 << 20) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size <= 1 << 20 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(filled)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            filled += n
        }
        return bytes
    }

    /// Gives the file the name `name` unless that is taken (false: still unpublished).
    public func publishIfFree(as name: String) throws -> Bool {
        precondition(!published, "a staged file is published once")
        guard try link(as: name) else { return false }
        published = true
        release()
        return true
    }

    /// Links the file as `name` unless that name is taken (false).
    private func link(as name: String) throws -> Bool {
        let linked = tempName.map { linkat(directory.fd, $0, directory.fd, name, 0) } ?? gw_link_tmpfile(fd, directory.fd, name)
        if linked == 0 {
            if let tempName {
                unlinkat(directory.fd, tempName, 0)
                self.tempName = nil
            }
            return true
        }
        guard errno == EEXIST else { throw SafeFileError.writing(errno, "cannot create \(directory.path)/\(name)") }
        return false
    }

    /// Gives the file the name `name` in one rename, replacing the file there.
    private func replace(_ name: String) throws {
        let beside: String
        if let tempName {
            beside = tempName
        } else {
            let n = Self.counter.withLock { c -> Int in c += 1; return c }
            beside = "\(Self.stagingPrefix)\(getpid())-\(n).tmp"
            guard gw_link_tmpfile(fd, directory.fd, beside) == 0 else {
                throw SafeFileError.writing(errno, "cannot create a file in \(directory.path)")
            }
        }
        guard renameat(directory.fd, beside, directory.fd, name) == 0 else {
            let e = errno
            if tempName == nil { unlinkat(directory.fd, beside, 0) }
            throw SafeFileError.writing(e, "cannot rename to \(directory.path)/\(name)")
        }
        tempName = nil
    }

    private func release() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        if let tempName {
            unlinkat(directory.fd, tempName, 0)
            self.tempName = nil
        }
    }
}

extension DirectoryHandle {
    /// Writes `bytes` into a file without a (visible) name yet, to be published in this
    /// directory; made in `staging` (same file system) when given. See StagedFile.
    public func stage(_ bytes: [UInt8], in staging: DirectoryHandle? = nil, mode: mode_t = 0o640) throws -> StagedFile {
        try StagedFile(directory: self, staging: staging ?? self, bytes: bytes, mode: mode)
    }

    /// Removes temporaries a crash left behind (the named fallback of StagedFile and the
    /// dot-prefixed temporaries of earlier versions). In `rejected/`, where the unit's own
    /// files may be dot-prefixed too, `errorFilesOnly` keeps to the gateway's names (the
    /// staged prefix, and earlier versions' ".NAME.error.json.PID.tmp"). Returns how many.
    @discardableResult
    public func removeStaleStaging(errorFilesOnly: Bool = false) -> Int {
        var removed = 0
        for name in entries() where name.hasPrefix(StagedFile.stagingPrefix)
            || (name.hasPrefix(".") && name.hasSuffix(".tmp") && (!errorFilesOnly || name.contains(".error.json."))) {
            if unlinkat(fd, name, 0) == 0 { removed += 1 }
        }
        return removed
    }
}
