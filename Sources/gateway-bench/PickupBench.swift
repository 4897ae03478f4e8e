// Spool pickup benchmarks (issue #5): throughput from spool to durable signed queue for
// 1 KB messages with the real gatewayd, rename-to-accepted latency, peak RSS.
import Foundation
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore

func runPickupBench(quick: Bool) throws {
    let count = quick ? 5_000 : 20_000
    let fixture = try BenchFixture(name: "pickup")
    defer { fixture.cleanUp() }
    // Throughput: the spool is full when the daemon starts.
    for i in 0..<count {
        let unit = i % 2 == 0 ? "PL-KGP" : "PL-CBA"
        try fixture.drop(BenchFixture.message(id: String(format: "bench-%08d", i), unit: unit), unit: unit, name: String(format: "m%08d.json", i))
    }
    // The units' files are on disk before the daemon starts: otherwise its first
    // once-a-second syncfs writes the 20,000 files just made back inside the measurement.
    sync()
    try measureProcessing(fixture: fixture, quick: quick)
    let start = DispatchTime.now().uptimeNanoseconds
    try fixture.startDaemon()
    let store = try QueueStore(path: fixture.queuePath, readOnly: false)
    var queued = 0
    let deadline = Date().addingTimeInterval(600)
    var firstSeen: (at: UInt64, queued: Int, cpu: MachineCPU?)?
    // Poll cheaply (the highest row id), so that the measurement does not slow the daemon.
    while queued < count && Date() < deadline {
        usleep(20_000)
        if fixture.daemon?.isRunning == false { throw BenchError("gatewayd exited (see \(fixture.root.path))") }
        queued = (try? store.messageCountEstimate()) ?? queued
        if queued > 0 && firstSeen == nil { firstSeen = (DispatchTime.now().uptimeNanoseconds, queued, MachineCPU.now()) }
    }
    let end = DispatchTime.now().uptimeNanoseconds
    let endCPU = MachineCPU.now()
    // gatewayd's CPU over the throughput run alone (the latency samples below add idle
    // housekeeping and the pickup fixture's failing deliveries).
    let daemonCPU = fixture.daemonCPUSeconds()
    if let firstSeen {
        // The daemon's start (configuration, schemas, keys, queue, the spool's first scan)
        // is part of pickup_msgs_per_s; this says how much.
        report("pickup_start_to_first_commit_s", Double(firstSeen.at - start) / 1e9, "s")
    }
    let seconds = Double(end - start) / 1e9
    guard queued == count else { throw BenchError("only \(queued) of \(count) queued") }
    report("pickup_msgs_per_s", Double(count) / seconds, "msgs/s")
    if let firstSeen, end > firstSeen.at {
        // Running: from the first poll that saw commits to the last message committed.
        report("pickup_running_msgs_per_s", Double(count - firstSeen.queued) / (Double(end - firstSeen.at) / 1e9), "msgs/s")
        // Where the machine's time went while running (idle: the pipeline waited).
        MachineCPU.reportShares("pickup_running", from: firstSeen.cpu, to: endCPU)
    }
    // Wait until both units' outboxes are empty (reports written, files removed).
    func waiting(_ unit: String) throws -> Int { try FileManager.default.contentsOfDirectory(atPath: fixture.outbox(unit).path).count }
    while try waiting("PL-KGP") + waiting("PL-CBA") > 0 {
        guard Date() < deadline else { throw BenchError("files still in the outboxes: \(try waiting("PL-KGP") + waiting("PL-CBA"))") }
        usleep(10_000)
    }
    let drained = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    let reports = try ["PL-KGP", "PL-CBA"].reduce(0) { $0 + (try FileManager.default.contentsOfDirectory(atPath: fixture.reports($1).path)).count }
    guard reports == count else { throw BenchError("\(reports) accepted reports for \(count) messages") }
    report("pickup_with_reports_msgs_per_s", Double(count) / drained, "msgs/s")

    // Latency: one file at a time into an idle daemon; from the rename to the file leaving
    // the outbox (committed, accepted report written).
    var latencies: [Double] = []
    let samples = quick ? 100 : 300
    for i in 0..<samples {
        let name = String(format: "lat%06d.json", i)
        let bytes = BenchFixture.message(id: String(format: "latency-%08d", i), unit: "PL-KGP")
        let temp = fixture.outbox("PL-KGP").appendingPathComponent(".\(name).tmp")
        try Data(bytes).write(to: temp)
        let final = fixture.outbox("PL-KGP").appendingPathComponent(name).path
        let t0 = DispatchTime.now().uptimeNanoseconds
        guard rename(temp.path, final) == 0 else { throw BenchError("rename \(name): \(String(cString: strerror(errno)))") }
        while access(final, F_OK) == 0 {
            guard Date() < deadline else { throw BenchError("\(name) was not picked up") }
            usleep(200)
        }
        latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        usleep(10_000)
    }
    latencies.sort()
    report("pickup_latency_p50_ms", percentile(latencies, 50), "ms")
    report("pickup_latency_p99_ms", percentile(latencies, 99), "ms")
    if let rss = fixture.daemonPeakRSSMB() { report("pickup_gatewayd_peak_rss_mb", rss, "MB") }
    // What a message costs the machine, whatever else it is doing: gatewayd's CPU time
    // (all threads, start included) over the throughput run's messages.
    if let cpu = daemonCPU { report("pickup_gatewayd_cpu_us_per_msg", cpu / Double(count) * 1e6, "µs") }
    // The queue per message once the daemon has stopped (pages in use): signed message,
    // delivery, audit record, indexes.
    fixture.stopDaemon()
    report("pickup_queue_bytes_per_msg", Double(try store.usedBytes()) / Double(count + samples), "bytes")
}

/// What one pickup worker spends on one 1 KB message, on one core, without the file
/// system or the queue: parse, validate, canonicalise, sign the message and the accepted
/// report. With BENCH_DETAIL=1, the parts.
func measureProcessing(fixture: BenchFixture, quick: Bool) throws {
    let config = try ConfigLoader.load(path: fixture.configPath)
    let services = try DefaultServices.make(config)
    let processor = PickupProcessor(config: config, validator: services.validator, signer: services.signer)
    let bytes = BenchFixture.message(id: "processing-1", unit: "PL-KGP")
    let count = quick ? 2_000 : 10_000
    // The figure is of a message accepted and signed: a refusal would time an early exit.
    guard case .success = processor.process(unit: "PL-KGP", file: "m.json", bytes: bytes, now: Date().millis) else {
        throw BenchError("the processing bench's message is refused")
    }
    for _ in 0..<200 { _ = processor.process(unit: "PL-KGP", file: "m.json", bytes: bytes, now: Date().millis) }
    let seconds = measure {
        for _ in 0..<count { _ = processor.process(unit: "PL-KGP", file: "m.json", bytes: bytes, now: Date().millis) }
    }
    report("pickup_process_us", seconds / Double(count) * 1e6, "µs/msg (one core)")
    // The same on every core at once: the ceiling for the whole pickup on this machine
    // (it still has the files, the queue and the reports to do).
    // (A replica per thread, as gatewayd's workers have.)
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let replicas = try (0..<cores).map { _ in try processor.replica() }
    let parallel = measure {
        DispatchQueue.concurrentPerform(iterations: cores) { i in
            for _ in 0..<count { _ = replicas[i].process(unit: "PL-KGP", file: "m.json", bytes: bytes, now: Date().millis) }
        }
    }
    report("pickup_process_all_cores_msgs_per_s", Double(count * cores) / parallel, "msgs/s")
    guard ProcessInfo.processInfo.environment["BENCH_DETAIL"] != nil else { return }
    let parser = JSONParser()
    let parsed = try parser.parse(bytes)
    report("detail_parse_us", try measure { for _ in 0..<count { _ = try parser.parse(bytes) } } / Double(count) * 1e6, "µs")
    report("detail_validate_us", measure { for _ in 0..<count { _ = services.validator.validate(message: parsed) } } / Double(count) * 1e6, "µs")
    report("detail_jcs_us", try measure { for _ in 0..<count { _ = try parsed.canonicalBytes() } } / Double(count) * 1e6, "µs")
    let canonical = try parsed.canonicalBytes()
    report("detail_sign_us", try measure { for _ in 0..<count { _ = try services.signer.sign(payload: canonical) } } / Double(count) * 1e6, "µs")
}
