// NAME
//   FileSystemCheck: what the file systems under the spool and the queue promise.
//
// DESCRIPTION
//   The gateway's durability rests on the file system: the queue's fsyncs and the spool's
//   renames and links must survive a power failure. At start gatewayd (and `gatewayctl
//   config check`) look up the mount under each of those folders in /proc/self/mountinfo
//   and warn about what an operator would want to know before the first power cut:
//   - tmpfs/ramfs: nothing survives a reboot;
//   - ext4 without a journal (no /proc/fs/jbd2/<device>-8): after a crash fsck repairs the
//     metadata, and renames, links and removals of the last seconds may come out undone or
//     half done (files in lost+found);
//   - mounted with `discard`: every removed file waits for the device to trim its blocks
//     (on the development VM about a tenth of gatewayd's CPU at full pickup speed);
//     periodic fstrim (systemd's fstrim.timer) does the same work in one go.
//   Warnings only: tests and demos run on whatever /tmp is.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct FileSystemFacts: Equatable, Sendable {
    public var mountPoint: String
    public var type: String
    /// Per-mount and super-block options together.
    public var options: Set<String>
    /// The block device's kernel name ("vda", "nvme0n1p2", "loop0"), when it has one.
    public var device: String?
    /// ext4 only: whether it has a journal (nil: not ext4, or not known).
    public var journal: Bool?

    /// What an operator should know, one sentence each (empty: nothing to say).
    public var warnings: [String] {
        var out: [String] = []
        if type == "tmpfs" || type == "ramfs" {
            out.append("\(mountPoint) is \(type): nothing on it survives a reboot, so accepted messages would be lost")
        }
        if type == "ext4" && journal == false {
            out.append("\(mountPoint) is ext4 without a journal: after a power failure fsck repairs it, and renames and removals of the last seconds may come out undone or half done; use a journalled file system")
        }
        if options.contains("discard") {
            out.append("\(mountPoint) is mounted with discard: every removed file waits for the device to trim it; mount without it and run fstrim periodically (fstrim.timer)")
        }
        return out
    }
}

public enum FileSystemCheck {
    /// The facts for the file system holding `path`, or its nearest existing parent (a
    /// folder gatewayd will make); nil when /proc does not say.
    public static func facts(for path: String) -> FileSystemFacts? {
        var st = stat()
        var path = path.isEmpty ? "." : path
        while stat(path, &st) != 0 {
            // Only a folder not made yet is looked up through its parent; one we may not
            // look into could be another mount.
            guard errno == ENOENT || errno == ENOTDIR else { return nil }
            let parent = (path as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != path else { return nil }
            path = parent
        }
        // Not strict UTF-8: the kernel writes mount points' bytes as they are.
        guard let raw = FileManager.default.contents(atPath: "/proc/self/mountinfo") else { return nil }
        let mountinfo = String(decoding: raw, as: UTF8.self)
        let (major, minor) = deviceNumbers(UInt64(st.st_dev))
        guard var facts = mount(containing: realPath(path), device: (major, minor), mountinfo: mountinfo) else { return nil }
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/sys/dev/block/\(major):\(minor)") {
            facts.device = link.split(separator: "/").last.map(String.init)
        }
        if facts.type == "ext4", let device = facts.device {
            facts.journal = journal(device: device)
        }
        return facts
    }

    /// Whether the ext4 on `device` has a journal: jbd2 lists each journal it runs as
    /// <device>-<inode> (an external journal under its own device's name, so any entry of
    /// this device counts). Unknown (nil) where /proc/fs is not visible (containers,
    /// systemd's ProcSubset=pid) rather than a false "no journal".
    static func journal(device: String) -> Bool? {
        let files = FileManager.default
        guard files.fileExists(atPath: "/proc/fs/ext4/\(device)"),
              let journals = try? files.contentsOfDirectory(atPath: "/proc/fs/jbd2") else { return nil }
        return journals.contains { $0.hasPrefix(device + "-") }
    }

    /// The warnings for each distinct file system under `paths`, once each.
    public static func warnings(for paths: [String]) -> [String] {
        var seen = Set<String>()
        var out: [String] = []
        for path in paths {
            guard let facts = facts(for: path), seen.insert(facts.mountPoint).inserted else { continue }
            out += facts.warnings
        }
        return out
    }

    /// The mount of `path` among /proc/self/mountinfo's lines: the longest mount point that
    /// contains the path, on the same device (a bind mount of another device does not count).
    static func mount(containing path: String, device: (Int, Int), mountinfo: String) -> FileSystemFacts? {
        mount(containing: path, device: device, mountinfo: mountinfo, anyDevice: false)
            // btrfs subvolumes report a device number of their own, not the mount's.
            ?? mount(containing: path, device: device, mountinfo: mountinfo, anyDevice: true)
    }

    private static func mount(containing path: String, device: (Int, Int), mountinfo: String, anyDevice: Bool) -> FileSystemFacts? {
        var best: FileSystemFacts?
        for line in mountinfo.split(separator: "\n") {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let dash = fields.firstIndex(of: "-"), dash >= 6, dash + 2 < fields.count else { continue }
            let numbers = fields[2].split(separator: ":").compactMap { Int($0) }
            guard numbers.count == 2, anyDevice || (numbers[0] == device.0 && numbers[1] == device.1) else { continue }
            let mountPoint = unescape(fields[4])
            guard contains(mountPoint, path) else { continue }
            if let best, best.mountPoint.count >= mountPoint.count { continue }
            var options = Set(fields[5].split(separator: ",").map(String.init))
            if dash + 3 < fields.count { options.formUnion(fields[dash + 3].split(separator: ",").map(String.init)) }
            best = FileSystemFacts(mountPoint: mountPoint, type: fields[dash + 1], options: options, device: nil, journal: nil)
        }
        return best
    }

    /// glibc's gnu_dev_major/gnu_dev_minor (macros Swift does not import).
    static func deviceNumbers(_ dev: UInt64) -> (Int, Int) {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000)
        let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00)
        return (Int(major), Int(minor))
    }

    static func contains(_ mountPoint: String, _ path: String) -> Bool {
        mountPoint == "/" || path == mountPoint || path.hasPrefix(mountPoint + "/")
    }

    /// mountinfo writes space, tab, newline and backslash as \040, \011, \012, \134.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count,
               let value = UInt8(String(decoding: utf8[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
