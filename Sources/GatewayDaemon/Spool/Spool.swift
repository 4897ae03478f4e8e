// NAME
//   Spool: the folders through which units hand messages over (SPEC §4).
//
// DESCRIPTION
//   SPOOL/<UNIT>/outbox, rejected, reports, inbox. Created at start when missing (mode
//   0770: the deployment gives each unit's folder to that unit's group; SPOOL/<UNIT> itself
//   0750, so that a unit cannot replace its folders). Every folder is held open by
//   descriptor and checked to be a real directory, not a link; a unit whose folders are
//   not is left out (`unusableUnits`), the others run.
//   SPOOL/.staging/run-* (mode 0700, the gateway's own, new at each start): reports are
//   written there as unnamed files (O_TMPFILE) and linked into a unit's reports/ when
//   they are due. The folder is made under a "top directory" (chattr +T), so ext4 places
//   it away from the outboxes: without a journal, ext4 skips every recently freed inode of
//   a group one by one when it allocates a new one, and the outboxes free one inode per
//   message (measured: file creation from ~20 µs to over 150 µs after mass deletions).

import CGatewaySys
import Foundation

public final class SpoolUnit: Sendable {
    public let unit: String
    public let outbox: DirectoryHandle
    public let rejected: DirectoryHandle
    public let reports: DirectoryHandle
    public let inbox: DirectoryHandle
    /// Where this unit's reports are staged: the spool's staging folder when it is on the
    /// same file system as reports/ and reports/ gives its files nothing of its own (a
    /// set-group-ID bit or a default ACL, which a file takes from the folder it is made in,
    /// so that the unit's group can read it), else reports/ itself.
    public let staging: DirectoryHandle

    init(root: String, unit: String, staging: DirectoryHandle?) throws {
        self.unit = unit
        let base = root + "/" + unit
        for sub in ["", "/outbox", "/rejected", "/reports", "/inbox"] {
            try Spool.ensureDirectory(base + sub, mode: sub.isEmpty ? 0o750 : 0o770)
        }
        outbox = try DirectoryHandle(path: base + "/outbox")
        rejected = try DirectoryHandle(path: base + "/rejected")
        reports = try DirectoryHandle(path: base + "/reports")
        inbox = try DirectoryHandle(path: base + "/inbox")
        var a = stat(), b = stat()
        if let staging, fstat(staging.fd, &a) == 0, fstat(reports.fd, &b) == 0, a.st_dev == b.st_dev,
           b.st_mode & S_ISGID == 0, gw_has_default_acl(reports.fd) == 0 {
            self.staging = staging
        } else {
            self.staging = reports
        }
    }
}

public final class Spool: Sendable {
    /// Unit folders that are no longer the ones held open (removed, or replaced by another
    /// folder or a link while gatewayd runs): files put there are not seen until a restart.
    public func replacedFolders() -> [String] {
        var problems: [String] = []
        for unit in units.values.sorted(by: { $0.unit < $1.unit }) {
            for handle in [unit.outbox, unit.rejected, unit.reports] {
                var held = stat(), now = stat()
                guard fstat(handle.fd, &held) == 0 else { continue }
                if lstat(handle.path, &now) != 0 {
                    problems.append("\(handle.path) was removed")
                } else if (now.st_mode & S_IFMT) != S_IFDIR {
                    problems.append("\(handle.path) is no longer a folder (a link or a file was put in its place; links are never followed)")
                } else if now.st_dev != held.st_dev || now.st_ino != held.st_ino {
                    problems.append("\(handle.path) was replaced by another folder")
                }
            }
        }
        return problems
    }

    public let root: String
    public let units: [String: SpoolUnit]
    /// Configured units left out, and why (a folder of theirs replaced by a link or a file):
    /// their files are not picked up, and their reports stay owed, until it is fixed and
    /// gatewayd restarted. One unit's folder does not stop the others'.
    public let unusableUnits: [String: String]
    /// Why reports are staged in reports/ itself rather than SPOOL/.staging (nil: they are not).
    public let stagingProblem: String?

    public init(root: String, units: [String]) throws {
        self.root = root
        try Spool.ensureDirectory(root)
        let staging: DirectoryHandle?
        do {
            staging = try Spool.openStaging(root: root)
            stagingProblem = nil
        } catch {
            staging = nil
            stagingProblem = "\(error)"
        }
        var map: [String: SpoolUnit] = [:]
        var unusable: [String: String] = [:]
        for unit in units {
            do {
                map[unit] = try SpoolUnit(root: root, unit: unit, staging: staging)
            } catch {
                unusable[unit] = "\(error)"
            }
        }
        self.units = map
        unusableUnits = unusable
    }

    /// A new SPOOL/.staging/run-<pid>-<random> for this run, made under a top directory;
    /// the folders of earlier runs (whose process is gone) are removed. A new name each start puts the new files
    /// in another part of the disk (ext4 places a top directory's subfolders by the hash
    /// of their name), away from where reports were deleted lately. Throws when it cannot be
    /// made (the caller then stages reports in place).
    static func openStaging(root: String) throws -> DirectoryHandle {
        let top = root + "/.staging"
        guard mkdir(top, 0o700) == 0 || errno == EEXIST else {
            throw SafeFileError(reason: .unreadable, description: "cannot create \(top): \(String(cString: strerror(errno)))")
        }
        let topHandle = try DirectoryHandle(path: top)
        _ = gw_set_topdir(topHandle.fd)
        for name in topHandle.entries() {
            // Another live process's folder (a second spool user in tests) is left alone.
            let parts = name.split(separator: "-")
            if parts.count == 3, parts[0] == "run", let pid = Int32(parts[1]), pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
            let path = top + "/" + name
            // Best effort: a folder that cannot be emptied stays, and costs nothing.
            if let old = try? DirectoryHandle(path: path) {
                for leftover in old.entries() { unlinkat(old.fd, leftover, 0) }
            }
            rmdir(path)
        }
        let name = "run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdirat(topHandle.fd, name, 0o700) == 0 else {
            throw SafeFileError(reason: .unreadable, description: "cannot create \(top)/\(name): \(String(cString: strerror(errno)))")
        }
        return try DirectoryHandle(path: top + "/" + name)
    }

    static func ensureDirectory(_ path: String, mode: mode_t = 0o770) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw SafeFileError(reason: .symlink, description: "\(path) exists but is not a directory (links are not followed under the spool)")
            }
            return
        }
        guard mkdir(path, mode) == 0 || errno == EEXIST else {
            throw SafeFileError(reason: .unreadable, description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether a name in outbox/ is a finished message ("NAME.json"), a temporary one the
    /// unit is still writing (ignored), or something else (refused).
    public enum NameKind: Equatable { case message, temporary, other }

    public static func classify(_ name: String) -> NameKind {
        if name.hasPrefix(".") || name.hasSuffix(".tmp") { return .temporary }
        if name.hasSuffix(".json") && name.count > 5 { return .message }
        return .other
    }
}
