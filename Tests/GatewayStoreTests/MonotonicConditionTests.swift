import Foundation
import GatewayStore
import Testing

/// The timed waits of the scheduler, the checkpointer and the paused pickup. That a wall
/// clock stepped back does not lengthen them cannot be shown here without stepping the
/// machine's clock; what is shown is that they time out, wake on a signal, and measure on
/// the monotonic clock.
@Suite("monotonic condition")
struct MonotonicConditionTests {
    static func uptime() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    @Test("a wait with nothing to wake it runs out after its time, not before")
    func timesOut() {
        let condition = MonotonicCondition()
        let start = Self.uptime()
        // A wait may end early spuriously (then it says it was woken); it never ends before
        // its time saying it ran out.
        var timedOut = false
        condition.withLock {
            while !timedOut && Self.uptime() - start < 5 { timedOut = !condition.wait(seconds: 0.05) }
        }
        #expect(timedOut)
        #expect(Self.uptime() - start >= 0.05)
        #expect(condition.withLock { condition.wait(seconds: 0) } == false, "no time: no wait")
        #expect(condition.withLock { condition.wait(seconds: -1) } == false)
    }

    @Test("a signal wakes a long wait at once")
    func wakes() {
        let condition = MonotonicCondition()
        let flag = LockedFlag()
        let start = Self.uptime()
        Thread.detachNewThread {
            usleep(50_000)
            condition.withLock {
                flag.set()
                condition.signal()
            }
        }
        condition.lock()
        while !flag.value {
            if !condition.wait(seconds: 60) { break }
        }
        condition.unlock()
        #expect(flag.value)
        #expect(Self.uptime() - start < 30, "woken by the signal, not by the minute")
    }
}

private final class LockedFlag: @unchecked Sendable {
    // Read and written with the condition's lock held.
    private(set) var value = false
    func set() { value = true }
}
