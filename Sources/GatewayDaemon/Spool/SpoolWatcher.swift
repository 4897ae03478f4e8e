// NAME
//   SpoolWatcher: tells the pickup about files as soon as they land in an outbox.
//
// DESCRIPTION
//   inotify (IN_MOVED_TO, IN_CLOSE_WRITE) on every outbox for immediate pickup, and a
//   periodic rescan of every outbox as a safety net (an overflowed inotify queue, a file
//   present at start). Runs on its own thread; `stop` wakes it through a pipe.
//
// BUGS
//   A rescan skips files modified less than a second ago, in case a unit writes the final
//   name directly; such a file is announced by IN_CLOSE_WRITE when it is closed.

import CGatewaySys
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class SpoolWatcher: @unchecked Sendable {
    // The descriptors and the watch map are set in init and only read after.
    private let inotifyFD: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private var watches: [Int32: SpoolUnit] = [:]
    private let spool: Spool
    private let rescanInterval: Double
    private let announce: @Sendable (SpoolUnit, String, _ viaRescan: Bool) -> Void
    private let undecodable: @Sendable (SpoolUnit, [UInt8]) -> Void
    private let listed: @Sendable (SpoolUnit, Set<String>) -> Void
    private let stopped = Locked(false)
    private var thread: Thread?
    /// Counts of announcements, for tests and the log.
    let counters = Locked((inotify: 0, rescan: 0))

    /// Files announced so far through inotify and through rescans.
    public var announced: (inotify: Int, rescan: Int) { counters.withLock { $0 } }

    /// - Parameter undecodable: called by the rescan for each file whose name is not UTF-8
    ///   (raw bytes): it can be neither read by name nor reported on as it is.
    /// - Parameter listed: called by the rescan with every name it found in a unit's outbox.
    public init(spool: Spool, rescanInterval: Double, undecodable: @escaping @Sendable (SpoolUnit, [UInt8]) -> Void = { _, _ in },
                listed: @escaping @Sendable (SpoolUnit, Set<String>) -> Void = { _, _ in },
                announce: @escaping @Sendable (SpoolUnit, String, Bool) -> Void) throws {
        self.undecodable = undecodable
        self.listed = listed
        self.spool = spool
        self.rescanInterval = max(0.05, rescanInterval)
        self.announce = announce
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotifyFD >= 0 else { throw SafeFileError(reason: .unreadable, description: "inotify_init1 failed: \(String(cString: strerror(errno)))") }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SafeFileError(reason: .unreadable, description: "pipe failed") }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC); _ = fcntl(fd, F_SETFL, O_NONBLOCK) }
        for unit in spool.units.values {
            let wd = inotify_add_watch(inotifyFD, unit.outbox.path, gw_in_watch_mask() | UInt32(IN_DONT_FOLLOW) | UInt32(IN_ONLYDIR))
            guard wd >= 0 else {
                let why = errno == ENOSPC ? "the limit of inotify watches is reached (raise fs.inotify.max_user_watches)"
                    : errno == EMFILE ? "the limit of inotify instances is reached (raise fs.inotify.max_user_instances)"
                    : String(cString: strerror(errno))
                throw SafeFileError(reason: .unreadable, description: "cannot watch \(unit.outbox.path): \(why)")
            }
            watches[wd] = unit
        }
    }

    deinit {
        close(inotifyFD)
        close(wakeRead)
        close(wakeWrite)
    }

    public func start() {
        let t = Thread { [self] in
            gw_set_thread_name("spool-watcher")
            self.loop()
        }
        t.name = "spool-watcher"
        thread = t
        t.start()
    }

    public func stop() {
        stopped.withLock { $0 = true }
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
    }

    /// Announces every finished file in every outbox now.
    public func rescan(initial: Bool = false) {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        let now = Int64(clock.tv_sec) * 1_000_000_000 + Int64(clock.tv_nsec)
        for unit in spool.units.values.sorted(by: { $0.unit < $1.unit }) {
            let names = unit.outbox.entries()
            listed(unit, Set(names))
            for name in names.sorted() where Spool.classify(name) != .temporary {
                if !initial {
                    var st = stat()
                    // Changed within the last two seconds (to the nanosecond): inotify has it
                    // (a file written in place is announced when it is closed). A modification
                    // time in the future (another machine's clock, `cp -p`) does not hide a file.
                    if fstatat(unit.outbox.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, Self.changedLately(st, now: now) { continue }
                }
                counters.withLock { $0.rescan += 1 }
                announce(unit, name, true)
            }
            for raw in unit.outbox.undecodableNames() {
                // As for the others: one changed within the last two seconds may be being written.
                var st = stat()
                let found = (raw + [0]).withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) { fstatat(unit.outbox.fd, $0.baseAddress!, &st, AT_SYMLINK_NOFOLLOW) }
                } == 0
                if initial || !(found && Self.changedLately(st, now: now)) { undecodable(unit, raw) }
            }
        }
    }

    /// Modified within the two seconds before `now` (nanoseconds, wall clock).
    static func changedLately(_ st: stat, now: Int64) -> Bool {
        let age = now - (Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
        return age >= 0 && age < 2_000_000_000
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        // Timed on the monotonic clock: a wall clock stepped back must not hold the rescan.
        func uptime() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        var nextRescan = uptime() + rescanInterval
        while !stopped.withLock({ $0 }) {
            var fds = [pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let timeout = Int32(max(1, min(1000, (nextRescan - uptime()) * 1000)))
            let ready = poll(&fds, 2, timeout)
            if ready > 0 && fds[0].revents & Int16(POLLIN) != 0 {
                drainEvents(&buffer)
            }
            if uptime() >= nextRescan {
                rescan()
                nextRescan = uptime() + rescanInterval
            }
        }
    }

    private func drainEvents(_ buffer: inout [UInt8]) {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(inotifyFD, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            var offset = 0
            let headerSize = MemoryLayout<inotify_event>.size
            while offset + headerSize <= n {
                let (wd, mask, length) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    let event = raw.loadUnaligned(fromByteOffset: offset, as: inotify_event.self)
                    return (event.wd, event.mask, Int(event.len))
                }
                let nameBytes = buffer[(offset + headerSize)..<min(n, offset + headerSize + length)]
                // A name that is not UTF-8 (or has a noncharacter) is left to the rescan (undecodable).
                let name = DirectoryHandle.usableName(nameBytes.prefix { $0 != 0 }) ?? ""
                offset += headerSize + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    // Events were lost: look at every outbox, leaving files changed within
                    // the last two seconds (their own events or the next rescan take them).
                    rescan()
                    continue
                }
                guard let unit = watches[wd], !name.isEmpty, Spool.classify(name) != .temporary else { continue }
                counters.withLock { $0.inotify += 1 }
                announce(unit, name, false)
            }
        }
    }
}
