// End-to-end benchmarks (issues #6, #7, #9): spool → gatewayd → agency-mock receipt over
// mutual TLS; latency at a steady rate; an immediate message behind a 20,000-message
// backlog; gatewayctl on a large queue; and the baseline a unit would write without a
// gateway (openssl dgst + curl per message).
import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore

/// agency-mock (release build) for the five agencies.
final class BenchMock {
    let process = Process()
    var ports: [String: Int] = [:]

    init(fixture: BenchFixture) throws {
        var yaml = "control: { port: 0 }\nclientCA: pki/trust/gateway-tls-clients.pem\ngatewaySigningAnchors: pki/trust/gateway-signing.pem\n"
        yaml += "schemas: \(FileManager.default.currentDirectoryPath)/schemas\nagencies:\n"
        for (id, a) in BenchFixture.agencies {
            yaml += "  - { id: \(id), port: 0, tlsCertificate: pki/agencies/\(a)/tls-server-chain.pem, tlsKey: pki/agencies/\(a)/tls-server.key, receiptKey: pki/agencies/\(a)/receipt.key, receiptChain: pki/agencies/\(a)/receipt-chain.pem, http2: \(ProcessInfo.processInfo.environment["BENCH_HTTP2"] != nil) }\n"
        }
        let config = fixture.root.appendingPathComponent("mock.yml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let portsFile = fixture.root.appendingPathComponent("ports.json")
        process.executableURL = fixture.bin.appendingPathComponent("agency-mock")
        process.arguments = ["--config", config.path, "--ports-file", portsFile.path]
        process.standardOutput = FileHandle.nullDevice
        // Kept beside the fixture (BENCH_KEEP=1 keeps the fixture after the run).
        let log = fixture.root.appendingPathComponent("agency-mock.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = (try? FileHandle(forWritingTo: log)) ?? FileHandle.nullDevice
        try process.run()
        childProcesses.withLock { $0.append(process) }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: portsFile.path), let doc = try? JSON.parse(data),
               let agencies = doc["agencies"]?.objectValue {
                for (id, port) in agencies { ports[id] = port.intValue }
                return
            }
            usleep(20_000)
        }
        throw BenchError("agency-mock did not start")
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// Follows the queue's audit log from another connection, as an observer outside gatewayd
/// would, and notes on the bench's monotonic clock when each message's "delivered" record
/// became visible: the delivery committed with its verified receipt. Polls every
/// millisecond, reading only the records added since the last poll.
final class DeliveredFollower: @unchecked Sendable {
    private let seen = BenchLocked([String: UInt64]())
    private let stopped = BenchLocked(false)
    private let lastError = BenchLocked<String?>(nil)
    private let done = DispatchSemaphore(value: 0)
    static let pollMicroseconds = UInt32(ProcessInfo.processInfo.environment["BENCH_FOLLOW_US"] ?? "") ?? 1_000

    init(store: QueueStore, prefix: String) throws {
        let from = try store.auditTail(limit: 1).last?.seq ?? 0
        Thread.detachNewThread { [self] in
            var last = from
            while !stopped.withLock({ $0 }) {
                do {
                    let records = try store.auditRecords(after: last, event: "delivered", limit: 5_000)
                    if !records.isEmpty {
                        let now = DispatchTime.now().uptimeNanoseconds
                        last = records.last!.seq
                        seen.withLock { seen in
                            for r in records {
                                if let id = r.messageId, id.hasPrefix(prefix), seen[id] == nil { seen[id] = now }
                            }
                        }
                    }
                } catch {
                    lastError.withLock { $0 = "\(error)" }
                }
                // A pause after every look, found or not: a reader always in a transaction
                // would hold back the WAL checkpoint that gatewayd's writers wait for.
                usleep(DeliveredFollower.pollMicroseconds)
            }
            done.signal()
        }
    }

    func deliveredAt(_ id: String) -> UInt64? { seen.withLock { $0[id] } }
    var count: Int { seen.withLock { $0.count } }
    /// The last error a look at the queue gave (the follower keeps looking).
    var error: String? { lastError.withLock { $0 } }

    /// Ends the thread; again is harmless.
    func stop() {
        let already = stopped.withLock { was -> Bool in defer { was = true }; return was }
        if !already { done.wait() }
    }

    /// Milliseconds from `start` to when `id` was seen delivered (nil: not seen).
    func latencyMs(_ id: String, from start: UInt64) -> Double? {
        deliveredAt(id).map { Double(Int64(bitPattern: $0 &- start)) / 1e6 }
    }
}

func countDelivered(_ store: QueueStore) -> Int {
    var f = DeliveryFilter()
    f.states = [.delivered]
    return (try? store.countDeliveries(f)) ?? 0
}

/// A bench installation with agency-mock running and gatewayd's configuration naming its
/// ports (known only once the mock runs: the fixture makes the PKI and the mock first). The
/// caller stops the mock and cleans the fixture up.
func fixtureWithMock(_ name: String) throws -> (BenchFixture, BenchMock) {
    let probe = try BenchFixture(name: name)
    do {
        let mock = try BenchMock(fixture: probe)
        var ports: [String: Int] = [:]
        for (id, a) in BenchFixture.agencies { ports[a] = mock.ports[id] }
        do { try probe.rewriteConfig(ports: ports) } catch {
            mock.stop()
            throw error
        }
        return (probe, mock)
    } catch {
        probe.cleanUp()
        throw error
    }
}

func runEndToEndBench(quick: Bool) throws {
    let count = quick ? 3_000 : 20_000
    let (probe, mock) = try fixtureWithMock("e2e")
    defer { probe.cleanUp() }
    defer { mock.stop() }

    // Throughput: the spool is full when gatewayd starts; until every receipt is in.
    for i in 0..<count {
        let unit = i % 2 == 0 ? "PL-KGP" : "PL-CBA"
        let agency = BenchFixture.agencies[i % 5].0
        try probe.drop(BenchFixture.message(id: String(format: "e2e-%08d", i), unit: unit, recipient: agency), unit: unit, name: String(format: "e%08d.json", i))
    }
    // On disk before the daemon starts, as in the pickup bench (units' files are).
    sync()
    let mockCPUBefore = BenchFixture.cpuSeconds(pid: mock.process.processIdentifier)
    let machineBefore = MachineCPU.now()
    let t0 = DispatchTime.now().uptimeNanoseconds
    try probe.startDaemon()
    let store = try QueueStore(path: probe.queuePath)
    let deadline = Date().addingTimeInterval(900)
    // Counting deliveries costs the machine CPU the daemon needs: count rarely while far
    // from the end, often near it (the figure is off by at most one short poll).
    while Date() < deadline {
        let done = countDelivered(store)
        if done >= count { break }
        usleep(done < count * 9 / 10 ? 500_000 : 10_000)
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let delivered = countDelivered(store)
    guard delivered == count else { throw BenchError("only \(delivered) of \(count) delivered") }
    report("e2e_msgs_per_s", Double(count) / seconds, "msgs/s")
    MachineCPU.reportShares("e2e", from: machineBefore, to: MachineCPU.now())
    // The CPU each side spent per message (both share the two cores): where the time goes.
    if let cpu = probe.daemonCPUSeconds() { report("e2e_gatewayd_cpu_us_per_msg", cpu / Double(count) * 1e6, "µs") }
    if let before = mockCPUBefore, let after = BenchFixture.cpuSeconds(pid: mock.process.processIdentifier) {
        report("e2e_agency_mock_cpu_us_per_msg", (after - before) / Double(count) * 1e6, "µs")
    }
    // Let the burst's delivered reports be written before measuring steady-state latency.
    while ((try? store.owedReports(limit: 1).count) ?? 0) > 0 && Date() < deadline { usleep(50_000) }
    usleep(500_000)

    let steady = try runSteadyLatency(probe: probe, store: store, quick: quick)
    if let rss = probe.daemonPeakRSSMB() { report("e2e_gatewayd_peak_rss_mb", rss, "MB") }
    probe.stopDaemon()
    // The queue per delivered message once the daemon has stopped (pages in use): signed
    // message, delivery, attempt, receipt, audit records, report row, indexes.
    report("e2e_queue_bytes_per_msg", Double(try store.usedBytes()) / Double(count + steady), "bytes")

    try runImmediateBench(fixture: probe, quick: quick)
    try runBaselineBench(fixture: probe, mock: mock, gatewayRate: Double(count) / seconds, quick: quick)
}

/// Latency at a steady 500 messages/s (open loop: each file is due at its time whatever
/// came before), gatewayd running: from the rename to the delivery committed with its
/// verified receipt, as seen from outside gatewayd (DeliveredFollower), both ends on this
/// process's monotonic clock. Returns how many messages it sent.
func runSteadyLatency(probe: BenchFixture, store: QueueStore, quick: Bool) throws -> Int {
    let rate = 500.0
    let steady = quick ? 1_500 : 5_000
    let follower = try DeliveredFollower(store: store, prefix: "lat-")
    defer { follower.stop() }
    var dropped: [(id: String, wall: Int64, mono: UInt64)] = []
    var worstLateness: UInt64 = 0
    let start = DispatchTime.now().uptimeNanoseconds
    for i in 0..<steady {
        let due = start + UInt64(Double(i) / rate * 1e9)
        let now = DispatchTime.now().uptimeNanoseconds
        if now < due { usleep(UInt32((due - now) / 1_000)) } else { worstLateness = max(worstLateness, now - due) }
        let id = String(format: "lat-%08d", i)
        let wall = Date().millis
        let mono = try probe.drop(BenchFixture.message(id: id, unit: "PL-KGP", recipient: BenchFixture.agencies[i % 5].0), unit: "PL-KGP", name: "\(id).json")
        dropped.append((id, wall, mono))
    }
    let offered = Double(steady) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    let steadyDeadline = Date().addingTimeInterval(120)
    while follower.count < steady && Date() < steadyDeadline { usleep(20_000) }
    follower.stop()
    guard follower.count == steady else {
        throw BenchError("only \(follower.count) of \(steady) steady-rate messages delivered within 120 s\(follower.error.map { " (queue: \($0))" } ?? "")")
    }
    report("e2e_steady_offered_msgs_per_s", offered, "msgs/s")
    report("e2e_steady_worst_lateness_ms", Double(worstLateness) / 1e6, "ms")
    var latencies: [Double] = []
    // Where the time goes (gatewayd's own times, whole milliseconds of the wall clock):
    // rename → picked up (the worker's clock), → first attempt started (committed,
    // claimed), → receipt verified.
    var pickup: [Double] = [], queued: [Double] = [], sending: [Double] = [], recording: [Double] = []
    for (id, wall, mono) in dropped {
        guard let latency = follower.latencyMs(id, from: mono) else { throw BenchError("\(id) has no delivered record") }
        latencies.append(latency)
        guard let m = try store.message(id, sender: "PL-KGP"), let d = m.deliveries.first, let r = d.receipt, let first = d.attempts.first else {
            throw BenchError("\(id) is delivered without its receipt or attempt in the queue")
        }
        pickup.append(Double(m.acceptedAt - wall))
        queued.append(Double(first.startedAt - m.acceptedAt))
        sending.append(Double(r.receivedAt - first.startedAt))
        // The receipt's arrival → the delivery visible (receipt verified, committed, seen):
        // the rename's wall time plus the measured latency, against gatewayd's receivedAt.
        recording.append(Double(wall) + latency - Double(r.receivedAt))
    }
    latencies.sort()
    report("e2e_p50_ms", percentile(latencies, 50), "ms")
    report("e2e_p99_ms", percentile(latencies, 99), "ms")
    report("e2e_p999_ms", percentile(latencies, 99.9), "ms")
    for (name, values) in [("pickup", pickup), ("commit_claim", queued), ("send_receipt", sending), ("record_seen", recording)] {
        let sorted = values.sorted()
        report("e2e_p50_\(name)_ms", percentile(sorted, 50), "ms")
        report("e2e_p99_\(name)_ms", percentile(sorted, 99), "ms")
    }
    return steady
}

/// The steady-rate latency alone (`gateway-bench latency`), against a daemon that has not
/// just taken a burst: for comparing builds, several runs in a row.
func runLatencyBench(quick: Bool) throws {
    let (probe, mock) = try fixtureWithMock("latency")
    defer { probe.cleanUp() }
    defer { mock.stop() }
    try probe.startDaemon()
    let store = try QueueStore(path: probe.queuePath)
    // Two seconds at the same rate first (open loop, as measured): connections made,
    // caches and the WAL warm.
    let warmUp = 1_000
    let start = DispatchTime.now().uptimeNanoseconds
    for i in 0..<warmUp {
        let due = start + UInt64(i) * 2_000_000
        let now = DispatchTime.now().uptimeNanoseconds
        if now < due { usleep(UInt32((due - now) / 1_000)) }
        try probe.drop(BenchFixture.message(id: String(format: "warm-%08d", i), unit: "PL-KGP", recipient: BenchFixture.agencies[i % 5].0),
                       unit: "PL-KGP", name: String(format: "warm-%08d.json", i))
    }
    let deadline = Date().addingTimeInterval(60)
    while countDelivered(store) < warmUp && Date() < deadline { usleep(20_000) }
    guard countDelivered(store) == warmUp else { throw BenchError("the warm-up was not delivered within 60 s") }
    // Its delivered reports written too, as the e2e suite waits for the burst's.
    while ((try? store.owedReports(limit: 1).count) ?? 0) > 0 && Date() < deadline { usleep(50_000) }
    usleep(500_000)
    _ = try runSteadyLatency(probe: probe, store: store, quick: quick)
    probe.stopDaemon()
}

/// An immediate message dropped while a backlog of routine ones is being delivered to the
/// same endpoint: rename → verified receipt.
func runImmediateBench(fixture: BenchFixture, quick: Bool) throws {
    let backlog = quick ? 5_000 : 20_000
    let config = try ConfigLoader.load(path: fixture.configPath)
    let signer = try GatewayKeys.load(config).messageSigner
    let store = try QueueStore(path: fixture.queuePath)
    var batch: [NewMessage] = []
    for i in 0..<backlog {
        let id = String(format: "backlog-%08d", i)
        let doc = try JSON.parse(BenchFixture.message(id: id, unit: "PL-KGP", recipient: "EU-EUROPOL"))
        let canonical = try doc.canonicalBytes()
        batch.append(NewMessage(sender: "PL-KGP", messageId: id, type: "operational-report", priority: .routine, classification: .restricted,
                                createdAt: 0, expiresAt: Date().millis + 3_600_000, contentDigest: SHA256.hex(canonical),
                                jws: try signer.sign(payload: canonical), sourceFile: "\(id).json",
                                routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")]))
        if batch.count == 1_000 { _ = try store.enqueue(batch); batch.removeAll() }
    }
    _ = try store.enqueue(batch)
    try fixture.startDaemon()
    // Let the backlog get going, with every connection busy.
    var queued = DeliveryFilter()
    queued.states = [.queued]
    queued.endpoints = ["europol"]
    let backlogDeadline = Date().addingTimeInterval(60)
    while (try store.countDeliveries(queued)) > backlog - 500 {
        guard Date() < backlogDeadline else { throw BenchError("the backlog did not start") }
        usleep(5_000)
    }
    // Several immediate messages, one every 200 ms while the backlog is sent, each dropped
    // while the endpoint's connections are busy (counted at each drop): from the rename to its
    // delivery committed with the verified receipt, seen from outside (DeliveredFollower).
    var sending = DeliveryFilter()
    sending.states = [.sending]
    sending.endpoints = ["europol"]
    let follower = try DeliveredFollower(store: store, prefix: "immediate-")
    defer { follower.stop() }
    let samples = quick ? 5 : 10
    var dropped: [(id: String, mono: UInt64)] = []
    var fewestBusy = Int.max
    for i in 0..<samples {
        let id = String(format: "immediate-%08d", i)
        fewestBusy = min(fewestBusy, try store.countDeliveries(sending))
        let mono = try fixture.drop(BenchFixture.message(id: id, unit: "PL-KGP", recipient: "EU-EUROPOL", priority: "immediate"), unit: "PL-KGP", name: "\(id).json")
        dropped.append((id, mono))
        usleep(200_000)
    }
    let deadline = Date().addingTimeInterval(60)
    while follower.count < samples && Date() < deadline { usleep(5_000) }
    follower.stop()
    let left = try store.countDeliveries(queued)
    let waits = try dropped.map { d -> Double in
        guard let ms = follower.latencyMs(d.id, from: d.mono) else {
            throw BenchError("immediate message \(d.id) was not delivered within 60 s\(follower.error.map { " (queue: \($0))" } ?? "")")
        }
        return ms
    }.sorted()
    report("immediate_ms", waits.last!, "ms (worst of \(samples))")
    report("immediate_p50_ms", percentile(waits, 50), "ms")
    report("immediate_busy_connections_min", Double(fewestBusy), "of the endpoint's 16")
    report("immediate_backlog_still_queued", Double(left), "msgs")
    fixture.stopDaemon()
}

/// What a unit does without a gateway: per message, `openssl dgst -sign` over the JWS
/// signing input, then one `curl` POST of the compact JWS with its client certificate to
/// the same agency-mock, which must accept it (201). The protected header (the gateway's
/// x5c chain) and the JCS of the message are made in this process, which costs
/// microseconds against the two processes' milliseconds.
func runBaselineBench(fixture: BenchFixture, mock: BenchMock, gatewayRate: Double, quick: Bool) throws {
    let n = quick ? 50 : 200
    let pki = fixture.pki.path
    let url = "https://127.0.0.1:\(mock.ports["EU-EUROPOL"]!)/messages"
    let dir = fixture.root.appendingPathComponent("baseline")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let signer = try GatewayKeys.load(try ConfigLoader.load(path: fixture.configPath)).messageSigner
    /// Runs a program; its standard output, or an error with its status.
    func run(_ exe: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw BenchError("baseline: \(exe) exited with \(p.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
    let t0 = DispatchTime.now().uptimeNanoseconds
    for i in 0..<n {
        let id = String(format: "baseline-%08d", i)
        let canonical = try JSON.parse(BenchFixture.message(id: id, unit: "PL-KGP")).canonicalBytes()
        let header = try JWS.parse(try signer.sign(payload: canonical)).protectedHeaderBase64URL
        let input = header + "." + Base64URL.encode(canonical)
        let inputFile = dir.appendingPathComponent("\(id).input"), sigFile = dir.appendingPathComponent("\(id).sig")
        let jwsFile = dir.appendingPathComponent("\(id).jws")
        try Data(input.utf8).write(to: inputFile)
        _ = try run("/usr/bin/openssl", ["dgst", "-sha256", "-sign", "\(pki)/gateway/signing.key", "-out", sigFile.path, inputFile.path])
        let raw = try ecdsaRawSignature(der: [UInt8](try Data(contentsOf: sigFile)), size: 32)
        try Data((input + "." + Base64URL.encode(raw)).utf8).write(to: jwsFile)
        let status = try run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cert", "\(pki)/gateway/tls-client-chain.pem",
                                               "--key", "\(pki)/gateway/tls-client.key", "--cacert", "\(pki)/trust/agencies/europol-tls.pem",
                                               "-H", "Content-Type: application/jose+json", "-H", "Idempotency-Key: \(id)",
                                               "--data-binary", "@\(jwsFile.path)", url])
        guard status == "201" else { throw BenchError("baseline: agency-mock answered \(status) to \(id)") }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let baseline = Double(n) / seconds
    report("baseline_msgs_per_s", baseline, "msgs/s")
    report("gateway_vs_baseline", gatewayRate / baseline, "x")
}

/// An ECDSA signature as OpenSSL writes it (DER: SEQUENCE { INTEGER r, INTEGER s }) in
/// JWS's form: r and s, each big-endian in `size` bytes.
func ecdsaRawSignature(der: [UInt8], size: Int) throws -> [UInt8] {
    var i = 0
    func length() throws -> Int {
        guard i < der.count else { throw BenchError("DER signature cut short") }
        let first = Int(der[i]); i += 1
        if first < 0x80 { return first }
        let bytes = first & 0x7F
        guard bytes <= 2, i + bytes <= der.count else { throw BenchError("DER length unsupported") }
        var value = 0
        for _ in 0..<bytes { value = value << 8 | Int(der[i]); i += 1 }
        return value
    }
    guard der.first == 0x30 else { throw BenchError("DER signature is not a SEQUENCE") }
    i = 1
    _ = try length()
    var out: [UInt8] = []
    for _ in 0..<2 {
        guard i < der.count, der[i] == 0x02 else { throw BenchError("DER signature: INTEGER expected") }
        i += 1
        let count = try length()
        guard i + count <= der.count else { throw BenchError("DER signature cut short") }
        var value = Array(der[i..<(i + count)])
        i += count
        while value.count > size, value.first == 0 { value.removeFirst() }
        guard value.count <= size else { throw BenchError("DER signature: integer too long") }
        out += [UInt8](repeating: 0, count: size - value.count) + value
    }
    return out
}

/// gatewayctl on a large queue: the whole process, as an operator runs it.
func runConsoleBench(quick: Bool) throws {
    let size = quick ? 100_000 : 1_000_000
    let fixture = try BenchFixture(name: "console")
    defer { fixture.cleanUp() }
    let store = try QueueStore(path: fixture.queuePath)
    let jws = [UInt8](repeating: 0x61, count: 1_024)
    var n = 0
    let states: [DeliveryResolution] = []
    _ = states
    while n < size {
        var batch: [NewMessage] = []
        for _ in 0..<min(2_000, size - n) {
            n += 1
            let agency = BenchFixture.agencies[n % 5]
            batch.append(NewMessage(sender: n % 2 == 0 ? "PL-KGP" : "PL-CBA", messageId: "console-\(n)", type: "alert",
                                    priority: n % 100 == 0 ? .urgent : .routine, classification: .restricted, createdAt: 0,
                                    contentDigest: String(repeating: "0", count: 64), jws: jws,
                                    routes: [Route(recipient: agency.0, endpoint: agency.1)]))
        }
        _ = try store.enqueue(batch, now: Date().millis - Int64.random(in: 0...86_400_000))
    }
    let ctl = fixture.bin.appendingPathComponent("gatewayctl").path
    func time(_ args: [String]) throws -> Double {
        var best = Double.infinity
        for _ in 0..<3 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: ctl)
            p.arguments = ["--config", fixture.configPath] + args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            let t0 = DispatchTime.now().uptimeNanoseconds
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw BenchError("gatewayctl \(args) failed") }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return best
    }
    report("ctl_queue_list_50_ms", try time(["queue", "list", "--limit", "50"]), "ms")
    report("ctl_queue_list_filtered_ms", try time(["queue", "list", "--limit", "50", "--recipient", "EU-OLAF", "--priority", "urgent"]), "ms")
    report("ctl_queue_stats_ms", try time(["queue", "stats"]), "ms")
    report("ctl_queue_deliveries", Double(size), "deliveries")
}
