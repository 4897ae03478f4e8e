// NAME
//   Spool: the folders through which units hand messages over (SPEC §4).
//
// DESCRIPTION
//   SPOOL/<UNIT>/outbox, rejected, reports, inbox. Created at start when missing (mode
//   0770: the deployment gives each unit's folder to that unit's group). Every folder is
//   held open by descriptor and checked to be a real directory, not a link.

import Foundation

public final class SpoolUnit: Sendable {
    public let unit: String
    public let outbox: DirectoryHandle
    public let rejected: DirectoryHandle
    public let reports: DirectoryHandle
    public let inbox: DirectoryHandle

    init(root: String, unit: String) throws {
        self.unit = unit
        let base = root + "/" + unit
        for sub in ["", "/outbox", "/rejected", "/reports", "/inbox"] {
            try Spool.ensureDirectory(base + sub)
        }
        outbox = try DirectoryHandle(path: base + "/outbox")
        rejected = try DirectoryHandle(path: base + "/rejected")
        reports = try DirectoryHandle(path: base + "/reports")
        inbox = try DirectoryHandle(path: base + "/inbox")
    }
}

public final class Spool: Sendable {
    public let root: String
    public let units: [String: SpoolUnit]

    public init(root: String, units: [String]) throws {
        self.root = root
        try Spool.ensureDirectory(root)
        var map: [String: SpoolUnit] = [:]
        for unit in units { map[unit] = try SpoolUnit(root: root, unit: unit) }
        self.units = map
    }

    static func ensureDirectory(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw SafeFileError(reason: .symlink, description: "\(path) exists but is not a directory (links are not followed under the spool)")
            }
            return
        }
        guard mkdir(path, 0o770) == 0 || errno == EEXIST else {
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
