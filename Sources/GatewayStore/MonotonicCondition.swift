// NAME
//   MonotonicCondition: a lock and a condition whose timed waits run on the monotonic clock.
//
// DESCRIPTION
//   Foundation's NSCondition waits until a wall-clock date: a clock stepped back (NTP, a
//   virtual machine resumed) during the wait lengthens it by the step, and a thread that
//   waits a second at a time could sleep for an hour. The delivery scheduler, the queue's
//   checkpointer and the paused pickup wait here instead. Lives in the lowest module that
//   has a thread of its own (the checkpointer); the daemon uses it from here.

import CGatewaySys
import Foundation

public final class MonotonicCondition: @unchecked Sendable {
    // Owned here, initialised once and destroyed in deinit; pthread objects must not move.
    private let c: UnsafeMutablePointer<gw_cond>

    public init() {
        c = .allocate(capacity: 1)
        let r = gw_cond_init(c)
        precondition(r == 0, "cannot make a condition: \(String(cString: strerror(r)))")
    }

    deinit {
        gw_cond_destroy(c)
        c.deallocate()
    }

    public func lock() { gw_cond_lock(c) }
    public func unlock() { gw_cond_unlock(c) }
    public func signal() { gw_cond_signal(c) }
    public func broadcast() { gw_cond_broadcast(c) }

    /// With the lock held: waits until signalled or `seconds` have passed. False when the
    /// time ran out (a wake-up may also be spurious: callers check their condition).
    @discardableResult
    public func wait(seconds: Double) -> Bool { gw_cond_wait(c, seconds) != 0 }

    public func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
