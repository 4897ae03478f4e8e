import Foundation
import GatewayTestSupport
import Testing
@testable import GatewayDaemon

@Suite("file system check: what the spool's and the queue's file systems promise")
struct FileSystemCheckTests {
    static let mountinfo = """
    22 27 0:21 / /proc rw,relatime - proc proc rw
    27 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard,resv_strict
    30 27 7:0 / /mnt/gw\\040spool rw,noatime shared:5 - ext4 /dev/loop0 rw
    31 27 0:40 / /run/spool rw,nosuid - tmpfs tmpfs rw,size=1024k
    32 27 253:0 /srv/data /mnt/bind rw,relatime shared:1 - ext4 /dev/vda rw,discard
    """

    @Test("the longest mount point on the same device holds the path; options from both lists; escapes undone")
    func findsTheMount() throws {
        let root = try #require(FileSystemCheck.mount(containing: "/var/lib/gateway/queue", device: (253, 0), mountinfo: Self.mountinfo))
        #expect(root.mountPoint == "/" && root.type == "ext4")
        #expect(root.options.isSuperset(of: ["rw", "relatime", "discard", "resv_strict"]))
        let bound = try #require(FileSystemCheck.mount(containing: "/mnt/bind/x", device: (253, 0), mountinfo: Self.mountinfo))
        #expect(bound.mountPoint == "/mnt/bind")
        let loop = try #require(FileSystemCheck.mount(containing: "/mnt/gw spool/PL-KGP/outbox", device: (7, 0), mountinfo: Self.mountinfo))
        #expect(loop.mountPoint == "/mnt/gw spool" && !loop.options.contains("discard"))
        // A path under a mount point of another device does not match that mount.
        #expect(FileSystemCheck.mount(containing: "/mnt/gw spool/x", device: (253, 0), mountinfo: Self.mountinfo)?.mountPoint == "/")
        // No line of that device (a btrfs subvolume's own number): the longest mount point
        // that holds the path.
        #expect(FileSystemCheck.mount(containing: "/run/spool/x", device: (0, 99), mountinfo: Self.mountinfo)?.type == "tmpfs")
        #expect(FileSystemCheck.mount(containing: "x", device: (0, 99), mountinfo: "garbage\n1 2 3\n") == nil)
        // "/mnt/gw spoolx" is not under "/mnt/gw spool".
        #expect(!FileSystemCheck.contains("/mnt/gw spool", "/mnt/gw spoolx"))
        #expect(FileSystemCheck.unescape("a\\040b\\134c") == "a b\\c")
    }

    @Test("warnings: tmpfs, ext4 without a journal, discard; none for a journalled ext4 without discard")
    func warnings() {
        func facts(_ type: String, _ options: Set<String>, journal: Bool?) -> FileSystemFacts {
            FileSystemFacts(mountPoint: "/m", type: type, options: options, device: "vda", journal: journal)
        }
        #expect(facts("ext4", ["rw"], journal: true).warnings.isEmpty)
        #expect(facts("xfs", ["rw"], journal: nil).warnings.isEmpty)
        #expect(facts("tmpfs", ["rw"], journal: nil).warnings.first?.contains("survives a reboot") == true)
        let bare = facts("ext4", ["rw", "discard"], journal: false).warnings
        #expect(bare.count == 2)
        #expect(bare.contains { $0.contains("without a journal") } && bare.contains { $0.contains("fstrim") })
    }

    @Test("on this machine: the mount of a temporary folder is found and described as /proc says")
    func live() throws {
        let dir = try TestPaths.temporaryDirectory("fscheck")
        let facts = try #require(FileSystemCheck.facts(for: dir.path))
        #expect(dir.path.hasPrefix(facts.mountPoint))
        #expect(!facts.type.isEmpty)
        if facts.type == "ext4", let device = facts.device, FileManager.default.fileExists(atPath: "/proc/fs/jbd2") {
            #expect(FileManager.default.fileExists(atPath: "/proc/fs/ext4/\(device)"), "the device name is the kernel's")
            let journals = try FileManager.default.contentsOfDirectory(atPath: "/proc/fs/jbd2")
            #expect(facts.journal == journals.contains { $0.hasPrefix(device + "-") })
        }
        // A folder not made yet is looked up through its parent.
        #expect(FileSystemCheck.facts(for: dir.appendingPathComponent("not/yet").path) == facts)
        // Each distinct file system is reported once.
        #expect(FileSystemCheck.warnings(for: [dir.path, dir.path]) == facts.warnings)
    }
}

extension FileSystemCheckTests {
    @Test("device numbers split as glibc does (stat(1) agrees)")
    func deviceNumbers() throws {
        #expect(FileSystemCheck.deviceNumbers(0xfd00) == (253, 0))
        #expect(FileSystemCheck.deviceNumbers(0x1000_0100_0102) == (4097, 4098), "os.makedev(4097, 4098) in Python")
        var st = stat()
        #expect(stat("/", &st) == 0)
        let result = try Subprocess.run("/usr/bin/stat", ["-c", "%Hd:%Ld", "/"])
        let (major, minor) = FileSystemCheck.deviceNumbers(UInt64(st.st_dev))
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(major):\(minor)")
    }
}
