import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayModel
@testable import GatewayStore
import GRDB
import GatewayTestSupport
import Logging
import Testing

/// A transport twin: answers each POST with what `respond` returns, after `delay`, on
/// another thread; records what it was sent.
final class ScriptedTransport: DeliveryTransport, @unchecked Sendable {
    let lock = NSLock()
    var sent: [(endpoint: String, messageId: String, priority: String, at: UInt64)] = []
    var inFlight = 0
    var maxInFlight = 0
    let respond: @Sendable (DeliveryRequest) -> (Result<DeliveryResponse, DeliveryFailure>, Double)
    let queue = DispatchQueue(label: "scripted", attributes: .concurrent)

    init(respond: @escaping @Sendable (DeliveryRequest) -> (Result<DeliveryResponse, DeliveryFailure>, Double)) {
        self.respond = respond
    }

    /// No connections to renew: answers come from `respond`.
    func renewConnections() {}

    func post(_ request: DeliveryRequest, completion: @escaping @Sendable (Result<DeliveryResponse, DeliveryFailure>) -> Void) {
        let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
        let priority = request.headers.first { $0.name == "X-Gateway-Priority" }!.value
        lock.withLock {
            sent.append((request.url, id, priority, DispatchTime.now().uptimeNanoseconds))
            inFlight += 1
            maxInFlight = max(maxInFlight, inFlight)
        }
        let (result, delay) = respond(request)
        queue.asyncAfter(deadline: .now() + delay) { [self] in
            lock.withLock { inFlight -= 1 }
            completion(result)
        }
    }

    func shutdown() {}
}

/// Signs receipts as an agency of the dev PKI would.
struct ReceiptFactory: Sendable {
    let signers: [String: JWSSigner]

    init() throws {
        var s: [String: JWSSigner] = [:]
        for (id, name) in GatewayFixture.agencies {
            let key = try PrivateKey.load(path: DevPKIFixture.path("agencies/\(name)/receipt.key"))
            let chain = try Certificate.load(path: DevPKIFixture.path("agencies/\(name)/receipt-chain.pem"))
            s[id] = try JWSSigner(key: key, chain: chain)
        }
        signers = s
    }

    /// A receipt for the JWS in `request` from recipient `agency`.
    func receipt(for request: DeliveryRequest, agency: String, digestOverride: String? = nil,
                 status: String? = "received", reason: String? = nil, receivedAt: Millis = Date().millis) -> [UInt8] {
        let jws = try! JWS.parse(request.body)
        let payload = Base64URL.decode(jws.payloadBase64URL)!
        let message = try! JSON.parse(payload)
        var body: [String: JSON] = ["receiptFor": message["messageId"]!, "digest": .string(digestOverride ?? SHA256.hex(payload)),
                                    "recipient": .string(agency), "receivedAt": .string(RFC3339.format(millis: receivedAt))]
        if let status { body["status"] = .string(status) }
        if let reason { body["reason"] = .string(reason) }
        return try! signers[agency]!.sign(.object(body)).flattenedJSON
    }
}

@Suite("delivery engine with a scripted transport", .serialized)
struct DeliveryEngineTests {
    struct Harness {
        let fixture: GatewayFixture
        let config: GatewayConfig
        let store: QueueStore
        let engine: DeliveryEngine
        let transport: ScriptedTransport
        let signer: JWSGatewaySigner

        init(extra: String = "", edit: (String) -> String = { $0 },
             respond: @escaping @Sendable (DeliveryRequest) -> (Result<DeliveryResponse, DeliveryFailure>, Double)) throws {
            fixture = try GatewayFixture(extra: extra)
            try edit(try String(contentsOfFile: fixture.configPath, encoding: .utf8)).write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
            config = try ConfigLoader.load(path: fixture.configPath)
            store = try QueueStore(path: config.queue.path)
            let keys = try GatewayKeys.load(config)
            signer = keys.messageSigner
            let spool = try Spool(root: config.spool.directory, units: config.units)
            let reports = ReportWriter(store: store, spool: spool, signer: signer, gatewayId: config.gatewayId, logger: Logger(label: "test"))
            transport = ScriptedTransport(respond: respond)
            engine = try DeliveryEngine(config: config, store: store, reports: reports, transport: transport, logger: Logger(label: "test"),
                                        receiptSchema: try ReceiptCheck.loadSchema())
        }

        func enqueue(_ n: Int, prefix: String, priority: Priority = .routine, recipient: String = "EU-EUROPOL", endpoint: String = "europol",
                     lifetime: Millis = 3_600_000) throws {
            var batch: [NewMessage] = []
            for i in 0..<n {
                let id = "\(prefix)-\(String(format: "%06d", i))"
                let message: JSON = ["messageId": .string(id), "sender": "PL-KGP", "recipients": [.string(recipient)]]
                let canonical = try message.canonicalBytes()
                batch.append(NewMessage(sender: "PL-KGP", messageId: id, type: "alert", priority: priority, classification: .restricted,
                                        createdAt: 0, expiresAt: Date().millis + lifetime, contentDigest: SHA256.hex(canonical),
                                        jws: try signer.sign(payload: canonical), sourceFile: "\(id).json",
                                        routes: [Route(recipient: recipient, endpoint: endpoint)]))
                if batch.count == 500 { _ = try store.enqueue(batch); batch.removeAll() }
            }
            _ = try store.enqueue(batch)
            engine.wake(endpoints: [endpoint])
        }

        func count(_ state: DeliveryState) throws -> Int {
            var f = DeliveryFilter()
            f.states = [state]
            return try store.countDeliveries(f)
        }
    }

    static func agency(_ url: String) -> String {
        GatewayFixture.agencies.first { url.contains(":\($0.name)") || url.contains("/\($0.name)/") }?.id ?? "EU-EUROPOL"
    }

    @Test("2xx with a valid receipt is delivered, receipt kept, report written; concurrency limit holds")
    func delivers() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.005)
        }
        try h.enqueue(100, prefix: "ok")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 30) { (try? h.count(.delivered)) == 100 })
        #expect(h.transport.maxInFlight <= 8 + 1, "concurrency 8 (+1 reserved for immediate): saw \(h.transport.maxInFlight)")
        let m = try #require(try h.store.message("ok-000042", sender: "PL-KGP"))
        #expect(m.deliveries[0].receipt != nil)
        #expect(waitUntil(timeout: 10) { h.fixture.files(h.fixture.reports("PL-KGP")).count == 100 })
        #expect(h.fixture.files(h.fixture.reports("PL-KGP")).first == "ok-000000.delivered.EU-EUROPOL.json")
        // The report is signed by the gateway over its canonical (JCS) body, which carries
        // the agency's receipt.
        let file = h.fixture.reports("PL-KGP").appendingPathComponent("ok-000042.delivered.EU-EUROPOL.json")
        let bytes = Array(try Data(contentsOf: file))
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        let verified = try JWSVerifier().verify(bytes, trustStore: trust)
        let body = try verified.payloadJSON()
        #expect(verified.payload == (try body.canonicalBytes()), "the signed body is canonical")
        #expect(body["kind"] == "delivered" && body["messageId"] == "ok-000042" && body["recipient"] == "EU-EUROPOL")
        #expect(body["receipt"]?["signature"]?.stringValue != nil)
        // The receipt is in the queue once, its 2 KB protected header (the agency's chain)
        // once per signing second; the report row points at it.
        let receipt = try #require(m.deliveries[0].receipt)
        #expect(body["receipt"] == (try JSON.parse(receipt.jws)), "the report carries the stored receipt")
        let sizes = try h.store.pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT MAX(LENGTH(rc.jws)) AS stored, COUNT(DISTINCT rc.jws_header) AS headers, COUNT(*) AS receipts FROM receipt rc
                """)!
        }
        let storedBytes: Int = sizes["stored"], headers: Int = sizes["headers"], count: Int = sizes["receipts"]
        #expect(count == 100 && headers >= 1 && headers < count, "\(headers) headers for \(count) receipts: shared within a signing second")
        #expect(storedBytes < receipt.jws.count - 1_000, "stored \(storedBytes) of \(receipt.jws.count) bytes")
    }

    @Test("a receipt in compact serialisation is verified, stored in flattened form, and embedded whole in the unit's report")
    func compactReceipt() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            let flattened = try! JWS.parse(receipts.receipt(for: request, agency: "EU-EUROPOL"))
            return (.success(DeliveryResponse(status: 201, body: Array(flattened.compact.utf8))), 0.001)
        }
        try h.enqueue(3, prefix: "compact")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 30) { (try? h.count(.delivered)) == 3 })
        let m = try #require(try h.store.message("compact-000001", sender: "PL-KGP"))
        let stored = try #require(m.deliveries[0].receipt)
        // Kept as the same signed parts in flattened JSON (the form the queue splits).
        let received = try JWS.parse(stored.jws)
        #expect(stored.jws.first == UInt8(ascii: "{"))
        #expect(stored.jws == received.flattenedJSON)
        let file = h.fixture.reports("PL-KGP").appendingPathComponent("compact-000001.delivered.EU-EUROPOL.json")
        #expect(waitUntil(timeout: 10) { FileManager.default.fileExists(atPath: file.path) })
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        let body = try JWSVerifier().verify(Array(try Data(contentsOf: file)), trustStore: trust).payloadJSON()
        // The embedded receipt is the same JWS, and it verifies to the agency's anchors.
        let embedded = try #require(body["receipt"])
        let original = try JWS.parse(stored.jws)
        #expect(embedded == original.flattenedJSONValue)
        let agencyTrust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/agencies/europol-receipts.pem"))
        let receipt = try JWSVerifier().verify(try embedded.canonicalBytes(), trustStore: agencyTrust).payloadJSON()
        #expect(receipt["receiptFor"] == "compact-000001")
    }

    @Test("an immediate message overtakes a backlog of routine ones with every slot busy")
    func immediateOvertakes() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.05)
        }
        try h.enqueue(2_000, prefix: "routine")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { h.transport.lock.withLock { h.transport.sent.count } >= 50 })
        try h.enqueue(1, prefix: "life", priority: .immediate)
        let sentAtEnqueue = h.transport.lock.withLock { h.transport.sent.count }
        #expect(waitUntil(timeout: 30) { (try? h.store.message("life-000000", sender: "PL-KGP"))??.deliveries.first?.summary.state == .delivered })
        let sent = h.transport.lock.withLock { h.transport.sent }
        let position = try #require(sent.firstIndex { $0.messageId == "life-000000" })
        let routineLeft = try h.count(.queued)
        #expect(routineLeft > 1_000, "the immediate one did not wait for the backlog (\(routineLeft) routine still queued)")
        // At most the transfers already in flight, plus one claim round, went before it.
        #expect(position - sentAtEnqueue < 40, "immediate was sent as number \(position), \(sentAtEnqueue) routine sent when it was queued")
    }

    @Test("transient failures back off (Retry-After honoured), the breaker opens, probes, and closes")
    func breaker() throws {
        let receipts = try ReceiptFactory()
        let failing = Locked(true)
        let h = try Harness(extra: "retry:\n  initialBackoff: 50ms\n  maxBackoff: 200ms\n") { request in
            if failing.withLock({ $0 }) {
                return (.success(DeliveryResponse(status: 503, headers: ["retry-after": "0"])), 0.001)
            }
            return (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.001)
        }
        try h.enqueue(20, prefix: "flaky")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { h.engine.breakerStates()["europol"] == .open })
        let whileOpen = h.transport.lock.withLock { h.transport.sent.count }
        let passesWhileOpen = h.engine.schedulingPasses
        usleep(300_000)
        let afterWait = h.transport.lock.withLock { h.transport.sent.count }
        #expect(afterWait - whileOpen <= 10, "an open breaker lets only probes through (\(afterWait - whileOpen) sent)")
        // Deliveries come due (50 ms backoff) while the breaker is open: that must not keep
        // the scheduler looking (it spun once a millisecond before).
        let passes = h.engine.schedulingPasses - passesWhileOpen
        #expect(passes < 30, "\(passes) scheduling passes in 300 ms with the breaker open")
        #expect(try h.count(.deferred) > 0)
        failing.withLock { $0 = false }
        // openFor is 30 s by default; lower it by reloading a config with 200 ms.
        var config = h.config
        for name in config.endpoints.keys { config.endpoints[name]!.breakerOpenFor = 0.2 }
        h.engine.update(config: config, receiptSchema: nil)
        #expect(waitUntil(timeout: 30) { (try? h.count(.delivered)) == 20 }, "deferred: \((try? h.count(.deferred)) ?? -1), states: \(h.engine.breakerStates())")
        #expect(h.engine.breakerStates()["europol"] == .closed)
        let m = try #require(try h.store.message("flaky-000000", sender: "PL-KGP"))
        #expect(m.deliveries[0].attempts.contains { $0.httpStatus == 503 && $0.outcome == "transient" })
    }

    @Test("a retry due while every regular slot is busy waits for a slot without keeping the scheduler looking")
    func dueRetryWithSlotsBusy() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness(extra: "retry:\n  initialBackoff: 50ms\n  maxBackoff: 200ms\n") { request in
            let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
            if id.hasPrefix("flaky") {
                return (.success(DeliveryResponse(status: 503, headers: ["retry-after": "0"])), 0.001)
            }
            // Slow: keeps the regular slots busy for a while.
            return (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 1.5)
        }
        try h.enqueue(1, prefix: "flaky")
        try h.enqueue(8, prefix: "slow")
        h.engine.start()
        defer { h.engine.stop() }
        // The flaky one failed once and is deferred; eight slow ones fill the eight regular slots.
        #expect(waitUntil(timeout: 10) { (try? h.count(.deferred)) == 1 && h.transport.lock.withLock { h.transport.inFlight } == 8 })
        usleep(150_000)  // the retry is due now (50 ms backoff)
        let before = h.engine.schedulingPasses
        usleep(300_000)
        let passes = h.engine.schedulingPasses - before
        #expect(passes < 30, "\(passes) scheduling passes in 300 ms with every regular slot busy")
        // Once slots free up, everything is delivered (the flaky one keeps failing: deferred again).
        #expect(waitUntil(timeout: 30) { (try? h.count(.delivered)) == 8 })
    }

    @Test("a retry due behind the endpoint's rate limit waits for a token without keeping the scheduler looking")
    func dueRetryBehindRateLimit() throws {
        let h = try Harness(extra: "retry:\n  initialBackoff: 50ms\n  maxBackoff: 50ms\n") { _ in
            (.success(DeliveryResponse(status: 503, headers: ["retry-after": "0"])), 0.001)
        }
        var config = h.config
        config.endpoints["europol"]!.rateLimit = 0.5   // a token every 2 s
        h.engine.update(config: config, receiptSchema: nil)
        try h.enqueue(1, prefix: "limited")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.deferred)) == 1 })
        usleep(150_000)  // due again (50 ms), but no token for about 2 s
        let before = h.engine.schedulingPasses
        usleep(500_000)
        let passes = h.engine.schedulingPasses - before
        #expect(passes < 30, "\(passes) scheduling passes in 500 ms waiting for a token")
        #expect(waitUntil(timeout: 10) { h.transport.lock.withLock { h.transport.sent.count } >= 2 }, "sent again once a token came")
    }

    @Test("an endpoint removed by a reload while its transfers are in flight: their outcomes are still checked and recorded")
    func endpointRemovedInFlight() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            // Answers 4 s after the request: the reload below comes while both are in flight.
            (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 4.0)
        }
        try h.enqueue(2, prefix: "removed")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { h.transport.lock.withLock { h.transport.inFlight } == 2 })
        var config = h.config
        config.endpoints["europol"] = nil
        config.routes["EU-EUROPOL"] = nil
        h.engine.update(config: config, receiptSchema: nil)
        #expect(h.transport.lock.withLock { h.transport.inFlight } == 2, "the reload came while both were in flight")
        #expect(waitUntil(timeout: 30) { (try? h.count(.delivered)) == 2 }, "sending: \((try? h.count(.sending)) ?? -1)")
        let m = try #require(try h.store.message("removed-000000", sender: "PL-KGP"))
        #expect(m.deliveries[0].receipt != nil, "the receipt was checked and kept")
    }

    @Test("nothing is sent against the configuration in force: a ceiling lowered or a route moved after queueing holds the delivery at claim, audited")
    func heldAtClaim() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.001) }
        try h.enqueue(2, prefix: "restricted")                                  // RESTREINT UE/EU RESTRICTED, to europol
        try h.enqueue(1, prefix: "moved", recipient: "EU-OLAF", endpoint: "europol")   // queued for a route that is not (any more) OLAF's
        var config = h.config
        config.endpoints["europol"]!.classificationCeiling = .unclassified
        h.engine.update(config: config, receiptSchema: nil)
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.held)) == 3 })
        #expect(h.transport.lock.withLock { h.transport.sent.isEmpty }, "nothing sent")
        let m = try #require(try h.store.message("restricted-000000", sender: "PL-KGP"))
        #expect(m.deliveries[0].summary.state == .held)
        let held = try h.store.auditTail(limit: 20).filter { $0.event == "held" }
        #expect(held.count == 3 && held.contains { $0.details.contains("above the ceiling") } && held.contains { $0.details.contains("no longer routed") }, "\(held)")
    }

    @Test("an attempt in flight when a reload removes its endpoint, and failing, is held for gatewayd to move, not deferred on the endpoint gone")
    func inFlightOnRemovedEndpoint() throws {
        let h = try Harness { _ in (.success(DeliveryResponse(status: 503)), 4.0) }
        try h.enqueue(1, prefix: "orphan")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { h.transport.lock.withLock { h.transport.inFlight } == 1 })
        var moved = h.config
        moved.endpoints["europol"] = nil
        moved.routes["EU-EUROPOL"] = "frontex"
        h.engine.update(config: moved, receiptSchema: nil)
        #expect(h.transport.lock.withLock { h.transport.inFlight } == 1, "the reload came while it was in flight")
        #expect(waitUntil(timeout: 30) { (try? h.count(.held)) == 1 }, "deferred: \((try? h.count(.deferred)) ?? -1)")
        let held = try #require(try h.store.message("orphan-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(held.summary.reason?.hasPrefix(QueueStore.gatewayHoldPrefix) == true && held.summary.reason?.contains("HTTP 503") == true,
                "\(String(describing: held.summary.reason))")
        #expect(held.attempts.count == 1 && held.attempts.first?.httpStatus == 503)
    }

    @Test("a configuration the engine cannot take (a receipt anchor file gone) is refused and said so; the engine keeps delivering on the one it had")
    func refusedConfiguration() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.001) }
        h.engine.start()
        defer { h.engine.stop() }
        var broken = h.config
        broken.endpoints["europol"]?.receiptTrustAnchors = h.fixture.root.appendingPathComponent("gone.pem").path
        #expect(h.engine.reconfigure(config: broken, receiptSchema: nil) == .refused)
        #expect(h.engine.reconfigure(config: h.config, receiptSchema: nil) == .applied)
        #expect(h.engine.reconfigure(config: broken, receiptSchema: nil) == .refused)
        try h.enqueue(2, prefix: "kept")
        #expect(waitUntil(timeout: 15) { (try? h.count(.delivered)) == 2 }, "on the configuration it had")
    }

    @Test("an endpoint removed and added back while its transfers are in flight is scheduled again")
    func endpointRemovedAndRestored() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 4.0) }
        try h.enqueue(1, prefix: "first")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { h.transport.lock.withLock { h.transport.inFlight } == 1 })
        var removed = h.config
        removed.endpoints["europol"] = nil
        removed.routes["EU-EUROPOL"] = nil
        h.engine.update(config: removed, receiptSchema: nil)
        usleep(200_000)
        h.engine.update(config: h.config, receiptSchema: nil)
        #expect(h.transport.lock.withLock { h.transport.inFlight } == 1, "both reloads came while the first was in flight")
        try h.enqueue(1, prefix: "second")
        h.engine.wake(endpoints: ["europol"])
        #expect(waitUntil(timeout: 30) { (try? h.count(.delivered)) == 2 }, "queued: \((try? h.count(.queued)) ?? -1)")
    }

    @Test("permanent statuses fail with the endpoint's reason; 409 counts as delivered; a bad receipt is not a delivery")
    func verdicts() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
            if id.hasPrefix("perm") {
                return (.success(DeliveryResponse(status: 422, body: Array(#"{"title":"Unprocessable","detail":"recipients do not include EU-EUROPOL"}"#.utf8))), 0.001)
            }
            if id.hasPrefix("dup") { return (.success(DeliveryResponse(status: 409, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.001) }
            // receipt.schema.json's statuses: "duplicate" is proof too; "rejected" is not, nor is none.
            if id.hasPrefix("twice") {
                return (.success(DeliveryResponse(status: 409, body: receipts.receipt(for: request, agency: "EU-EUROPOL", status: "duplicate"))), 0.001)
            }
            if id.hasPrefix("rejected") {
                return (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL", status: "rejected",
                                                                                    reason: "not ours\u{1B}[2J\r\nts=forged " + String(repeating: "x", count: 5000)))), 0.001)
            }
            if id.hasPrefix("nostatus") {
                return (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL", status: nil))), 0.001)
            }
            if id.hasPrefix("forged") { return (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-FRONTEX"))), 0.001) }
            if id.hasPrefix("digest") {
                return (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL", digestOverride: String(repeating: "0", count: 64)))), 0.001)
            }
            return (.success(DeliveryResponse(status: 201)), 0.001)  // no receipt at all
        }
        try h.enqueue(3, prefix: "perm")
        try h.enqueue(3, prefix: "dup")
        try h.enqueue(2, prefix: "forged")
        try h.enqueue(2, prefix: "digest")
        try h.enqueue(2, prefix: "bare")
        try h.enqueue(2, prefix: "twice")
        try h.enqueue(2, prefix: "rejected")
        try h.enqueue(1, prefix: "nostatus")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.queued)) == 0 && (try? h.count(.sending)) == 0 })
        func state(_ id: String) throws -> MessageDetail.Delivery? { try h.store.message(id, sender: "PL-KGP")?.deliveries.first }
        let perm = try #require(try state("perm-000000"))
        #expect(perm.summary.state == .failed)
        #expect(perm.summary.reason?.contains("recipients do not include EU-EUROPOL") == true)
        #expect(try state("dup-000001")?.summary.state == .delivered)
        #expect(try state("dup-000001")?.summary.reason?.contains("already") == true)
        #expect(try state("forged-000000")?.summary.state == .failed, "a receipt signed by another agency is refused")
        #expect(try state("digest-000000")?.summary.reason?.contains("digest") == true)
        #expect(try state("bare-000000")?.summary.reason?.contains("without a valid receipt") == true)
        #expect(try state("twice-000001")?.summary.state == .delivered, "a receipt with status duplicate is proof of delivery")
        #expect(try state("twice-000001")?.receipt?.status == "duplicate")
        let rejected = try #require(try state("rejected-000000"))
        #expect(rejected.summary.state == .failed)
        let why = rejected.summary.reason ?? ""
        #expect(why.contains("receipt status is \"rejected\": not ours\\u001b[2J\\r\\nts=forged"), "\(why)")
        #expect(!why.unicodeScalars.contains { $0.value < 0x20 } && why.count < 1000, "the agency's words are escaped and cut: \(why.count)")
        #expect(try state("nostatus-000000")?.summary.reason?.contains("receipt status is nothing") == true)
        #expect(waitUntil(timeout: 10) { h.fixture.files(h.fixture.reports("PL-KGP")).filter { $0.contains(".failed.") }.count == 12 }, "\(h.fixture.files(h.fixture.reports("PL-KGP")))")
    }

    @Test("with the endpoint's CRLs a receipt signed by a revoked certificate is no proof of delivery; the TLS request carries the CRLs")
    func revokedReceiptSigner() throws {
        let receipts = try ReceiptFactory()
        let revoked = try JWSSigner(key: PrivateKey.load(path: DevPKIFixture.path("bad/revoked.key")),
                                    chain: Certificate.load(path: DevPKIFixture.path("bad/revoked-chain.pem")))
        let crls = try DevPKIFixture.path("ca/crls.pem")
        let seenCRL = Locked<String?>(nil)
        let h = try Harness(edit: { $0.replacingOccurrences(of: "    classificationCeiling:", with: "    crl: \(crls)\n    classificationCeiling:") }) { request in
            seenCRL.withLock { $0 = request.crl }
            let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
            var receipt = receipts.receipt(for: request, agency: "EU-EUROPOL")
            if id.hasPrefix("revoked") {
                let payload = try! JWS.parse(receipt).payload
                receipt = try! revoked.sign(JSON.parse(payload!)).flattenedJSON
            }
            return (.success(DeliveryResponse(status: 201, body: receipt)), 0.001)
        }
        try h.enqueue(2, prefix: "revoked")
        try h.enqueue(2, prefix: "good")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.queued)) == 0 && (try? h.count(.sending)) == 0 })
        let refused = try #require(try h.store.message("revoked-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(refused.summary.state == .failed && refused.summary.reason?.contains("revoked") == true, "\(String(describing: refused.summary.reason))")
        #expect(try h.store.message("good-000001", sender: "PL-KGP")?.deliveries.first?.summary.state == .delivered)
        #expect(seenCRL.withLock { $0 } == crls)
    }

    @Test("a receipt whose signer's revocation cannot be decided (CRL past its next update) is retried, not failed; a fresh CRL file is read without a reload")
    func staleCRLDefersAndRefreshes() throws {
        let receipts = try ReceiptFactory()
        let crl = try TestPaths.temporaryDirectory("crl").appendingPathComponent("endpoint-crls.pem")
        try FileManager.default.copyItem(atPath: try DevPKI.issuingCRL(from: -2 * 86_400, until: -3600), toPath: crl.path)
        // A signer that is expired as well: not waiting for a CRL, refused.
        let expired = try JWSSigner(key: PrivateKey.load(path: DevPKIFixture.path("bad/expired.key")),
                                    chain: Certificate.load(path: DevPKIFixture.path("bad/expired-chain.pem")))
        let europolSigner = try Certificate.load(path: DevPKIFixture.path("agencies/europol/receipt.pem"))[0].subject
        let h = try Harness(extra: "retry:\n  initialBackoff: 100ms\n  maxBackoff: 300ms\n",
                            edit: { $0.replacingOccurrences(of: "    classificationCeiling:",
                                                            with: "    crl: \(crl.path)\n    receiptSigner: \"\(europolSigner)\"\n    classificationCeiling:") }) { request in
            let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
            var receipt = receipts.receipt(for: request, agency: "EU-EUROPOL")
            if id.hasPrefix("expired-signer") {
                receipt = try! expired.sign(JSON.parse(JWS.parse(receipt).payload!)).flattenedJSON
            }
            if id.hasPrefix("wrong-signer") {
                // Another agency's key (not the pinned signer): refused at once, stale CRL or not.
                receipt = try! receipts.signers["EU-FRONTEX"]!.sign(JSON.parse(JWS.parse(receipt).payload!)).flattenedJSON
            }
            return (.success(DeliveryResponse(status: 201, body: receipt)), 0.001)
        }
        try h.enqueue(3, prefix: "late-crl")
        try h.enqueue(1, prefix: "expired-signer")
        try h.enqueue(1, prefix: "wrong-signer")
        h.engine.start()
        defer { h.engine.stop() }
        func first() throws -> MessageDetail.Delivery? { try h.store.message("late-crl-000000", sender: "PL-KGP")?.deliveries.first }
        #expect(waitUntil(timeout: 10) { ((try? first())?.attempts.count ?? 0) >= 2 }, "retried")
        let waiting = try #require(try first())
        #expect([.deferred, .sending, .queued].contains(waiting.summary.state), "\(waiting.summary.state)")
        #expect(waiting.attempts.first?.outcome == "receipt-undecided" && waiting.attempts.first?.error?.contains("revocation status unknown") == true,
                "\(String(describing: waiting.attempts.first))")
        #expect(try h.count(.failed) == 2, "no false evidence of failure; the expired and the wrong signer alone fail")
        let refused = try #require(try h.store.message("expired-signer-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(refused.summary.state == .failed && refused.summary.reason?.contains("expired") == true, "\(String(describing: refused.summary.reason))")
        let wrong = try #require(try h.store.message("wrong-signer-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(wrong.summary.state == .failed && wrong.summary.reason?.contains("not by the endpoint's receipt signer") == true, "\(String(describing: wrong.summary.reason))")
        // Fresh CRLs fetched into the same file (as a cron job would): read within a second or so.
        try Data(contentsOf: URL(fileURLWithPath: try DevPKI.path("ca/crls.pem"))).write(to: crl, options: .atomic)
        #expect(waitUntil(timeout: 15) { (try? h.count(.delivered)) == 3 }, "delivered once the CRLs are current")
        #expect(try h.count(.failed) == 2)
    }

    @Test("a receipt still undecided when the message's expiry comes is held for an operator, not reported expired (the agency has it)")
    func undecidedAtExpiryIsHeld() throws {
        let receipts = try ReceiptFactory()
        let late = try DevPKI.issuingCRL(from: -2 * 86_400, until: -3600)
        // The next attempt (two hours on) would be after the expiry (an hour on).
        let h = try Harness(extra: "retry:\n  initialBackoff: 2h\n  maxBackoff: 4h\n  jitter: 0\n",
                            edit: { $0.replacingOccurrences(of: "    classificationCeiling:", with: "    crl: \(late)\n    classificationCeiling:") }) { request in
            (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.001)
        }
        // Eight seconds to live: the next attempt (two hours on) is past it, so the last try
        // comes a second before the expiry, and then it is held.
        try h.enqueue(1, prefix: "undecided", lifetime: 8_000)
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 30) { (try? h.count(.held)) == 1 })
        let held = try #require(try h.store.message("undecided-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(held.summary.reason == QueueStore.answeredHoldReason, "\(String(describing: held.summary.reason))")
        #expect(held.attempts.first?.outcome == "receipt-undecided")
        #expect(try h.count(.expired) == 0 && h.count(.failed) == 0)
        #expect(!h.fixture.files(h.fixture.reports("PL-KGP")).contains { $0.contains(".expired.") || $0.contains(".failed.") })
        #expect(held.attempts.count == 2, "the first try and the last one before the expiry: \(held.attempts)")
        // Released by an operator, it is asked once more (sent, though its expiry has not
        // moved: the agency has it), and held again when that answer proves nothing either.
        var one = DeliveryFilter()
        one.messageIds = ["undecided-000000"]
        #expect(try h.store.apply(.release, filter: one, actor: "operator").changed == 1)
        h.engine.wake(endpoints: ["europol"])
        #expect(waitUntil(timeout: 10) { h.transport.lock.withLock { h.transport.sent.count } == 3 && (try? h.count(.held)) == 1 },
                "sent \(h.transport.lock.withLock { h.transport.sent.count }) times")
        #expect(try h.store.message("undecided-000000", sender: "PL-KGP")?.deliveries.first?.attempts.count == 3)
        #expect(try h.count(.expired) == 0)
    }

    @Test("with receiptSigner, only that certificate's receipts are proof: another agency's key under the same anchors is refused")
    func receiptSignerPinned() throws {
        let receipts = try ReceiptFactory()
        let europolSigner = try Certificate.load(path: DevPKIFixture.path("agencies/europol/receipt.pem"))[0].subject
        let h = try Harness(edit: { $0.replacingOccurrences(of: "    classificationCeiling:", with: "    receiptSigner: \"\(europolSigner)\"\n    classificationCeiling:") }) { request in
            let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
            var receipt = receipts.receipt(for: request, agency: "EU-EUROPOL")
            if id.hasPrefix("other-key") {
                // Signed with Frontex's receipt key, naming EU-EUROPOL: the dev PKI anchors every agency at one root.
                receipt = try! receipts.signers["EU-FRONTEX"]!.sign(JSON.parse(JWS.parse(receipt).payload!)).flattenedJSON
            }
            if id.hasPrefix("no-time") {
                // The right signer, but no receivedAt (receipt.schema.json requires it).
                guard case .object(var members) = try! JSON.parse(JWS.parse(receipt).payload!) else { fatalError() }
                members["receivedAt"] = nil
                receipt = try! receipts.signers["EU-EUROPOL"]!.sign(.object(members)).flattenedJSON
            }
            return (.success(DeliveryResponse(status: 201, body: receipt)), 0.001)
        }
        try h.enqueue(2, prefix: "own-key")
        try h.enqueue(2, prefix: "other-key")
        try h.enqueue(1, prefix: "no-time")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.queued)) == 0 && (try? h.count(.sending)) == 0 })
        #expect(try h.store.message("own-key-000000", sender: "PL-KGP")?.deliveries.first?.summary.state == .delivered)
        let refused = try #require(try h.store.message("other-key-000001", sender: "PL-KGP")?.deliveries.first)
        #expect(refused.summary.state == .failed && refused.summary.reason?.contains("not by the endpoint's receipt signer") == true,
                "\(String(describing: refused.summary.reason))")
        #expect(try h.store.message("no-time-000000", sender: "PL-KGP")?.deliveries.first?.summary.reason?.contains("no receivedAt") == true)
    }

    @Test("a receipt dated outside the gateway's times (before the acceptance, after now, beyond five minutes of clock difference) is proof all the same, and the attempt says so; within five minutes nothing is said")
    func receiptTimeOutsideBounds() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
            let offsets: [String: Millis] = ["early": -10 * 60_000, "late": 10 * 60_000, "skewed-early": -4 * 60_000, "skewed-late": 4 * 60_000, "on-time": 0]
            let offset = offsets.first { id.hasPrefix($0.key + "-") }!.value
            let receipt = receipts.receipt(for: request, agency: "EU-EUROPOL", receivedAt: Date().millis + offset)
            return (.success(DeliveryResponse(status: 201, body: receipt)), 0.001)
        }
        for prefix in ["early", "late", "skewed-early", "skewed-late", "on-time"] { try h.enqueue(2, prefix: prefix) }
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.delivered)) == 10 })
        for prefix in ["skewed-early", "skewed-late", "on-time"] {
            let d = try #require(try h.store.message("\(prefix)-000001", sender: "PL-KGP")?.deliveries.first)
            #expect(d.summary.state == .delivered && d.receipt != nil, "\(prefix): \(d.summary.state)")
            #expect(d.attempts.last?.error == nil, "\(prefix): \(String(describing: d.attempts.last?.error))")
        }
        for (prefix, relation) in [("early", "before the gateway accepted the message"), ("late", "after the gateway's time")] {
            let d = try #require(try h.store.message("\(prefix)-000001", sender: "PL-KGP")?.deliveries.first)
            #expect(d.summary.state == .delivered && d.receipt != nil, "\(prefix): \(d.summary.state)")
            let note = d.attempts.last?.error ?? ""
            // Ten minutes less the milliseconds between the times compared, in whole minutes.
            let minutes = note.contains("is more than 9 minutes") || note.contains("is more than 10 minutes")
            #expect(note.contains(relation) && note.contains("the agency's clock or the gateway's is wrong") && minutes, "\(prefix): \(note)")
            // On the audit record of the delivery too.
            let delivered = try #require(try h.store.message("\(prefix)-000001", sender: "PL-KGP")?.audit.first { $0.event == "delivered" })
            let details = try JSON.parse(Array(delivered.details.utf8))
            #expect(details["note"]?.stringValue == note, "\(delivered.details)")
        }
        let onTime = try #require(try h.store.message("on-time-000001", sender: "PL-KGP")?.audit.first { $0.event == "delivered" })
        #expect(try JSON.parse(Array(onTime.details.utf8))["note"] == nil, "\(onTime.details)")
    }

    @Test("a receipt is proof only if its payload follows receipt.schema.json as a whole: an unknown field or an over-long reason is refused")
    func receiptFollowsSchema() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            let id = request.headers.first { $0.name == "Idempotency-Key" }!.value
            var receipt = receipts.receipt(for: request, agency: "EU-EUROPOL")
            guard case .object(var members) = try! JSON.parse(JWS.parse(receipt).payload!) else { fatalError() }
            if id.hasPrefix("extra") { members["deliveredTo"] = "someone else" }
            if id.hasPrefix("long") { members["reason"] = .string(String(repeating: "x", count: 2001)) }
            if id.hasPrefix("fine") { members["reason"] = "stored under case 123" }
            receipt = try! receipts.signers["EU-EUROPOL"]!.sign(.object(members)).flattenedJSON
            return (.success(DeliveryResponse(status: 201, body: receipt)), 0.001)
        }
        try h.enqueue(1, prefix: "extra")
        try h.enqueue(1, prefix: "long")
        try h.enqueue(1, prefix: "fine")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.queued)) == 0 && (try? h.count(.sending)) == 0 })
        let fine = try #require(try h.store.message("fine-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(fine.summary.state == .delivered, "\(String(describing: fine.summary.reason))")
        for (id, location) in [("extra-000000", "/deliveredTo"), ("long-000000", "/reason")] {
            let refused = try #require(try h.store.message(id, sender: "PL-KGP")?.deliveries.first)
            #expect(refused.summary.state == .failed, "\(id): \(refused.summary.state)")
            #expect(refused.summary.reason?.contains("receipt does not follow receipt.schema.json") == true, "\(String(describing: refused.summary.reason))")
            #expect(refused.summary.reason?.contains(location) == true, "\(String(describing: refused.summary.reason))")
            #expect(refused.receipt == nil)
        }
    }

    @Test("without requireReceipt the endpoint's answer stands: a receipt that does not hold is not kept, the delivery is delivered")
    func receiptNotRequired() throws {
        let h = try Harness(edit: { $0.replacingOccurrences(of: "    classificationCeiling:", with: "    requireReceipt: false\n    classificationCeiling:") }) { _ in
            (.success(DeliveryResponse(status: 201, body: Array(#"{"status":"ok"}"#.utf8))), 0.001)
        }
        try h.enqueue(2, prefix: "no-receipt")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.delivered)) == 2 })
        let delivery = try #require(try h.store.message("no-receipt-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(delivery.receipt == nil && delivery.attempts.first?.error?.contains("receipt not kept") == true, "\(delivery.attempts)")
        #expect(try h.count(.failed) == 0)
    }

    @Test("a 409 without a valid receipt where one is required is held for an operator: neither failed nor delivered")
    func unprovenDuplicateIsHeld() throws {
        let h = try Harness { _ in
            (.success(DeliveryResponse(status: 409, body: Array(#"{"title":"Conflict"}"#.utf8))), 0.001)
        }
        try h.enqueue(1, prefix: "dup")
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.held)) == 1 })
        let held = try #require(try h.store.message("dup-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(held.summary.reason?.contains("HTTP 409") == true && held.attempts.first?.outcome == QueueStore.unprovenDuplicateOutcome,
                "\(String(describing: held.summary.reason)) \(held.attempts)")
        #expect(try h.count(.failed) == 0 && h.count(.delivered) == 0)
        #expect(!h.fixture.files(h.fixture.reports("PL-KGP")).contains { $0.contains(".failed.") })
    }

    @Test("a Retry-After too large for a time is honoured for a day, and the engine keeps running; one past the expiry makes a last try before it")
    func hugeRetryAfter() throws {
        let h = try Harness { _ in
            (.success(DeliveryResponse(status: 503, headers: ["retry-after": "10000000000000000"])), 0.001)
        }
        let before = Date().millis
        try h.enqueue(1, prefix: "later", lifetime: 7 * 86_400_000)
        // An hour to live: the wait the endpoint asks for ends past it; a last try comes a second before.
        try h.enqueue(1, prefix: "sooner", lifetime: 3_600_000)
        h.engine.start()
        defer { h.engine.stop() }
        #expect(waitUntil(timeout: 10) { (try? h.count(.deferred)) == 2 })
        let deferred = try #require(try h.store.message("later-000000", sender: "PL-KGP")?.deliveries.first)
        let wait = (deferred.summary.nextAttemptAt ?? 0) - before
        #expect(wait >= 86_000_000 && wait <= 86_410_000, "\(wait) ms")
        let sooner = try #require(try h.store.message("sooner-000000", sender: "PL-KGP")?.deliveries.first)
        let lastTry = (sooner.summary.nextAttemptAt ?? 0) - before
        #expect(lastTry >= 3_598_000 && lastTry <= 3_600_000, "\(lastTry) ms")
        #expect(sooner.summary.reason?.contains("a last try before the message's expiry") == true)
    }

    @Test("network failures are transient; shutdown returns in-flight attempts to the queue")
    func networkAndShutdown() throws {
        let h = try Harness(extra: "retry:\n  initialBackoff: 10s\n") { _ in
            (.failure(DeliveryFailure(kind: .connect, message: "connection refused")), 0.001)
        }
        try h.enqueue(3, prefix: "down")
        h.engine.start()
        #expect(waitUntil(timeout: 10) { (try? h.count(.deferred)) == 3 })
        h.engine.stop()
        let d = try #require(try h.store.message("down-000000", sender: "PL-KGP")?.deliveries.first)
        #expect(d.summary.reason?.contains("connection refused") == true)
        #expect(d.summary.nextAttemptAt ?? 0 > Date().millis + 5_000)
    }
    @Test("a reload waiting for a stuck engine stops waiting when a stop is requested; the engine applies it once it can")
    func stopEndsTheWaitForAReload() throws {
        let receipts = try ReceiptFactory()
        let h = try Harness { request in
            (.success(DeliveryResponse(status: 201, body: receipts.receipt(for: request, agency: "EU-EUROPOL"))), 0.001)
        }
        try h.enqueue(1, prefix: "stuck")
        // Another process holds the queue's write lock: the scheduler's claim waits for it.
        var lockConfig = Configuration()
        lockConfig.allowsUnsafeTransactions = true   // the open write transaction is the point
        let other = try DatabaseQueue(path: h.config.queue.path, configuration: lockConfig)
        try other.inDatabase { try $0.execute(sql: "BEGIN IMMEDIATE") }
        // A minute's limit: a wait that ends sooner was ended by the stop request.
        h.engine.reconfigureWait = 60
        h.engine.start()
        defer { h.engine.stop() }
        Thread.sleep(forTimeInterval: 0.3)
        let result = Locked<(applied: Bool, seconds: Double)?>(nil)
        let started = DispatchTime.now().uptimeNanoseconds
        Thread.detachNewThread {
            let applied = h.engine.update(config: h.config, receiptSchema: nil)
            result.withLock { $0 = (applied, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9) }
        }
        Thread.sleep(forTimeInterval: 0.5)
        #expect(result.withLock { $0 } == nil, "update waits for the engine, which waits for the lock")
        h.engine.stopWaitingForUpdates()
        #expect(waitUntil(timeout: 30) { result.withLock { $0 } != nil })
        let outcome = try #require(result.withLock { $0 })
        #expect(outcome.applied == false)
        #expect(outcome.seconds < 45, "returned at the stop request, not at the 60 s limit: \(outcome.seconds) s")
        // An update that comes after the stop request (a reload that was loading files then) does not wait either.
        let late = DispatchTime.now().uptimeNanoseconds
        #expect(h.engine.update(config: h.config, receiptSchema: nil) == false)
        #expect(Double(DispatchTime.now().uptimeNanoseconds - late) / 1e9 < 45, "no wait after the stop request")
        // The lock goes: the engine goes on (it applies the configuration and delivers).
        try other.inDatabase { try $0.execute(sql: "ROLLBACK") }
        #expect(waitUntil(timeout: 20) { (try? h.count(.delivered)) == 1 })
    }
}
