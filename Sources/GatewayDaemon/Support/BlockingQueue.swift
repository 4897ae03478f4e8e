import Foundation

/// A closable FIFO for handing work between threads. `take` blocks until an item arrives
/// or the queue is closed and empty (then nil).
final class BlockingQueue<Element>: @unchecked Sendable {
    // All state is guarded by `condition`.
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    /// Taken before `items` (in their own order, from `frontHead`): what must not wait
    /// behind them.
    private var front: [Element] = []
    private var frontHead = 0
    private var closed = false

    func put(_ item: Element) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Ahead of everything put with `put` (after what was put first before it).
    func putFirst(_ item: Element) {
        condition.lock()
        front.append(item)
        condition.signal()
        condition.unlock()
    }

    func take() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && frontHead == front.count && !closed { condition.wait() }
        return popLocked()
    }

    /// Everything available now, up to `max`, after waiting for the first.
    func takeBatch(max: Int) -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && frontHead == front.count && !closed { condition.wait() }
        var batch: [Element] = []
        while batch.count < max, let item = popLocked() { batch.append(item) }
        return batch
    }

    private func popLocked() -> Element? {
        if frontHead < front.count {
            let item = front[frontHead]
            frontHead += 1
            if frontHead == front.count {
                front.removeAll(keepingCapacity: true)
                frontHead = 0
            } else if frontHead > 1024 && frontHead * 2 > front.count {
                front.removeFirst(frontHead)
                frontHead = 0
            }
            return item
        }
        guard head < items.count else { return nil }
        let item = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count - head + front.count - frontHead
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// A value guarded by a lock.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
