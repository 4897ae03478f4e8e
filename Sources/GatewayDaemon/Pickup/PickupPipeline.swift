// NAME
//   PickupPipeline: spool files in, durable signed messages out, nothing lost in between.
//
// DESCRIPTION
//   watcher ──announce──► candidates ──N worker threads (read, parse, validate, sign the
//   message and its accepted report, stage the report file)──► outcomes ──committer
//   thread──► ONE queue transaction per batch ──2 finisher threads, a batch each──►
//   reports published (named), then outbox files removed. Within a file, its report is
//   named before the file leaves the outbox; across files and batches there is no order.
//   A file is "in flight" from its announcement until a finisher is done with it, so
//   inotify and the rescan never process it twice at once. At most `maxInFlight(batchSize:)` files
//   are between a worker and a finisher (each may hold a staged report open).
//
// SECURITY
//   A file leaves outbox/ only after its message is committed (or it has been moved to
//   rejected/ with its error file), and after its accepted report has its name. A crash
//   anywhere leaves it in outbox/ (the queue's idempotency check recognises it when it is
//   picked up again, and its report is published again) or, once it is gone, leaves the
//   report listed as unsynced in the queue until the next file system sync (ReportWriter).

import CGatewaySys
import Foundation
import GatewayJSON
import GatewayModel
import GatewayStore
import Logging
import Synchronization

public final class PickupPipeline: @unchecked Sendable {
    // Threads and queues are created in init/start; mutable state is behind Locked.
    struct Candidate: Sendable {
        let unit: SpoolUnit
        let name: String
        let announcedAt: UInt64
    }

    enum Result: Sendable {
        /// Signed, with its accepted report staged (not yet named).
        case ready(PickupProcessor.Prepared, StagedFile)
        case refused(Refusal)
        /// The file disappeared before it could be read.
        case vanished
        /// The gateway could not handle it now (the file stays for the next rescan).
        case retryLater(String)
    }

    struct Outcome: Sendable {
        let candidate: Candidate
        let result: Result
        /// The file read (nil when it was not), so that only that file is removed or moved.
        let identity: FileIdentity?
    }

    let store: QueueStore
    let reports: ReportWriter
    let logger: Logger
    let maxFileSize: Int
    let batchSize: Int
    let workerCount: Int
    /// The current processor and its generation; each worker works on a replica of its own
    /// and makes a new one when `generation` moves (a reload).
    let processor: Locked<(generation: Int, processor: PickupProcessor)>
    let generation = Atomic<Int>(0)
    let candidates = BlockingQueue<Candidate>()
    let outcomes = BlockingQueue<Outcome>()
    let finishing = BlockingQueue<Finish>()
    /// Finisher threads: a removal can wait for the device (a synchronous TRIM where the
    /// file system is mounted with `discard`, ≈ 70 µs a file on the development VM), so one
    /// thread doing them one after another bounded the pickup below what the CPU allowed.
    static let finisherCount = 2
    let inFlight = Locked(Set<String>())
    /// Files left in the outbox for the gateway's own reasons, each left alone for a while.
    let left: Locked<LeftFiles>
    let paused = Locked<String?>(nil)
    let pauseCondition = MonotonicCondition()
    let inFlightWorkers: Locked<Int>
    /// Files between a worker and the finisher (bounds staged reports and memory).
    let slots: DispatchSemaphore
    private var threads: [Thread] = []
    private let finished = DispatchGroup()
    public let stats = Locked((accepted: 0, duplicates: 0, refused: 0))
    /// Audit records (refusals, duplicates) the queue could not take, written with the next
    /// batch's; touched by the committer thread only.
    private var unwrittenAudit: [AuditEvent] = []
    private var auditFailing = false
    /// Called after each committed batch with the endpoints that got new deliveries.
    let onCommitted: @Sendable (Set<String>) -> Void

    public init(store: QueueStore, reports: ReportWriter, processor: PickupProcessor, config: GatewayConfig, logger: Logger,
                onCommitted: @escaping @Sendable (Set<String>) -> Void = { _ in }) {
        self.store = store
        self.reports = reports
        self.processor = Locked((0, processor))
        self.logger = logger
        maxFileSize = config.spool.maxFileSize
        batchSize = config.spool.batchSize
        workerCount = config.spool.workers
        inFlightWorkers = Locked(config.spool.workers)
        slots = DispatchSemaphore(value: Self.maxInFlight(batchSize: config.spool.batchSize))
        left = Locked(LeftFiles(firstWait: UInt64(max(0.05, config.spool.rescanInterval) * 1e9)))
        self.onCommitted = onCommitted
    }

    /// Four batches in flight, within what the process may have open (each holds a staged
    /// report's descriptor).
    static func maxInFlight(batchSize: Int) -> Int {
        var limit = rlimit()
        let open = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Int(clamping: limit.rlim_cur) : 1024
        return max(1, min(4 * batchSize, (open - 256) / 2))
    }

    /// Replaces the processor (configuration reload: routes, ceilings, lifetimes).
    public func update(processor: PickupProcessor) {
        self.processor.withLock { current in
            current = (current.generation + 1, processor)
            generation.store(current.generation, ordering: .releasing)
        }
        // A reload is also the operator's way to have every left file tried at once.
        left.withLock { $0.clearAll() }
    }

    /// This worker's processor, replicated from the current one when that changed.
    private func workerProcessor(_ mine: inout (generation: Int, processor: PickupProcessor)?) -> PickupProcessor {
        if let mine, mine.generation == generation.load(ordering: .acquiring) { return mine.processor }
        let current = processor.withLock { $0 }
        do {
            mine = (current.generation, try current.processor.replica())
        } catch {
            // Cannot happen with the schemas already compiled once; the shared one still works.
            logger.error("pickup worker uses the shared validator and signer", metadata: ["error": "\(error)"])
            mine = current
        }
        return mine!.processor
    }

    public func start() {
        for i in 0..<workerCount { addThread("pickup-\(i)") { $0.workerLoop() } }
        addThread("pickup-commit") { $0.committerLoop() }
        for i in 0..<Self.finisherCount { addThread("pickup-finish-\(i)") { $0.finisherLoop() } }
        for t in threads { t.start() }
    }

    /// A named thread running `body`, counted in `finished` until it returns.
    private func addThread(_ name: String, _ body: @escaping @Sendable (PickupPipeline) -> Void) {
        finished.enter()
        let t = Thread { [self] in
            gw_set_thread_name(name)
            body(self)
            self.finished.leave()
        }
        t.name = name
        threads.append(t)
    }

    /// Stops taking files; lets what is in flight finish (commit or stay in the outbox).
    public func stop() {
        resume()
        candidates.close()
        finished.wait()
    }

    /// A file was seen in an outbox (by inotify or by a rescan).
    /// - Parameter arrived: seen as it arrived (inotify), not found by a rescan. Such a file
    ///   that says it is immediate goes ahead of the files not yet read when a backlog waits
    ///   (`Self.peekBacklog` files or more): envelope.schema.json's "immediate = threat to
    ///   life: never waits behind routine traffic", in the outbox as in the queue, but for
    ///   the files the workers hold already.
    public func announce(unit: SpoolUnit, name: String, arrived: Bool = false) {
        if isLeftAlone(unit: unit, name: name) { return }
        let key = unit.unit + "/" + name
        let isNew = inFlight.withLock { $0.insert(key).inserted }
        guard isNew else { return }
        let candidate = Candidate(unit: unit, name: name, announcedAt: DispatchTime.now().uptimeNanoseconds)
        if arrived && candidates.count >= Self.peekBacklog,
           let head = unit.outbox.peekHostileFile(name, maxBytes: Self.peekBytes), Self.saysImmediate(head) {
            candidates.putFirst(candidate)
        } else {
            candidates.put(candidate)
        }
    }

    /// From how many files waiting an arriving file is looked into for its priority (an
    /// open, fstat, pread and close more per file, ≈ 5–20 µs on the watcher's thread, only
    /// while a backlog waits).
    static let peekBacklog = 64
    /// How much of it: an envelope's members come first in what units write; a priority
    /// further in (or written with escapes) is not seen, and the file keeps its turn.
    static let peekBytes = 16_384

    /// Whether the JSON text (or its beginning) has a member `"priority": "immediate"`:
    /// a quick look, not a parse. A wrong answer changes only the order in which the
    /// outbox's files are taken: the message's priority is what its full check finds.
    static func saysImmediate(_ bytes: [UInt8]) -> Bool {
        let key = Array("\"priority\"".utf8)
        let value = Array("\"immediate\"".utf8)
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var i = 0
        while i + key.count <= bytes.count {
            guard bytes[i] == 0x22, bytes[i..<(i + key.count)].elementsEqual(key) else { i += 1; continue }
            // A member name, not the inside of a string: an escaped quote does not open one.
            var backslashes = 0
            while i - backslashes > 0 && bytes[i - backslashes - 1] == 0x5C { backslashes += 1 }
            var j = i + key.count
            i += 1
            guard backslashes % 2 == 0 else { continue }
            while j < bytes.count && isSpace(bytes[j]) { j += 1 }
            guard j < bytes.count, bytes[j] == 0x3A else { continue }
            j += 1
            while j < bytes.count && isSpace(bytes[j]) { j += 1 }
            if j + value.count <= bytes.count && bytes[j..<(j + value.count)].elementsEqual(value) { return true }
        }
        return false
    }

    /// Whether the file is one the gateway left in the outbox a moment ago, unchanged since
    /// and not yet due to be tried again (LeftFiles). Costs one stat, for such files only.
    private func isLeftAlone(unit: SpoolUnit, name: String) -> Bool {
        guard left.withLock({ $0.has(unit: unit.unit, name: name) }) else { return false }
        var st = stat()
        let identity = fstatat(unit.outbox.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? FileIdentity(st) : nil
        let now = DispatchTime.now().uptimeNanoseconds
        return left.withLock { $0.isWaiting(unit: unit.unit, name: name, identity: identity, now: now) }
    }

    /// A rescan listed the unit's outbox: files left there that have gone since (the unit
    /// took them back, an operator moved them) are forgotten.
    public func forgetLeftFiles(of unit: SpoolUnit, except names: Set<String>) {
        left.withLock { memo in
            guard memo.has(unit: unit.unit) else { return }
            memo.keep(unit: unit.unit, only: names)
        }
    }

    /// Leaves `c` alone for a while (it stays in the outbox for the gateway's own reasons);
    /// returns the wait in seconds, nil when the file is gone.
    @discardableResult
    private func leave(_ c: Candidate, identity: FileIdentity?) -> Double? {
        var found = identity
        if found == nil {
            var st = stat()
            if fstatat(c.unit.outbox.fd, c.name, &st, AT_SYMLINK_NOFOLLOW) == 0 { found = FileIdentity(st) }
        }
        guard let found else { return nil }
        let now = DispatchTime.now().uptimeNanoseconds
        let wait = left.withLock { $0.left(unit: c.unit.unit, name: c.name, identity: found, now: now) }
        return Double(wait) / 1e9
    }

    /// Backpressure: workers wait while paused (files stay in the outboxes).
    public func pause(reason: String) {
        let was = paused.withLock { p -> String? in let old = p; p = reason; return old }
        if was == nil { logger.warning("pickup paused", metadata: ["reason": "\(reason)"]) }
    }

    public func resume() {
        let was = paused.withLock { p -> String? in let old = p; p = nil; return old }
        if was != nil {
            left.withLock { $0.clearAll() }
            logger.notice("pickup resumed")
            pauseCondition.lock()
            pauseCondition.broadcast()
            pauseCondition.unlock()
        }
    }

    public var isPaused: Bool { paused.withLock { $0 != nil } }

    private func waitWhilePaused() {
        pauseCondition.lock()
        while paused.withLock({ $0 != nil }) { pauseCondition.wait(seconds: 0.5) }
        pauseCondition.unlock()
    }

    // MARK: workers

    private func workerLoop() {
        var mine: (generation: Int, processor: PickupProcessor)?
        while let candidate = candidates.take() {
            waitWhilePaused()
            slots.wait()
            let (result, identity) = prepare(candidate, processor: workerProcessor(&mine))
            outcomes.put(Outcome(candidate: candidate, result: result, identity: identity))
        }
        // The last worker out closes the outcome queue.
        let remaining = inFlightWorkers.withLock { n -> Int in n -= 1; return n }
        if remaining == 0 { outcomes.close() }
    }


    private func prepare(_ c: Candidate, processor: PickupProcessor) -> (Result, FileIdentity?) {
        if Spool.classify(c.name) == .other {
            return (.refused(Refusal(.file, "the file name must end in .json (write to a dot-prefixed or .tmp name, then rename to NAME.json)")), nil)
        }
        let bytes: [UInt8]
        let identity: FileIdentity
        do {
            (bytes, identity) = try c.unit.outbox.readHostileFileAndIdentity(c.name, maxBytes: maxFileSize)
        } catch {
            if error.reason == .vanished { return (.vanished, nil) }
            if error.reason == .transient { return (.retryLater(error.description), nil) }
            return (.refused(Refusal(.file, error.description)), nil)
        }
        switch processor.process(unit: c.unit.unit, file: c.name, bytes: bytes, now: Date().millis) {
        case .failure(let refusal) where refusal.stage == .signing:
            // The gateway's failure, not the unit's: the file waits for the next rescan.
            return (.retryLater(refusal.summary), identity)
        case .failure(let refusal):
            return (.refused(refusal), identity)
        case .success(let prepared):
            do {
                return (.ready(prepared, try c.unit.reports.stage(prepared.report, in: c.unit.staging)), identity)
            } catch {
                return (.retryLater("cannot write the accepted report: \(error)"), identity)
            }
        }
    }

    // MARK: committer

    /// Group commit: with a backlog of files waiting for a worker (`groupCommitBacklog` or
    /// more), the committer lets a partial batch gather this long before committing it.
    /// Each transaction has a fixed cost (the fsync, the index pages every batch rewrites,
    /// the audit chain's head): under a backlog batches grow from ≈ 50 to ≈ 100 files and
    /// the committer spends ≈ 6 µs less per message (its thread's CPU time from /proc during
    /// the pickup benchmark).
    /// Without a backlog (a unit's files arriving as they are written) nothing waits.
    static let groupCommitLinger: useconds_t = 10_000
    static let groupCommitBacklog = 64

    private func committerLoop() {
        defer {
            // A last try before they are given up.
            if !unwrittenAudit.isEmpty, (try? store.audit(unwrittenAudit)) == nil {
                logger.error("audit records of refusals and duplicates lost at stop: the queue could not take them", metadata: ["records": "\(unwrittenAudit.count)"])
            }
        }
        while true {
            var batch = outcomes.takeBatch(max: batchSize)
            if !batch.isEmpty, batch.count < batchSize, candidates.count >= Self.groupCommitBacklog {
                usleep(Self.groupCommitLinger)
                if outcomes.count > 0 { batch += outcomes.takeBatch(max: batchSize - batch.count) }
            }
            if batch.isEmpty {
                finishing.close()
                return
            }
            commit(batch)
        }
    }

    /// What is left to do for a committed batch: name its reports, then remove its files.
    struct Finish: Sendable {
        struct Accepted: Sendable {
            let candidate: Candidate
            let report: StagedFile
            let reportName: String
            let messageRowId: Int64
            let identity: FileIdentity?
        }
        let accepted: [Accepted]
        let keys: [String]
    }

    /// Runs beside the committer, so that the next batch's transaction overlaps this
    /// batch's file work: each report named first, then its outbox file removed; then the
    /// names released for pickup.
    private func finisherLoop() {
        while true {
            // One committed batch at a time, so that the finishers share the work.
            let work = finishing.takeBatch(max: 1)
            if work.isEmpty { return }
            var published: [(messageRowId: Int64, sourceFile: String)] = []
            var units = Set<String>()
            for finish in work {
                for a in finish.accepted {
                    do {
                        // The report's own content is read back only when its name is taken.
                        let report = a.report
                        try report.publish(as: a.reportName) { ReportWriter.nameIfTaken($0, $1, ours: report.contents() ?? []) }
                    } catch {
                        // Queued, but the unit has no report yet: the file stays, and the
                        // next rescan finds it a duplicate and writes the report again.
                        logger.error("cannot write an accepted report; the file stays in the outbox", metadata: ["file": "\(a.candidate.name)", "error": "\(error)"])
                        reports.retryLater(messageRowId: a.messageRowId, sourceFile: a.candidate.name)
                        leave(a.candidate, identity: a.identity)
                        continue
                    }
                    published.append((a.messageRowId, a.candidate.name))
                    units.insert(a.candidate.unit.unit)
                    switch a.candidate.unit.outbox.remove(a.candidate.name, ifStill: a.identity) {
                    case .removed: break
                    case .replaced:
                        // The unit renamed another file onto this name meanwhile: that one is
                        // read at the next rescan (its announcement came while this was in flight).
                        logger.notice("a queued file was replaced in the outbox before it could be removed; the new one is read at the next rescan",
                                      metadata: ["unit": "\(a.candidate.unit.unit)", "file": "\(a.candidate.name)"])
                    case .replacedNotPutBack(let hidden, let why):
                        logger.error("a queued file was replaced in the outbox before it could be removed, and the new one could not be put back under its name; it stays hidden until the next start puts it back",
                                     metadata: ["unit": "\(a.candidate.unit.unit)", "file": "\(a.candidate.name)", "hiddenAs": "\(hidden)", "error": "\(why)"])
                    case .failed(let e):
                        logger.error("cannot remove a queued file from the outbox", metadata: ["file": "\(a.candidate.name)", "error": "\(String(cString: strerror(e)))"])
                    }
                }
            }
            reports.published(accepted: published, units: units)
            // Space is back for these units: what they had left is tried at the next rescan.
            if !units.isEmpty { left.withLock { memo in for unit in units { memo.clear(unit: unit) } } }
            var released = 0
            inFlight.withLock { set in
                for finish in work {
                    for key in finish.keys { set.remove(key) }
                    released += finish.keys.count
                }
            }
            for _ in 0..<released { slots.signal() }
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
        // Each file with the identity it was read as: only that file is removed or moved.
        var ready: [(Candidate, PickupProcessor.Prepared, StagedFile, FileIdentity?)] = []
        var refused: [(Candidate, Refusal, FileIdentity?)] = []
        var later: [(Candidate, String, FileIdentity?)] = []
        for outcome in batch {
            switch outcome.result {
            case .ready(let prepared, let staged): ready.append((outcome.candidate, prepared, staged, outcome.identity))
            case .refused(let refusal): refused.append((outcome.candidate, refusal, outcome.identity))
            case .vanished: break
            case .retryLater(let why): later.append((outcome.candidate, why, outcome.identity))
            }
        }
        var accepted: [Finish.Accepted] = []
        var endpoints = Set<String>()
        var duplicateEvents: [AuditEvent] = []
        // A message queued already (its file back after a crash between the commit and the
        // removal, or dropped again) is that duplicate, whatever the configuration or the
        // clock say now: its file goes, with its accepted report for this file as first
        // written (from the queue: its time, recipients and expiry; one already there is kept).
        refused.removeAll { (candidate, refusal, identity) in
            guard let digest = refusal.contentDigest, let messageId = refusal.messageId,
                  let queued = try? store.queuedMessage(sender: candidate.unit.unit, messageId: messageId), queued.digest == digest else { return false }
            let report: StagedFile
            do {
                guard let staged = try stageQueuedAcceptance(candidate, messageRowId: queued.rowId) else { return false }
                report = staged
            } catch {
                // The file stays for the next rescan (nothing refused, nothing removed).
                logger.error("cannot write the accepted report of a duplicate; the file stays in the outbox", metadata: ["file": "\(candidate.name)", "error": "\(error)"])
                later.append((candidate, "\(error)", identity))
                return true
            }
            accepted.append(.init(candidate: candidate, report: report, reportName: ReportWriter.name(file: candidate.name, kind: "accepted", recipient: nil),
                                  messageRowId: queued.rowId, identity: identity))
            duplicateEvents.append(AuditEvent("duplicate", actor: "gatewayd", sender: candidate.unit.unit, messageId: messageId,
                                              details: ["file": .string(candidate.name), "digest": .string(digest)]))
            logger.notice("duplicate of a queued message, file removed", metadata: ["unit": "\(candidate.unit.unit)", "file": "\(candidate.name)", "messageId": "\(messageId)"])
            return true
        }
        if !ready.isEmpty {
            // Duplicates of queued messages found above are accepted already, whatever this commit does.
            let acceptedBeforeCommit = accepted.count
            do {
                let tc = DispatchTime.now().uptimeNanoseconds
                let results = try store.enqueue(ready.map(\.1.message))
                tCommit = DispatchTime.now().uptimeNanoseconds - tc
                var newlyAccepted = 0
                for (i, result) in results.enumerated() {
                    let (candidate, prepared, staged, identity) = ready[i]
                    let message = prepared.message
                    switch result {
                    case .accepted(let id):
                        newlyAccepted += 1
                        accepted.append(.init(candidate: candidate, report: staged, reportName: prepared.reportName, messageRowId: id,
                                              identity: identity))
                        endpoints.formUnion(message.routes.map(\.endpoint))
                        logger.info("accepted", metadata: ["unit": "\(message.sender)", "file": "\(candidate.name)",
                                                           "messageId": "\(message.messageId)", "recipients": "\(message.routes.count)",
                                                           "priority": "\(message.priority.rawValue)"])
                    case .duplicate(let id):
                        // Its accepted report for this file as first accepted (the queue's time,
                        // recipients and expiry), not as this drop would have had it.
                        var report = staged
                        do {
                            if let queued = try stageQueuedAcceptance(candidate, messageRowId: id) { report = queued }
                        } catch {
                            logger.warning("a duplicate's accepted report is written as this drop's (the queue's could not be read or signed)",
                                           metadata: ["file": "\(candidate.name)", "error": "\(error)"])
                        }
                        accepted.append(.init(candidate: candidate, report: report, reportName: prepared.reportName, messageRowId: id,
                                              identity: identity))
                        duplicateEvents.append(AuditEvent("duplicate", actor: "gatewayd", sender: message.sender, messageId: message.messageId,
                                                          details: ["file": .string(candidate.name), "digest": .string(message.contentDigest)]))
                        logger.notice("duplicate of a queued message, file removed", metadata: ["unit": "\(message.sender)", "file": "\(candidate.name)", "messageId": "\(message.messageId)"])
                    case .conflict(_, let existing):
                        refused.append((candidate, Refusal(.duplicate, "messageId \"\(message.messageId)\" was already accepted from \(message.sender) with different content (digest \(existing)); a messageId may not be reused: give the new message a new id",
                                                           at: "/messageId", messageId: message.messageId), identity))
                    case .acceptedBefore(let at):
                        refused.append((candidate, Refusal(.duplicate, "messageId \"\(message.messageId)\" was accepted from \(message.sender) on \(RFC3339.format(millis: at)) and pruned from the queue since (queue.retention); a message id is used once: give the message a new id",
                                                           at: "/messageId", messageId: message.messageId), identity))
                    case .usedByOtherSender(let other):
                        // The other unit is named in the gateway's log, not to this unit.
                        logger.notice("messageId already used by another unit", metadata: ["unit": "\(message.sender)", "file": "\(candidate.name)",
                                                                                          "messageId": "\(message.messageId)", "usedBy": "\(other)"])
                        refused.append((candidate, Refusal(.duplicate, "messageId \"\(message.messageId)\" is already used by another unit; the agencies de-duplicate by message id, so this message would be taken for that one: give it a new id (a UUID)",
                                                           at: "/messageId", messageId: message.messageId), identity))
                    }
                }
                stats.withLock {
                    $0.accepted += newlyAccepted
                    $0.duplicates += duplicateEvents.count
                }
            } catch {
                // Nothing was committed: the files stay in the outbox and come back with the rescan.
                logger.error("queue commit failed; files stay in the outbox", metadata: ["error": "\(error)", "files": "\(ready.count)"])
                later += ready.map { ($0.0, "the queue could not commit: \(error)", $0.3) }
                accepted.removeSubrange(acceptedBeforeCommit...)
            }
        }
        // Refusals: error file into rejected/, then the file beside it, then the audit.
        var events: [AuditEvent] = duplicateEvents
        for (candidate, refusal, identity) in refused {
            do {
                let moved = try reject(candidate, refusal, identity: identity)
                events.append(AuditEvent("refused", actor: "gatewayd", sender: candidate.unit.unit, messageId: refusal.messageId,
                                         details: ["file": .string(candidate.name), "rejectedAs": .string(moved), "stage": .string(refusal.stage.rawValue),
                                                   "where": .string(refusal.items.first?.instanceLocation ?? "")]))
                stats.withLock { $0.refused += 1 }
                logger.notice("refused", metadata: ["unit": "\(candidate.unit.unit)", "file": "\(candidate.name)", "reason": "\(refusal.summary)"])
            } catch let error as SafeFileError where error.reason == .replaced {
                logger.notice("a refused file was replaced in the outbox before it could be moved; the new one is read at the next rescan",
                              metadata: ["unit": "\(candidate.unit.unit)", "file": "\(candidate.name)"])
            } catch let error as SafeFileError where error.reason == .replacedNotPutBack {
                logger.error("a refused file was replaced in the outbox before it could be moved, and the new one could not be put back: move it back to the outbox",
                             metadata: ["unit": "\(candidate.unit.unit)", "file": "\(candidate.name)", "error": "\(error)"])
            } catch let error as SafeFileError where error.reason == .vanished {
                logger.notice("a refused file disappeared before it could be moved to rejected/", metadata: ["unit": "\(candidate.unit.unit)", "file": "\(candidate.name)"])
            } catch {
                logger.error("cannot move a refused file to rejected/; it stays in the outbox", metadata: ["file": "\(candidate.name)", "error": "\(error)"])
                later.append((candidate, "cannot move it to rejected/: \(error)", identity))
            }
        }
        leaveForLater(later, batch: batch, accepted: accepted)
        // Records the queue could not take earlier go with these (oldest first).
        if !unwrittenAudit.isEmpty {
            events = unwrittenAudit + events
            unwrittenAudit = []
        }
        if !events.isEmpty {
            do {
                try store.audit(events)
            } catch {
                // Kept for the next batch (the files themselves are already in rejected/ or
                // gone as duplicates); logged once until they are written.
                if !auditFailing { logger.error("cannot audit refusals and duplicates; kept to write with the next batch", metadata: ["error": "\(error)", "records": "\(events.count)"]) }
                auditFailing = true
                unwrittenAudit = events
            }
            if auditFailing && unwrittenAudit.isEmpty {
                auditFailing = false
                logger.notice("refusals and duplicates audited again", metadata: ["records": "\(events.count)"])
            }
        }
        // The deliveries are durable: delivery may start now. Reports and file removal
        // follow on a finisher thread (reports before files).
        if !endpoints.isEmpty { onCommitted(endpoints) }
        finishing.put(Finish(accepted: accepted, keys: batch.map { $0.candidate.unit.unit + "/" + $0.candidate.name }))
    }

    /// The files of `later` stay in the outbox, each left alone for a while (LeftFiles); one
    /// line a batch (a full disk fails every file alike) names the first. The batch's
    /// refused and vanished files are done with: forgotten. Accepted ones are the
    /// finisher's: their unit is cleared once a report is published, and a file whose report
    /// cannot be published is left again, for twice as long as the last time.
    private func leaveForLater(_ later: [(Candidate, String, FileIdentity?)], batch: [Outcome], accepted: [Finish.Accepted]) {
        if left.withLock({ !$0.isEmpty }) {
            let staying = Set(later.map { $0.0.unit.unit + "/" + $0.0.name } + accepted.map { $0.candidate.unit.unit + "/" + $0.candidate.name })
            left.withLock { memo in
                for outcome in batch where !staying.contains(outcome.candidate.unit.unit + "/" + outcome.candidate.name) {
                    memo.forget(unit: outcome.candidate.unit.unit, name: outcome.candidate.name)
                }
            }
        }
        guard let (first, why, _) = later.first else { return }
        var firstWait: Double?
        for (candidate, _, identity) in later {
            let wait = leave(candidate, identity: identity)
            if firstWait == nil { firstWait = wait }
        }
        logger.error("file left in the outbox, tried again after a wait", metadata: ["unit": "\(first.unit.unit)", "file": "\(first.name)", "reason": "\(why)",
                                                                                    "files": "\(later.count)", "wait": "\(String(format: "%.1f", firstWait ?? 0))s"])
    }

    /// The accepted report of queued message `messageRowId` for this file, as first accepted
    /// (the queue's time, recipients and expiry), signed and staged, and listed until it is
    /// on disk like every accepted report; nil when there is no such message.
    private func stageQueuedAcceptance(_ candidate: Candidate, messageRowId: Int64) throws -> StagedFile? {
        guard let source = try store.trackAcceptedReport(messageRowId: messageRowId, sourceFile: candidate.name) else { return nil }
        return try candidate.unit.reports.stage(try reports.signedAccepted(source), in: candidate.unit.staging)
    }

    /// Writes NAME.error.json into rejected/ and moves the file beside it, never replacing
    /// an earlier refused file of the same name (a numbered name is used instead).
    private func reject(_ c: Candidate, _ refusal: Refusal, identity: FileIdentity?) throws -> String {
        let rejected = c.unit.rejected
        var n = 1
        while true {
            let (target, errorName) = Self.rejectedNames(c.name, n)
            var st = stat()
            // Neither the file's name nor its error file's may be in use (a refused file
            // named like another's error file is never replaced).
            let taken = fstatat(rejected.fd, target, &st, AT_SYMLINK_NOFOLLOW) == 0 || fstatat(rejected.fd, errorName, &st, AT_SYMLINK_NOFOLLOW) == 0
            let document = refusal.document(file: c.name, unit: c.unit.unit, refusedAt: Date().millis)
            // Written unnamed (O_TMPFILE) and then named, never over a file that came meanwhile:
            // no temporary name in a folder the unit can write, for it to make first and own.
            if !taken, try rejected.stage(Array(document.prettyString().utf8) + [0x0A]).publishIfFree(as: errorName) {
                let used: String?
                do {
                    used = try c.unit.outbox.moveAside(c.name, to: rejected, as: target, ifStill: identity)
                } catch {
                    // No error file without its file (it vanished, or stays in the outbox).
                    unlinkat(rejected.fd, errorName, 0)
                    throw error
                }
                if used != nil { return target }
                // The name was taken meanwhile: no error file without its file; the next one.
                unlinkat(rejected.fd, errorName, 0)
            }
            n += 1
        }
    }

    /// The `n`th choice of names in rejected/ for the refused file `name` and its error
    /// file: NAME.json and NAME.error.json, then NAME.2.json and NAME.2.error.json… The
    /// unit's name can have the full 255 bytes a name may have; the error file's suffix
    /// is longer, so the stem gives way (the file would otherwise never be moved, and be
    /// read again at every rescan).
    /// A file whose name is not UTF-8 (it can be neither read by name nor named in a report
    /// or error file): moved to rejected/ under a readable name (each byte that is not
    /// UTF-8 an underscore), with an error file that says why. On the watcher's thread,
    /// at a rescan (such files are rare).
    public func refuseUndecodable(unit: SpoolUnit, raw: [UInt8]) {
        // Each byte that is not UTF-8, each noncharacter and each combining mark past thirty
        // in a row an underscore: the name must read back from the error file.
        let decoded = String(String(decoding: raw, as: UTF8.self).unicodeScalars.map { $0 == "\u{FFFD}" ? "_" : Character($0) })
        let readable = JSONParser.interoperable(decoded, replacing: "_")
        let hex = raw.prefix(64).map { String(format: "%02x", $0) }.joined(separator: " ")
        do {
            for n in 1...1_000 {
                let (target, errorName) = Self.rejectedNames(readable, n)
                var st = stat()
                if fstatat(unit.rejected.fd, target, &st, AT_SYMLINK_NOFOLLOW) == 0 || fstatat(unit.rejected.fd, errorName, &st, AT_SYMLINK_NOFOLLOW) == 0 { continue }
                // Named after the name the file is given here.
                let refusal = Refusal(.file, "the file's name is not valid UTF-8, or holds a Unicode noncharacter or more than 30 combining marks in a row (its bytes: \(hex)\(raw.count > 64 ? " …" : "")), so it can be neither read nor reported on by name: it was moved here as \"\(target)\"; name files in UTF-8 without noncharacters or long runs of combining marks and drop it again")
                let document = refusal.document(file: target, unit: unit.unit, refusedAt: Date().millis)
                guard try unit.rejected.stage(Array(document.prettyString().utf8) + [0x0A]).publishIfFree(as: errorName) else { continue }
                do {
                    guard try unit.outbox.moveUndecodable(raw, to: unit.rejected, as: target) else {
                        unlinkat(unit.rejected.fd, errorName, 0)
                        continue
                    }
                } catch {
                    unlinkat(unit.rejected.fd, errorName, 0)
                    throw error
                }
                logger.notice("refused", metadata: ["unit": "\(unit.unit)", "file": "\(target)", "reason": "file: the name is not UTF-8"])
                stats.withLock { $0.refused += 1 }
                do {
                    try store.audit([AuditEvent("refused", actor: "gatewayd", sender: unit.unit,
                                                details: ["file": .string(readable), "rejectedAs": .string(target), "stage": "file", "where": ""])])
                } catch {
                    logger.error("the refusal of a file whose name is not UTF-8 is not in the audit log", metadata: ["unit": "\(unit.unit)", "error": "\(error)"])
                }
                return
            }
        } catch let error as SafeFileError where error.reason == .vanished {
            return
        } catch {
            logger.error("cannot move a file whose name is not UTF-8 to rejected/; tried again at the next rescan", metadata: ["unit": "\(unit.unit)", "error": "\(error)"])
        }
    }

    static func rejectedNames(_ name: String, _ n: Int) -> (file: String, error: String) {
        let json = name.hasSuffix(".json")
        var stem = json ? String(name.dropLast(5)) : name
        let tag = n == 1 ? "" : ".\(n)"
        while !stem.isEmpty && stem.utf8.count + tag.utf8.count + ".error.json".utf8.count > 255 { stem.removeLast() }
        let file = n == 1 ? name : stem + tag + (json ? ".json" : "")
        return (file, stem + tag + ".error.json")
    }
}
