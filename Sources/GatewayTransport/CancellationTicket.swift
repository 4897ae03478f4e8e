// CancellationTicket: connects a Swift task's cancellation to one engine transfer.
//
// The cancellation handler may run before the request has been queued (the task was
// already cancelled) or after; the ticket remembers whichever happens first so the
// transfer is cancelled either way.
import Foundation

final class CancellationTicket: @unchecked Sendable {
    // @unchecked: every field is read and written under `lock`.
    private let lock = NSLock()
    private var target: (id: UInt64, engine: CurlEngine)?
    private var cancelled = false

    /// Records the queued transfer; cancels it at once if the task was cancelled already.
    func arm(id: UInt64, engine: CurlEngine) {
        let cancelNow = lock.withLock { () -> Bool in
            target = (id, engine)
            return cancelled
        }
        if cancelNow { engine.cancel(id) }
    }

    func cancel() {
        let target = lock.withLock { () -> (id: UInt64, engine: CurlEngine)? in
            cancelled = true
            return self.target
        }
        if let target { target.engine.cancel(target.id) }
    }
}
