// NAME
//   PickupPipeline: spool files in, durable signed messages out, nothing lost in between.
//
// DESCRIPTION
//   watcher ──announce──► candidates ──N worker threads (read, parse, validate, sign)──►
//   results ──committer thread──► ONE queue transaction per batch ──► reports written ──►
//   outbox files removed.
//   A file is "in flight" from its announcement until the committer is done with it, so
//   inotify and the rescan never process it twice at once.
//
// SECURITY
//   A file leaves outbox/ only after its message is committed (or it has been moved to
//   rejected/ with its error file). A crash anywhere leaves it in outbox/; the queue's
//   idempotency check recognises it when it is picked up again.

import Foundation
import GatewayJSON
import GatewayModel
import GatewayStore
import Logging

public final class PickupPipeline: @unchecked Sendable {
    // Threads and queues are created in init/start; mutable state is behind Locked.
    struct Candidate: Sendable {
        let unit: SpoolUnit
        let name: String
        let announcedAt: UInt64
    }

    struct Outcome: Sendable {
        let candidate: Candidate
        let result: Result<PickupProcessor.Prepared, Refusal>?  // nil: the file vanished
    }

    let store: QueueStore
    let reports: ReportWriter
    let logger: Logger
    let maxFileSize: Int
    let batchSize: Int
    let workerCount: Int
    let processor: Locked<PickupProcessor>
    let candidates = BlockingQueue<Candidate>()
    let outcomes = BlockingQueue<Outcome>()
    let finishing = BlockingQueue<Finish>()
    let inFlight = Locked(Set<String>())
    let paused = Locked<String?>(nil)
    let pauseCondition = NSCondition()
    let inFlightWorkers: Locked<Int>
    private var threads: [Thread] = []
    private let finished = DispatchGroup()
    public let stats = Locked((accepted: 0, duplicates: 0, refused: 0))
    /// Called after each committed batch with the endpoints that got new deliveries.
    let onCommitted: @Sendable (Set<String>) -> Void

    public init(store: QueueStore, reports: ReportWriter, processor: PickupProcessor, config: GatewayConfig, logger: Logger,
                onCommitted: @escaping @Sendable (Set<String>) -> Void = { _ in }) {
        self.store = store
        self.reports = reports
        self.processor = Locked(processor)
        self.logger = logger
        maxFileSize = config.spool.maxFileSize
        batchSize = config.spool.batchSize
        workerCount = config.spool.workers
        inFlightWorkers = Locked(config.spool.workers)
        self.onCommitted = onCommitted
    }

    /// Replaces the processor (configuration reload: routes, ceilings, lifetimes).
    public func update(processor: PickupProcessor) {
        self.processor.withLock { $0 = processor }
    }

    public func start() {
        for i in 0..<workerCount {
            finished.enter()
            let t = Thread { [self] in
                self.workerLoop()
                self.finished.leave()
            }
            t.name = "pickup-\(i)"
            threads.append(t)
        }
        finished.enter()
        let committer = Thread { [self] in
            self.committerLoop()
            self.finished.leave()
        }
        committer.name = "pickup-commit"
        threads.append(committer)
        finished.enter()
        let finisher = Thread { [self] in
            self.finisherLoop()
            self.finished.leave()
        }
        finisher.name = "pickup-finish"
        threads.append(finisher)
        for t in threads { t.start() }
    }

    /// Stops taking files; lets what is in flight finish (commit or stay in the outbox).
    public func stop() {
        resume()
        candidates.close()
        finished.wait()
    }

    /// A file was seen in an outbox (by inotify or by a rescan).
    public func announce(unit: SpoolUnit, name: String) {
        let key = unit.unit + "/" + name
        let isNew = inFlight.withLock { $0.insert(key).inserted }
        guard isNew else { return }
        candidates.put(Candidate(unit: unit, name: name, announcedAt: DispatchTime.now().uptimeNanoseconds))
    }

    /// Backpressure: workers wait while paused (files stay in the outboxes).
    public func pause(reason: String) {
        let was = paused.withLock { p -> String? in let old = p; p = reason; return old }
        if was == nil { logger.warning("pickup paused", metadata: ["reason": "\(reason)"]) }
    }

    public func resume() {
        let was = paused.withLock { p -> String? in let old = p; p = nil; return old }
        if was != nil {
            logger.notice("pickup resumed")
            pauseCondition.lock()
            pauseCondition.broadcast()
            pauseCondition.unlock()
        }
    }

    public var isPaused: Bool { paused.withLock { $0 != nil } }

    private func waitWhilePaused() {
        pauseCondition.lock()
        while paused.withLock({ $0 != nil }) { pauseCondition.wait(until: Date().addingTimeInterval(0.5)) }
        pauseCondition.unlock()
    }

    // MARK: workers

    private func workerLoop() {
        while let candidate = candidates.take() {
            waitWhilePaused()
            outcomes.put(Outcome(candidate: candidate, result: prepare(candidate)))
        }
        // The last worker out closes the outcome queue.
        let remaining = inFlightWorkers.withLock { n -> Int in n -= 1; return n }
        if remaining == 0 { outcomes.close() }
    }


    private func prepare(_ c: Candidate) -> Result<PickupProcessor.Prepared, Refusal>? {
        if Spool.classify(c.name) == .other {
            return .failure(Refusal(.file, "the file name must end in .json (write to a dot-prefixed or .tmp name, then rename to NAME.json)"))
        }
        let bytes: [UInt8]
        do {
            bytes = try c.unit.outbox.readHostileFile(c.name, maxBytes: maxFileSize)
        } catch {
            if error.reason == .vanished { return nil }
            return .failure(Refusal(.file, error.description))
        }
        let processor = self.processor.withLock { $0 }
        return processor.process(unit: c.unit.unit, file: c.name, bytes: bytes, now: Date().millis)
    }

    // MARK: committer

    private func committerLoop() {
        while true {
            let batch = outcomes.takeBatch(max: batchSize)
            if batch.isEmpty {
                finishing.close()
                return
            }
            commit(batch)
        }
    }

    /// What is left to do for a committed batch: its reports, then its files.
    struct Finish: Sendable {
        let toRemove: [Candidate]
        let keys: [String]
    }

    /// Runs beside the committer, so that the next batch's transaction overlaps this
    /// batch's file work: reports written (and flushed) first, then the outbox files
    /// removed, then the names released for pickup.
    private func finisherLoop() {
        while true {
            let work = finishing.takeBatch(max: 16)
            if work.isEmpty { return }
            reports.flush()
            for finish in work {
                for candidate in finish.toRemove where !candidate.unit.outbox.remove(candidate.name) {
                    logger.error("cannot remove a queued file from the outbox", metadata: ["file": "\(candidate.name)", "error": "\(String(cString: strerror(errno)))"])
                }
            }
            inFlight.withLock { set in
                for finish in work { for key in finish.keys { set.remove(key) } }
            }
        }
    }

    private func commit(_ batch: [Outcome]) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var tCommit: UInt64 = 0
        defer {
            let ms = { (ns: UInt64) in String(format: "%.1f", Double(ns) / 1e6) }
            let total = DispatchTime.now().uptimeNanoseconds - t0
            logger.debug("pickup batch", metadata: ["files": "\(batch.count)", "commitMs": "\(ms(tCommit))",
                                                    "totalMs": "\(ms(total))", "waiting": "\(outcomes.count)"])
        }
        var accepted: [(Candidate, NewMessage)] = []
        var refused: [(Candidate, Refusal)] = []
        var vanished: [Candidate] = []
        for outcome in batch {
            switch outcome.result {
            case .success(let prepared)?: accepted.append((outcome.candidate, prepared.message))
            case .failure(let refusal)?: refused.append((outcome.candidate, refusal))
            case nil: vanished.append(outcome.candidate)
            }
        }
        var toRemove: [Candidate] = []
        var endpoints = Set<String>()
        var duplicates: [(unit: String, kind: String, messageRowId: Int64?, recipient: String?, body: String, fileName: String?)] = []
        var duplicateEvents: [AuditEvent] = []
        if !accepted.isEmpty {
            do {
                let tc = DispatchTime.now().uptimeNanoseconds
                let results = try store.enqueue(accepted.map(\.1))
                tCommit = DispatchTime.now().uptimeNanoseconds - tc
                for (i, result) in results.enumerated() {
                    let (candidate, message) = accepted[i]
                    switch result {
                    case .accepted:
                        toRemove.append(candidate)
                        endpoints.formUnion(message.routes.map(\.endpoint))
                        logger.info("accepted", metadata: ["unit": "\(message.sender)", "file": "\(candidate.name)",
                                                           "messageId": "\(message.messageId)", "recipients": "\(message.routes.count)",
                                                           "priority": "\(message.priority.rawValue)"])
                    case .duplicate(let id):
                        toRemove.append(candidate)
                        if let body = message.acceptedReport {
                            duplicates.append((message.sender, "accepted", id, nil, body, message.acceptedReportName))
                        }
                        duplicateEvents.append(AuditEvent("duplicate", actor: "gatewayd", sender: message.sender, messageId: message.messageId,
                                                          details: ["file": .string(candidate.name), "digest": .string(message.contentDigest)]))
                        logger.notice("duplicate of a queued message, file removed", metadata: ["unit": "\(message.sender)", "file": "\(candidate.name)", "messageId": "\(message.messageId)"])
                    case .conflict(_, let existing):
                        refused.append((candidate, Refusal(.duplicate, "messageId \"\(message.messageId)\" was already accepted from \(message.sender) with different content (digest \(existing)); a messageId may not be reused: give the new message a new id",
                                                           at: "/messageId", messageId: message.messageId)))
                    }
                }
                stats.withLock { $0.accepted += results.filter { if case .accepted = $0 { return true }; return false }.count }
                stats.withLock { $0.duplicates += duplicates.count }
                if !duplicates.isEmpty || !duplicateEvents.isEmpty { try store.oweReports(duplicates, events: duplicateEvents) }
            } catch {
                // Nothing was committed: the files stay in the outbox and come back with the rescan.
                logger.error("queue commit failed; files stay in the outbox", metadata: ["error": "\(error)", "files": "\(accepted.count)"])
                accepted.removeAll()
            }
        }
        // Refusals: error file into rejected/, then the file beside it, then the audit.
        var events: [AuditEvent] = []
        for (candidate, refusal) in refused {
            do {
                let moved = try reject(candidate, refusal)
                events.append(AuditEvent("refused", actor: "gatewayd", sender: candidate.unit.unit, messageId: refusal.messageId,
                                         details: ["file": .string(candidate.name), "rejectedAs": .string(moved), "stage": .string(refusal.stage.rawValue),
                                                   "where": .string(refusal.items.first?.instanceLocation ?? "")]))
                logger.notice("refused", metadata: ["unit": "\(candidate.unit.unit)", "file": "\(candidate.name)", "reason": "\(refusal.summary)"])
            } catch {
                logger.error("cannot move a refused file to rejected/; it stays in the outbox", metadata: ["file": "\(candidate.name)", "error": "\(error)"])
            }
        }
        stats.withLock { $0.refused += events.count }
        if !events.isEmpty {
            do { try store.audit(events) } catch { logger.error("cannot audit refusals", metadata: ["error": "\(error)"]) }
        }
        // The deliveries are durable: delivery may start now. Reports and file removal
        // follow on the finisher thread (reports before files).
        if !endpoints.isEmpty { onCommitted(endpoints) }
        finishing.put(Finish(toRemove: toRemove, keys: batch.map { $0.candidate.unit.unit + "/" + $0.candidate.name }))
    }

    /// Writes NAME.error.json into rejected/ and moves the file beside it, never replacing
    /// an earlier refused file of the same name (a numbered name is used instead).
    private func reject(_ c: Candidate, _ refusal: Refusal) throws -> String {
        let rejected = c.unit.rejected
        var target = c.name
        var n = 1
        while true {
            var st = stat()
            let taken = fstatat(rejected.fd, target, &st, AT_SYMLINK_NOFOLLOW) == 0
            if !taken {
                let document = refusal.document(file: c.name, unit: c.unit.unit, refusedAt: Date().millis)
                let errorName = (target.hasSuffix(".json") ? String(target.dropLast(5)) : target) + ".error.json"
                try rejected.writeAtomically(errorName, Array(document.prettyString().utf8) + [0x0A])
                let used = try c.unit.outbox.moveAside(c.name, to: rejected, as: target)
                if used != nil { return target }
                // The name was taken meanwhile: try the next one.
            }
            n += 1
            target = c.name.hasSuffix(".json") ? "\(c.name.dropLast(5)).\(n).json" : "\(c.name).\(n)"
        }
    }
}
