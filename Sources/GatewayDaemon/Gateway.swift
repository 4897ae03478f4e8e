// NAME
//   Gateway: the daemon's parts put together and run until told to stop.
//
// DESCRIPTION
//   start: take the queue's owner lock, open the queue, return interrupted deliveries to
//   the queue, write reports still owed, start pickup (workers, committer, watcher, an
//   initial scan), start delivery, start housekeeping (expiry, retention, audit
//   checkpoints, backpressure, certificate expiry warnings).
//   stop: stop pickup (what is in flight commits or stays in the outbox), stop delivery
//   (in-flight attempts finish or go back to the queue), checkpoint the audit log.
//   reload: a new configuration replaces routes, ceilings, lifetimes and endpoints;
//   a configuration with errors is refused and the running one kept.

import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel
import GatewaySchema
import GatewayStore
import Logging

/// What the daemon needs built from a configuration: the validator and the signers.
public struct GatewayServices: Sendable {
    public var validator: any MessageValidating
    public var signer: any GatewaySigning
    public var auditSigner: any AuditSigner
    public var delivery: (@Sendable (GatewayConfig, QueueStore, ReportWriter, Logger) throws -> any DeliveryService)?
    /// The key material these services were made from, by configuration setting ("signing",
    /// "tls"): a digest of its files' content. A reload reads the files again but applies
    /// none of them; a digest that differs from the running one is said in its warning.
    public var keyFiles: [String: String]
    /// Whether the signing certificate may sign now (the signer asks it before each
    /// signature); the daemon pauses pickup while it may not. nil: always.
    public var signingGate: SigningGate?
    /// Why a start with these files would be refused (made for a reload, which applies none
    /// of the signing identity and says so instead of refusing).
    public var restartProblems: [String]

    public init(validator: any MessageValidating, signer: any GatewaySigning, auditSigner: any AuditSigner,
                delivery: (@Sendable (GatewayConfig, QueueStore, ReportWriter, Logger) throws -> any DeliveryService)? = nil,
                keyFiles: [String: String] = [:], signingGate: SigningGate? = nil, restartProblems: [String] = []) {
        self.restartProblems = restartProblems
        self.validator = validator
        self.signer = signer
        self.auditSigner = auditSigner
        self.delivery = delivery
        self.keyFiles = keyFiles
        self.signingGate = signingGate
    }
}

/// What became of a configuration handed to the delivery engine.
public enum ConfigUpdate: Sendable, Equatable {
    case applied
    /// Not within the wait (the engine busy, or a stop coming): applied when it gets to it.
    case pending
    /// The engine could not take it (a file changed since the reload checked it): it keeps
    /// the configuration it had.
    case refused
}

extension DeliveryService {
    /// Whether the configuration was applied (`reconfigure`).
    @discardableResult
    public func update(config: GatewayConfig, receiptSchema: Schema?) -> Bool {
        reconfigure(config: config, receiptSchema: receiptSchema) == .applied
    }
}

/// The delivery side as the daemon sees it (GatewayDaemon/Delivery).
public protocol DeliveryService: AnyObject, Sendable {
    func start()
    /// Stops sending; in-flight attempts finish or return to the queue.
    func stop()
    /// New deliveries were committed for these endpoints: look now rather than at the next tick.
    func wake(endpoints: Set<String>)
    /// The reloaded configuration, and receipt.schema.json as the reload read it (nil: keep).
    /// Says whether it is applied, not yet (applied later), or refused (the old one stays).
    func reconfigure(config: GatewayConfig, receiptSchema: Schema?) -> ConfigUpdate
    /// A stop is coming: an `update` waiting for the engine returns now (false); the engine
    /// still applies the configuration when it can.
    func stopWaitingForUpdates()
}

public final class Gateway: @unchecked Sendable {
    // Set up in init/start; changed only under `lock` afterwards.
    public private(set) var config: GatewayConfig
    /// Makes the services for a configuration; the schemas already loaded (for the
    /// configuration's check) come along, nil when they could not be loaded.
    let makeServices: @Sendable (GatewayConfig, SchemaMessageValidator?) throws -> GatewayServices
    let logger: Logger
    let lock = NSLock()
    private var ownerLock: QueueOwnerLock?
    private var checkpointer: WALCheckpointer?
    public private(set) var store: QueueStore!
    private var spool: Spool!
    private var reports: ReportWriter!
    public private(set) var pipeline: PickupPipeline!
    public private(set) var watcher: SpoolWatcher!
    private var delivery: (any DeliveryService)?
    private var services: GatewayServices
    /// The running signing certificate's gate (services.signingGate, kept apart: a reload
    /// replaces parts of `services` under the lock, the housekeeping reads this without it).
    private let signingGate: SigningGate?
    /// services.auditSigner, kept apart for the same reason.
    private let auditSigner: any AuditSigner
    private var housekeeping: DispatchSourceTimer?
    private let housekeepingQueue = DispatchQueue(label: "housekeeping")
    /// The reports' file system sync, on a timer and queue of its own (ReportWriter.sync).
    private var reportSync: DispatchSourceTimer?
    private let reportSyncQueue = DispatchQueue(label: "report-sync")
    /// How often written reports are synced to disk and confirmed in the queue. A sync
    /// (syncfs) makes the commits that meet it wait for the device: once a second it
    /// gathered a second's reports, 10–40 ms of writeback at 500 messages/s, and every
    /// commit in that window waited for it (the end-to-end p99). Four times a second the
    /// windows are a quarter as long; a report reaches the disk sooner too.
    static let reportSyncInterval = 0.25
    private let stopSignal = DispatchSemaphore(value: 0)
    /// A reload and the shutdown do not overlap: the shutdown waits for a reload under way
    /// (which stops waiting for the delivery engine once a stop is requested), and a reload
    /// that comes after the stop request is not applied.
    private let reloadOrStop = NSLock()
    private let stopRequested = Locked(false)
    private var lastCheckpoint = Date.distantPast
    private var lastCertificateCheck = Date.distantPast
    private var lastFolderCheck = Date()
    /// When gatewayd's own holds were last looked at (monotonic seconds).
    private var lastHoldCheck = -Double.infinity
    /// When accepted reports that could not be written were last tried again (monotonic seconds).
    private var lastLeftoverRetry = -Double.infinity
    /// Where the housekeeping's expiry look starts (housekeeping queue only).
    private var expiry = ExpiryWatermark()
    private var reportedFolderProblems = Set<String>()
    /// Housekeeping steps failing now: since when, the error, when it was last logged.
    private var stepFailures: [String: (since: Date, error: String, logged: Date)] = [:]
    /// Why the signing certificate could not sign at the last look (housekeeping queue only).
    private var lastSigningProblem: String?
    /// The backpressure check's last count (housekeeping queue only).
    private var lastPendingCount: QueueStore.PendingCount?

    /// - Parameters:
    ///   - services: the services for `config` when the caller has made them already;
    ///     `makeServices` makes them otherwise, and again at each reload.
    public init(config: GatewayConfig, logger: Logger, services: GatewayServices? = nil,
                makeServices: @escaping @Sendable (GatewayConfig, SchemaMessageValidator?) throws -> GatewayServices) throws {
        self.config = config
        self.logger = logger
        self.makeServices = makeServices
        let made = try services ?? makeServices(config, nil)
        self.services = made
        signingGate = made.signingGate
        auditSigner = made.auditSigner
    }

    /// What the file systems under the spool and the queue's folder (its database, WAL and
    /// lock files) would not keep (FileSystemCheck); said at start and by `config check`.
    public static func fileSystemWarnings(_ config: GatewayConfig) -> [String] {
        FileSystemCheck.warnings(for: [config.spool.directory, URL(fileURLWithPath: config.queue.path).deletingLastPathComponent().path])
    }

    /// Starts every part. Throws (and starts nothing further) when a part cannot start.
    public func start() throws {
        Self.raiseOpenFileLimit()
        ownerLock = try QueueOwnerLock(queuePath: config.queue.path)
        store = try QueueStore(path: config.queue.path, checkpointsInBackground: true)
        if !store.permissionsClosed.isEmpty {
            logger.notice("queue files were open to other users; closed to them (mode o-rwx)", metadata: ["files": "\(store.permissionsClosed.joined(separator: ", "))"])
        }
        checkpointer = try store.startCheckpointer()
        let recovered = try store.recoverInterrupted()
        if recovered > 0 { logger.notice("deliveries interrupted by the last stop returned to the queue", metadata: ["count": "\(recovered)"]) }
        try store.audit([AuditEvent("started", actor: "gatewayd", details: ["pid": .number(Double(getpid())), "config": .string(config.file)])])
        // Until pickup runs (recovery and the reconcile come first): what a previous run left
        // there is not shown as this one's.
        writePickupState("starting")
        spool = try Spool(root: config.spool.directory, units: config.units)
        for (unit, problem) in spool.unusableUnits.sorted(by: { $0.key < $1.key }) {
            logger.error("a unit's spool folders cannot be used: its files are not picked up and its reports wait until they are fixed and gatewayd restarted",
                         metadata: ["unit": "\(unit)", "problem": "\(problem)"])
        }
        for warning in Self.fileSystemWarnings(config) {
            logger.warning("file system", metadata: ["detail": "\(warning)"])
        }
        if let problem = spool.stagingProblem {
            logger.warning("reports are staged in each unit's reports/ folder", metadata: ["reason": "\(problem)"])
        }
        for unit in spool.units.values {
            unit.reports.removeStaleStaging()
            unit.rejected.removeStaleStaging(errorFilesOnly: true)
            // Files a stop caught leaving the outbox: removed when queued, else put back.
            let store = self.store!
            let (removed, restored, stuck) = unit.outbox.restoreHiddenRemovals(maxBytes: config.spool.maxFileSize) { bytes in
                guard let message = try? JSON.parse(bytes), let id = message["messageId"]?.stringValue,
                      let canonical = try? message.canonicalBytes(),
                      let queued = try? store.queuedMessage(sender: unit.unit, messageId: id) else { return false }
                return queued.digest == SHA256.hex(canonical)
            }
            if removed + restored > 0 {
                logger.notice("files a stop caught leaving the outbox: queued ones removed, others put back", metadata: [
                    "unit": "\(unit.unit)", "removed": "\(removed)", "putBack": "\(restored)"])
            }
            for (hidden, why) in stuck {
                logger.error("a file a stop caught leaving the outbox could not be put back; it stays hidden (tried again at the next start)",
                             metadata: ["unit": "\(unit.unit)", "hiddenAs": "\(hidden)", "error": "\(why)"])
            }
        }
        reports = ReportWriter(store: store, spool: spool, signer: services.signer, gatewayId: config.gatewayId, logger: logger)
        let rewritten = try reports.recover()
        if rewritten > 0 { logger.notice("accepted reports not yet on disk at the last stop written again", metadata: ["count": "\(rewritten)"]) }
        reports.flush()
        reports.sync()
        // The configuration may have changed while the daemon was stopped.
        reconcileQueue(with: config)
        if let make = services.delivery {
            delivery = try make(config, store, reports, logger)
        }
        let processor = PickupProcessor(config: config, validator: services.validator, signer: services.signer)
        pipeline = PickupPipeline(store: store, reports: reports, processor: processor, config: config, logger: logger) { [weak self] endpoints in
            self?.delivery?.wake(endpoints: endpoints)
        }
        pickupStartedAt = Date().millis
        pipeline.start()
        let pipeline = self.pipeline!
        watcher = try SpoolWatcher(spool: spool, rescanInterval: config.spool.rescanInterval, undecodable: { unit, raw in
            pipeline.refuseUndecodable(unit: unit, raw: raw)
        }, listed: { unit, names in
            pipeline.forgetLeftFiles(of: unit, except: names)
        }) { unit, name, viaRescan in
            pipeline.announce(unit: unit, name: name, arrived: !viaRescan)
        }
        watcher.start()
        watcher.rescan(initial: true)
        delivery?.start()
        startHousekeeping()
        logger.notice("gatewayd started", metadata: [
            "gateway": "\(config.gatewayId)", "units": "\(config.units.count)", "endpoints": "\(config.endpoints.count)",
            "queue": "\(config.queue.path)", "spool": "\(config.spool.directory)", "pid": "\(getpid())",
        ])
    }

    /// Pickup keeps a staged report open per file in flight: allow what the hard limit allows.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = min(limit.rlim_max, 1 << 16)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// Blocks until `requestStop`, then stops cleanly.
    public func runUntilStopped() {
        stopSignal.wait()
        shutdown()
    }

    public func requestStop() {
        stopRequested.withLock { $0 = true }
        delivery?.stopWaitingForUpdates()
        stopSignal.signal()
    }

    private func shutdown() {
        reloadOrStop.lock()
        defer { reloadOrStop.unlock() }
        logger.notice("stopping: pickup first, then delivery")
        housekeeping?.cancel()
        housekeepingQueue.sync {}   // a housekeeping pass under way ends first
        reportSync?.cancel()
        reportSyncQueue.sync {}
        watcher?.stop()
        pipeline?.stop()
        // (gatewayctl tells a stopped daemon by its lock in any case.)
        if store != nil { writePickupState("stopped") }
        delivery?.stop()
        reports?.flush(wait: true)
        reports?.sync()
        do {
            try store?.audit([AuditEvent("stopped", actor: "gatewayd")])
            try checkpointAudit()
        } catch {
            logger.error("cannot checkpoint the audit log at stop", metadata: ["error": "\(error)"])
        }
        checkpointer?.stop()
        ownerLock = nil
        logger.notice("gatewayd stopped")
    }

    /// Re-reads the configuration file. Errors keep the running configuration.
    public func reload() {
        reloadOrStop.lock()
        defer { reloadOrStop.unlock() }
        if stopRequested.withLock({ $0 }) {
            logger.notice("stopping: the reload is not applied")
            return
        }
        do {
            // The schemas are read once, for the configuration's check and the new services.
            let schemas = try? SchemaServices.validator()   // nil: makeServices says why
            let next = try GatewayConfiguration.load(path: config.file, validator: schemas)
            let nextServices = try makeServices(next, schemas)
            // Everything the delivery engine will need, checked before anything changes
            // (an unreadable receipt anchor file would leave it on the old endpoints).
            let receiptSchema = try ReceiptCheck.loadSchema(from: schemas)
            for endpoint in next.endpoints.values {
                _ = try ReceiptCheck(anchorsPath: endpoint.receiptTrustAnchors, crlPath: endpoint.crl, signer: endpoint.receiptSigner, schema: receiptSchema)
            }
            // The running signing certificate against the signing.trustAnchors and signing.crl
            // the new configuration names (a CRL that revokes it, say): applied, so that
            // gatewayd stops signing with a certificate it now knows it may not use.
            let signingCheck = try signingGate?.evaluate(anchorsPath: next.signing.trustAnchors, crlPath: next.signing.crl)
            var needRestart = config.restartOnlyChanges(in: next)
            // Key files rewritten in place (a renewed certificate, a rotated key under the same
            // names): read and checked by the reload, applied only by a restart.
            for (setting, digest) in nextServices.keyFiles.sorted(by: { $0.key < $1.key })
            where !needRestart.contains(setting) && services.keyFiles[setting].map({ $0 != digest }) == true {
                needRestart.append("\(setting) (its files changed on disk)")
            }
            if !needRestart.isEmpty {
                logger.warning("changed settings that a reload does not apply; the running ones are kept until a restart",
                               metadata: ["keys": "\(needRestart.joined(separator: ","))"])
            }
            for problem in nextServices.restartProblems {
                // Said now, not found by the restart.
                logger.error("a restart with the files on disk would refuse to start", metadata: ["problem": "\(problem)"])
            }
            lock.lock()
            let previous = (config: config, validator: services.validator)
            config.routes = next.routes
            config.endpoints = next.endpoints
            config.queue.maxLifetime = next.queue.maxLifetime
            config.queue.retention = next.queue.retention
            config.queue.maxPending = next.queue.maxPending
            config.queue.minFreeDisk = next.queue.minFreeDisk
            config.queue.minFreeInodes = next.queue.minFreeInodes
            config.retry = next.retry
            // Applied to the running certificate's check (above), and read by the daily
            // certificate warnings.
            config.signing.trustAnchors = next.signing.trustAnchors
            config.signing.crl = next.signing.crl
            services.validator = nextServices.validator
            let current = config
            lock.unlock()
            pipeline.update(processor: PickupProcessor(config: current, validator: nextServices.validator, signer: services.signer))
            // The delivery engine first (it returns once applied): an attempt that ends from
            // then on is recorded under the new configuration (held if its route is gone);
            // one that ended before is waiting already, and the reconcile below moves or holds
            // it with the rest. (A delivery the engine claims meanwhile on a route that has
            // moved is held by it, and released onto the new route by the reconcile.)
            let update = delivery?.reconfigure(config: current, receiptSchema: receiptSchema) ?? .applied
            if update == .refused {
                // A file changed since the check above: the engine keeps its endpoints, so the
                // rest goes back to the configuration it has (never half of each).
                lock.withLock {
                    config = previous.config
                    services.validator = previous.validator
                }
                pipeline.update(processor: PickupProcessor(config: previous.config, validator: previous.validator, signer: services.signer))
                logger.error("configuration reload refused by the delivery engine (see its error above); the running configuration stays")
                return
            }
            if let signingCheck {
                signingGate?.adopt(signingCheck)
                if let why = signingCheck.undecided {
                    logger.warning("the running signing certificate cannot be checked against the new signing.trustAnchors and signing.crl; its last verdict stands",
                                   metadata: ["error": "\(why)"])
                }
            }
            // Not applied yet: the reconcile is done again by the housekeeping until it is
            // done after the engine took the configuration (an attempt recorded in between
            // under the old one is waiting then).
            reconcileQueue(with: current, final: update == .applied)
            logger.notice("configuration reloaded", metadata: ["endpoints": "\(current.endpoints.count)", "routes": "\(current.routes.count)"])
            do {
                try store.audit([AuditEvent("config-reloaded", actor: "gatewayd", details: [
                    "endpoints": .array(current.endpoints.keys.sorted().map(JSON.string)),
                    "routes": .number(Double(current.routes.count)),
                ])])
            } catch {
                // The new configuration is in use; only its audit record is missing.
                logger.error("configuration reloaded, but its audit record could not be written", metadata: ["error": "\(error)"])
            }
        } catch {
            logger.error("configuration reload refused; the running configuration stays", metadata: ["error": "\(error)"])
        }
    }

    /// Applies a new configuration's routes and ceilings to the deliveries still waiting
    /// (queued or deferred): one whose recipient now routes to another endpoint moves there
    /// (if its classification fits that endpoint's ceiling); one whose endpoint is gone
    /// without a route, or whose classification is now above the ceiling, is held with the
    /// reason, for an operator to cancel (or release once the configuration allows it).
    /// Nothing waiting is sent against the configuration in force.
    /// Read only when the routes or ceilings differ from those the waiting deliveries were
    /// last checked against (kept in the queue): a start or a reload that changes neither
    /// does not read a million waiting deliveries.
    /// A reconcile that fails (the queue busy, the disk full) is tried again by the
    /// housekeeping every ten seconds until it has been done.
    /// `final` false: the routing fingerprint is not kept, so that the housekeeping does it again.
    private func reconcileQueue(with config: GatewayConfig, final: Bool = true) {
        // The routes in force, for gatewayctl (an operator's release or requeue puts
        // deliveries back on them, not on a file gatewayd has not applied): kept first,
        // whatever the reconcile below does, since gatewayd sends on them from now on.
        do {
            let routes = try Self.appliedRoutes(config)
            if try store.setting(Self.appliedRoutesSetting) != routes { try store.setSetting(Self.appliedRoutesSetting, routes) }
        } catch {
            logger.error("cannot keep the routes in force in the queue (gatewayctl may put deliveries back on older ones)", metadata: ["error": "\(error)"])
        }
        let fingerprint = Self.routingFingerprint(config)
        if (try? store.setting("routing")) == fingerprint { return }
        do {
            for group in try store.pendingRoutes() {
                let classification = Classification(rawValue: group.classification) ?? .secret   // unknown: the strictest
                let action: (reroute: String?, reason: String)
                if let name = config.routes[group.recipient], let endpoint = config.endpoints[name] {
                    if classification > endpoint.classificationCeiling {
                        action = (nil, "\(group.classification) is above the ceiling of endpoint \(name) (\(endpoint.classificationCeiling.rawValue))")
                    } else if name != group.endpoint {
                        action = (name, "route to \(group.recipient) changed: endpoint \(group.endpoint) → \(name)")
                    } else {
                        continue
                    }
                } else {
                    action = (nil, "no route to \(group.recipient) in the configuration")
                }
                // In chunks (one transaction and a bounded list each): each chunk leaves the
                // group (moved or held), so the next read gets the next ones.
                var changed = 0
                while true {
                    // A stop requested meanwhile ends it here (the fingerprint unkept: the next
                    // start does the rest).
                    if stopRequested.withLock({ $0 }) {
                        logger.notice("stopping: the check of waiting deliveries against the configuration is finished at the next start")
                        return
                    }
                    let ids = try store.pendingIds(group, limit: 5_000)
                    if ids.isEmpty { break }
                    if let target = action.reroute {
                        let moved = try store.reroute(ids.map { ($0, target) }, actor: "gatewayd", reason: action.reason)
                        changed += moved
                        if moved == 0 { break }
                    } else {
                        var filter = DeliveryFilter()
                        filter.deliveryIds = ids
                        let result = try store.apply(.hold, filter: filter, actor: "gatewayd", reason: QueueStore.gatewayHoldPrefix + action.reason)
                        changed += result.changed
                        if result.changed == 0 { break }
                    }
                }
                if action.reroute != nil {
                    logger.notice("waiting deliveries rerouted", metadata: ["count": "\(changed)", "reason": "\(action.reason)"])
                } else {
                    logger.warning("waiting deliveries held: the configuration does not allow them", metadata: ["count": "\(changed)", "reason": "\(action.reason)"])
                }
            }
            try releaseGatewayHolds(config)
            if final { try store.setSetting("routing", fingerprint) }
        } catch {
            logger.error("cannot check waiting deliveries against the new configuration", metadata: ["error": "\(error)"])
        }
    }

    /// What gatewayd itself held (a route gone, a ceiling lowered) and the configuration
    /// allows now goes back to the queue, on the route in force; an operator's holds stay.
    /// At each reload and start, and every ten seconds (the delivery engine may hold a
    /// delivery again under the configuration it still had while this ran).
    private func releaseGatewayHolds(_ config: GatewayConfig) throws {
        for group in try store.gatewayHeldRoutes() {
            let classification = Classification(rawValue: group.classification) ?? .secret
            guard let name = config.routes[group.recipient], let endpoint = config.endpoints[name],
                  classification <= endpoint.classificationCeiling else { continue }
            var released = 0
            var after: Int64 = 0
            while true {
                let ids = try store.gatewayHeldIds(group, after: after, limit: 5_000)
                guard let last = ids.last else { break }
                after = last
                var filter = DeliveryFilter()
                filter.deliveryIds = ids
                filter.reasonPrefix = QueueStore.gatewayHoldPrefix   // still gatewayd's hold when released
                released += try store.apply(.release, filter: filter, actor: "gatewayd", reason: "the configuration allows it again", routes: config.routes).changed
            }
            if released > 0 {
                logger.notice("held deliveries released: the configuration allows them again", metadata: ["count": "\(released)", "recipient": "\(group.recipient)", "endpoint": "\(name)"])
                delivery?.wake(endpoints: [name])
            }
        }
    }

    /// The report owed for a delivery the housekeeping expired (schemas/report.schema.json:
    /// the unit's file always named, the gateway and endpoint said, as the engine's reports).
    static func expiredReport(_ e: ExpiredDelivery, gatewayId: String, now: Millis) -> String? {
        let body: JSON = ["kind": "expired", "messageId": .string(e.messageId), "sender": .string(e.sender),
                          "recipient": .string(e.recipient), "endpoint": .string(e.endpoint), "gateway": .string(gatewayId),
                          "file": .string(e.sourceFile ?? "\(e.messageId).json"),
                          "at": .string(RFC3339.format(millis: now)), "expiresAt": .string(RFC3339.format(millis: e.expiresAt)),
                          "reason": "not delivered before it expired"]
        return try? body.canonicalString()
    }

    /// Each signed checkpoint goes to the log too: kept off the machine, it is the anchor
    /// that shows a chain cut back or rewritten with its checkpoints (`gatewayctl audit
    /// verify --anchor SEQ:HASH`), which nothing inside the queue can.
    private func checkpointAudit() throws {
        guard let anchor = try store?.checkpointAudit(signer: auditSigner) else { return }
        logger.notice("audit checkpoint signed", metadata: ["anchor": "\(anchor.seq):\(anchor.hash)"])
    }

    // MARK: housekeeping

    private func startHousekeeping() {
        let timer = DispatchSource.makeTimerSource(queue: housekeepingQueue)
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.resume()
        housekeeping = timer
        let sync = DispatchSource.makeTimerSource(queue: reportSyncQueue)
        sync.schedule(deadline: .now() + Self.reportSyncInterval, repeating: Self.reportSyncInterval)
        sync.setEventHandler { [weak self] in self?.reports.sync() }
        sync.resume()
        reportSync = sync
    }

    private func tick() {
        let config = lock.withLock { self.config }
        let now = Date().millis
        let started = DispatchTime.now().uptimeNanoseconds
        defer {
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            if ms >= 50 { logger.debug("slow housekeeping", metadata: ["ms": "\(Int(ms))"]) }
        }
        for problem in checkpointer?.takeProblems() ?? [] {
            logger.warning("queue checkpoint", metadata: ["detail": "\(problem)"])
        }
        // Each step on its own: one that fails (a full disk, a signer problem) must not keep
        // the others, backpressure and the reports above all, from running.
        step("expiry") {
            let gatewayId = config.gatewayId
            // Messages that expired since the last look, and every hour all of them.
            let expired = try expiry.expireDue(in: store, now: now, uptime: DeliveryEngine.uptime()) { e in
                Self.expiredReport(e, gatewayId: gatewayId, now: now)
            }
            if !expired.isEmpty {
                logger.notice("deliveries expired", metadata: ["count": "\(expired.count)"])
                reports.flush()
            }
        }
        step("retention") {
            let cutoff = now - Int64(config.queue.retention * 1000)
            var pruned = 0
            for _ in 0..<10 {
                let n = try store.prune(before: cutoff, batchSize: 200, now: now)
                pruned += n
                if n == 0 { break }
            }
            if pruned > 0 { logger.info("pruned delivered messages past retention", metadata: ["count": "\(pruned)"]) }
        }
        // The signing certificate first: while it may not sign, no checkpoint is tried (the
        // cause is logged once, below), and pickup pauses.
        let signing = signingProblem()
        if signing == nil && Date().timeIntervalSince(lastCheckpoint) >= config.queue.checkpointInterval {
            step("audit checkpoint") {
                try checkpointAudit()
                lastCheckpoint = Date()
            }
        }
        let uptime = DeliveryEngine.uptime()
        if uptime - lastHoldCheck >= 10 {
            lastHoldCheck = uptime
            // A reconcile that failed at a reload or start is done now (a read when it was
            // done). Never beside a reload's (which holds the lock for its whole run), and
            // with the configuration in force now, not the one this tick began with.
            if reloadOrStop.try() {
                defer { reloadOrStop.unlock() }
                let current = lock.withLock { self.config }
                reconcileQueue(with: current)
                step("release holds") { try releaseGatewayHolds(current) }
            }
        }
        if signing == nil && reports.hasLeftovers && uptime - lastLeftoverRetry >= 60 {
            lastLeftoverRetry = uptime
            step("accepted reports") { try reports.retryLeftovers() }
        }
        checkBackpressure(config, signing: signing)
        if Date().timeIntervalSince(lastFolderCheck) >= 5 {
            lastFolderCheck = Date()
            for problem in spool.replacedFolders() where reportedFolderProblems.insert(problem).inserted {
                logger.error("spool folder replaced while running: restart gatewayd to use the new one", metadata: ["detail": "\(problem)"])
            }
        }
        if Date().timeIntervalSince(lastCertificateCheck) >= 86_400 {
            lastCertificateCheck = Date()
            warnAboutCertificates(config)
        }
        reports.flush()
    }

    /// Runs one housekeeping step; a failure is logged when it starts, when its error
    /// changes and then once a minute (not every second), and when the step works again.
    private func step(_ name: String, _ body: () throws -> Void) {
        do {
            try body()
            if let since = stepFailures.removeValue(forKey: name) {
                logger.notice("housekeeping works again", metadata: ["step": "\(name)", "seconds": "\(Int(Date().timeIntervalSince(since.since)))"])
            }
        } catch {
            let text = "\(error)"
            let previous = stepFailures[name]
            if previous == nil || previous!.error != text || Date().timeIntervalSince(previous!.logged) >= 60 {
                logger.error("housekeeping failed", metadata: ["step": "\(name)", "error": "\(text)"])
                stepFailures[name] = (previous?.since ?? Date(), text, Date())
            }
        }
    }

    /// Logs a warning for every configured certificate within `certificates.warnDays` of
    /// its expiry (and an error for an expired one), at start and then daily.
    private func warnAboutCertificates(_ config: GatewayConfig) {
        for (use, days, subject) in CertificateExpiry.check(config) where days < config.certificateWarningDays {
            if days < 0 {
                logger.error("certificate expired", metadata: ["use": "\(use)", "subject": "\(subject)", "days": "\(days)"])
            } else {
                logger.warning("certificate expires soon", metadata: ["use": "\(use)", "subject": "\(subject)", "days": "\(days)"])
            }
        }
    }

    /// Why the signing certificate may not sign now, if it may not: said in the log when it
    /// starts and when it ends. The signing files are read again when they changed on disk.
    private func signingProblem() -> String? {
        guard let gate = signingGate else { return nil }
        switch gate.refreshed() {
        case .success(let revocation)?:
            logger.notice("signing trust anchors and CRL read again", metadata: ["revoked": "\(revocation.problem != nil)"])
            if let why = revocation.undecided {
                logger.warning("the signing certificate cannot be checked against signing.trustAnchors and signing.crl as they are now; its last verdict stands (a restart would refuse to start)",
                               metadata: ["error": "\(why)"])
            }
        case .failure(let error)?:
            logger.error("cannot read the signing trust anchors or CRL again; the ones read before stay in use", metadata: ["error": "\(error)"])
        case nil:
            break
        }
        let problem = gate.problem(at: Date())
        if problem != lastSigningProblem {
            if let problem {
                logger.error("the signing certificate may not sign: pickup paused (files stay in the outboxes), reports and audit checkpoints wait; install a usable signing key and certificate and restart gatewayd",
                             metadata: ["problem": "\(problem)"])
            } else {
                logger.notice("the signing certificate may sign again")
            }
            lastSigningProblem = problem
        }
        return problem
    }

    private func checkBackpressure(_ config: GatewayConfig, signing: String? = nil) {
        if let signing {
            let reason = "signing certificate unusable: \(signing)"
            pipeline.pause(reason: reason)
            publishPickup(kind: "signing", reason: reason)
            return
        }
        var reason = Self.diskAlmostFull(config)
        var kind = reason == nil ? "running" : "disk"
        if reason == nil {
            do {
                let check = try store.pendingReaches(config.queue.maxPending, previous: lastPendingCount)
                lastPendingCount = check.count
                if check.reached {
                    reason = "queue full: \(check.count?.pending ?? 0) pending deliveries (queue.maxPending \(config.queue.maxPending))"
                    kind = "queue"
                }
            } catch {
                // Pickup state stays as it is; the next tick looks again.
                logger.error("cannot count pending deliveries for backpressure", metadata: ["error": "\(error)"])
                return
            }
        }
        if let reason { pipeline.pause(reason: reason) } else { pipeline.resume() }
        publishPickup(kind: kind, reason: reason)
    }

    /// The queue setting in which gatewayd says whether pickup runs, for `gatewayctl queue
    /// stats`: a JSON object (state running, paused or stopped; since; pid; reason).
    public static let pickupStateSetting = "pickup"

    /// When pickup started (set once in start).
    private var pickupStartedAt: Millis = 0
    // Housekeeping queue only: pickup's state as seen (running, or paused for the disk, the
    // queue or signing; the reason; since when it is in that state) and as last written.
    private var pickupSeen: (kind: String, reason: String?, since: Millis)?
    private var pickupWritten: (kind: String, reason: String?, at: Double)?
    private var pickupWriteFailing = false

    /// Writes pickup's state to the queue when it changed: at once for another state, at
    /// most once a minute for a new reason alone (its figures change at every look). One that
    /// cannot be written (the queue's disk full) is tried again at the next tick, with the
    /// time the state began.
    private func publishPickup(kind: String, reason: String?) {
        if pickupSeen?.kind != kind {
            // Running from the start on, until the first pause.
            pickupSeen = (kind, reason, pickupSeen == nil && kind == "running" ? pickupStartedAt : Date().millis)
        } else {
            pickupSeen!.reason = reason
        }
        let seen = pickupSeen!
        let uptime = DeliveryEngine.uptime()
        if let written = pickupWritten, written.kind == seen.kind, written.reason == seen.reason || uptime - written.at < 60 { return }
        do {
            try store.setSetting(Self.pickupStateSetting, Self.pickupState(kind == "running" ? "running" : "paused", since: seen.since, reason: seen.reason))
            pickupWritten = (seen.kind, seen.reason, uptime)
            if pickupWriteFailing {
                pickupWriteFailing = false
                logger.notice("pickup's state written to the queue again")
            }
        } catch {
            if !pickupWriteFailing {
                pickupWriteFailing = true
                logger.warning("cannot write pickup's state to the queue (gatewayctl queue stats shows the last one written); tried again every second",
                               metadata: ["error": "\(error)"])
            }
        }
    }

    /// Pickup's state from now on, with no reason (start and stop); a failure is logged.
    private func writePickupState(_ state: String) {
        do {
            try store.setSetting(Self.pickupStateSetting, Self.pickupState(state, since: Date().millis, reason: nil))
        } catch {
            logger.warning("cannot write pickup's state to the queue", metadata: ["state": "\(state)", "error": "\(error)"])
        }
    }

    static func pickupState(_ state: String, since: Millis, reason: String?) throws -> String {
        var members: [String: JSON] = ["state": .string(state), "since": .string(RFC3339.format(millis: since)), "pid": .number(Double(getpid()))]
        if let reason { members["reason"] = .string(reason) }
        return try JSON.object(members).canonicalString()
    }

    /// The queue setting that holds the routes gatewayd applied last (recipient → endpoint,
    /// a JSON object in JCS).
    public static let appliedRoutesSetting = "applied-routes"

    static func appliedRoutes(_ config: GatewayConfig) throws -> String {
        try JSON.object(config.routes.mapValues { .string($0) }).canonicalString()
    }

    /// The routes gatewayd applied last, as it left them in the queue (nil: it has not run
    /// on this queue since they were kept, or the value is not a recipient → endpoint map).
    public static func appliedRoutes(in store: QueueStore) throws -> [String: String]? {
        guard let text = try store.setting(appliedRoutesSetting), let object = (try? JSON.parse(Array(text.utf8)))?.objectValue else { return nil }
        var routes: [String: String] = [:]
        for (recipient, endpoint) in object {
            guard let name = endpoint.stringValue else { return nil }
            routes[recipient] = name
        }
        return routes
    }

    /// What routing decides on (routes, and endpoints' ceilings), as kept in the queue's
    /// `routing` setting once the waiting deliveries have been checked against it.
    public static func routingFingerprint(_ config: GatewayConfig) -> String {
        let routing = config.routes.sorted { $0.key < $1.key }.map { "route \($0.key) \($0.value)" }
            + config.endpoints.sorted { $0.key < $1.key }.map { "endpoint \($0.key) \($0.value.classificationCeiling.rawValue)" }
        return routing.joined(separator: "\n")
    }

    /// Why pickup must wait for disk space, if it must: the queue's folder or the spool
    /// (where reports are staged and named, and refused files go) has less than
    /// `queue.minFreeDisk` free, or fewer than `queue.minFreeInodes` free file entries
    /// (file systems without a fixed number report none, and are not checked for them).
    /// A folder that cannot be looked at does not pause pickup:
    /// a full disk then shows as write errors, and the files wait in the outboxes anyway.
    static func diskAlmostFull(_ config: GatewayConfig) -> String? {
        let queueDir = URL(fileURLWithPath: config.queue.path).deletingLastPathComponent().path
        for dir in [queueDir, config.spool.directory] {
            var fs = statvfs()
            guard statvfs(dir, &fs) == 0 else { continue }
            let free = Int(fs.f_bavail) * Int(fs.f_frsize)
            if free < config.queue.minFreeDisk {
                return "disk almost full: \(free) bytes free under \(dir) (queue.minFreeDisk \(config.queue.minFreeDisk))"
            }
            if fs.f_files > 0 && Int(fs.f_favail) < config.queue.minFreeInodes {
                return "disk almost out of file entries: \(fs.f_favail) inodes free under \(dir) (queue.minFreeInodes \(config.queue.minFreeInodes))"
            }
        }
        return nil
    }
}

extension NSLock {
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
