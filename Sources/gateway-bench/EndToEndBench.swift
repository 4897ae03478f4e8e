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

func countDelivered(_ store: QueueStore) -> Int {
    var f = DeliveryFilter()
    f.states = [.delivered]
    return (try? store.countDeliveries(f)) ?? 0
}

func runEndToEndBench(quick: Bool) throws {
    let count = quick ? 3_000 : 20_000
    // Ports are known only once the mock runs: a first fixture makes the PKI and the mock,
    // the configuration is then written with the ports.
    let probe = try BenchFixture(name: "e2e")
    defer { probe.cleanUp() }
    let mock = try BenchMock(fixture: probe)
    defer { mock.stop() }
    var ports: [String: Int] = [:]
    for (id, a) in BenchFixture.agencies { ports[a] = mock.ports[id] }
    try probe.rewriteConfig(ports: ports)

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

    // Latency at a steady 500 messages/s: rename → verified receipt recorded.
    let rate = 500.0
    let steady = quick ? 1_500 : 5_000
    var dropped: [(String, Int64)] = []
    let start = DispatchTime.now().uptimeNanoseconds
    for i in 0..<steady {
        let due = start + UInt64(Double(i) / rate * 1e9)
        let now = DispatchTime.now().uptimeNanoseconds
        if now < due { usleep(UInt32((due - now) / 1_000)) }
        let id = String(format: "lat-%08d", i)
        try probe.drop(BenchFixture.message(id: id, unit: "PL-KGP", recipient: BenchFixture.agencies[i % 5].0), unit: "PL-KGP", name: "\(id).json")
        dropped.append((id, Date().millis))
    }
    while countDelivered(store) < count + steady && Date() < deadline { usleep(200_000) }
    var latencies: [Double] = []
    // Where the time goes: rename → picked up (the worker's clock), → first attempt
    // started (committed, claimed), → receipt verified.
    var pickup: [Double] = [], queued: [Double] = [], sending: [Double] = []
    for (id, at) in dropped {
        guard let m = try store.message(id, sender: "PL-KGP"), let d = m.deliveries.first, let r = d.receipt else { continue }
        latencies.append(Double(r.receivedAt - at))
        if let first = d.attempts.first {
            pickup.append(Double(m.acceptedAt - at))
            queued.append(Double(first.startedAt - m.acceptedAt))
            sending.append(Double(r.receivedAt - first.startedAt))
        }
    }
    latencies.sort()
    report("e2e_p50_ms", percentile(latencies, 50), "ms")
    report("e2e_p99_ms", percentile(latencies, 99), "ms")
    report("e2e_p999_ms", percentile(latencies, 99.9), "ms")
    for (name, values) in [("pickup", pickup), ("commit_claim", queued), ("send_receipt", sending)] {
        report("e2e_p99_\(name)_ms", percentile(values.sorted(), 99), "ms")
    }
    if let rss = probe.daemonPeakRSSMB() { report("e2e_gatewayd_peak_rss_mb", rss, "MB") }
    probe.stopDaemon()
    // The queue per delivered message once the daemon has stopped (pages in use): signed
    // message, delivery, attempt, receipt, audit records, report row, indexes.
    report("e2e_queue_bytes_per_msg", Double(try store.usedBytes()) / Double(count + steady), "bytes")

    try runImmediateBench(fixture: probe, quick: quick)
    try runBaselineBench(fixture: probe, mock: mock, gatewayRate: Double(count) / seconds, quick: quick)
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
    while (try store.countDeliveries(queued)) > backlog - 500 { usleep(5_000) }
    let t0 = Date().millis
    try fixture.drop(BenchFixture.message(id: "immediate-00000001", unit: "PL-KGP", recipient: "EU-EUROPOL", priority: "immediate"),
                     unit: "PL-KGP", name: "immediate.json")
    var receipt: ReceiptRecord? = nil
    let deadline = Date().addingTimeInterval(60)
    while receipt == nil && Date() < deadline {
        usleep(1_000)
        receipt = try store.message("immediate-00000001", sender: "PL-KGP")?.deliveries.first?.receipt
    }
    guard let receipt else { throw BenchError("the immediate message was not delivered") }
    let left = try store.countDeliveries(queued)
    report("immediate_ms", Double(receipt.receivedAt - t0), "ms")
    report("immediate_backlog_still_queued", Double(left), "msgs")
    fixture.stopDaemon()
}

/// What a unit does without a gateway: per message, `openssl dgst -sign`, then one `curl`
/// POST with its client certificate to the same agency-mock.
func runBaselineBench(fixture: BenchFixture, mock: BenchMock, gatewayRate: Double, quick: Bool) throws {
    let n = quick ? 50 : 200
    let pki = fixture.pki.path
    let url = "https://127.0.0.1:\(mock.ports["EU-EUROPOL"]!)/messages"
    let dir = fixture.root.appendingPathComponent("baseline")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    func run(_ exe: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
    }
    let t0 = DispatchTime.now().uptimeNanoseconds
    for i in 0..<n {
        let file = dir.appendingPathComponent("m\(i).json")
        try Data(BenchFixture.message(id: String(format: "baseline-%08d", i), unit: "PL-KGP")).write(to: file)
        try run("/usr/bin/openssl", ["dgst", "-sha256", "-sign", "\(pki)/gateway/signing.key", "-out", file.path + ".sig", file.path])
        try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "--cert", "\(pki)/gateway/tls-client-chain.pem", "--key", "\(pki)/gateway/tls-client.key",
                                  "--cacert", "\(pki)/trust/agencies/europol-tls.pem", "-H", "Content-Type: application/jose+json",
                                  "-H", "Idempotency-Key: baseline-\(i)", "--data-binary", "@\(file.path)", url])
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let baseline = Double(n) / seconds
    report("baseline_msgs_per_s", baseline, "msgs/s")
    report("gateway_vs_baseline", gatewayRate / baseline, "x")
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
