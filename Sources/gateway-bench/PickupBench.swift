// Spool pickup benchmarks (issue #5): throughput from spool to durable signed queue for
// 1 KB messages with the real gatewayd, rename-to-accepted latency, peak RSS.
import Foundation
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
    let start = DispatchTime.now().uptimeNanoseconds
    try fixture.startDaemon()
    let store = try QueueStore(path: fixture.queuePath, readOnly: false)
    var queued = 0
    let deadline = Date().addingTimeInterval(600)
    var firstSeen: UInt64?
    // Poll cheaply (the highest row id), so that the measurement does not slow the daemon.
    while queued < count && Date() < deadline {
        usleep(20_000)
        queued = (try? store.messageCountEstimate()) ?? queued
        if queued > 0 && firstSeen == nil { firstSeen = DispatchTime.now().uptimeNanoseconds }
    }
    if let firstSeen {
        // The daemon's start (configuration, schemas, keys, queue, the spool's first scan)
        // is part of the figure above; this says how much.
        report("pickup_start_to_first_commit_s", Double(firstSeen - start) / 1e9, "s")
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    guard queued == count else { throw BenchError("only \(queued) of \(count) queued") }
    report("pickup_msgs_per_s", Double(count) / seconds, "msgs/s")
    // Wait until the outboxes are empty (reports written, files removed).
    while (try FileManager.default.contentsOfDirectory(atPath: fixture.outbox("PL-KGP").path)).count > 0 { usleep(10_000) }
    let drained = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
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
        rename(temp.path, final)
        while access(final, F_OK) == 0 { usleep(200) }
        latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        usleep(10_000)
    }
    latencies.sort()
    report("pickup_latency_p50_ms", percentile(latencies, 50), "ms")
    report("pickup_latency_p99_ms", percentile(latencies, 99), "ms")
    if let rss = fixture.daemonPeakRSSMB() { report("pickup_gatewayd_peak_rss_mb", rss, "MB") }
}
