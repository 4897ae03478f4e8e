// A gateway installation for benchmarks: dev PKI, configuration, spool, queue, and the
// real gatewayd process (from the same build as this program).
import Foundation
import GatewayJSON

final class BenchFixture {
    let root: URL
    let pki: URL
    let spool: URL
    let queuePath: String
    let configPath: String
    let bin: URL
    var daemon: Process?
    var starts = 0
    let extra: String
    static let agencies = [("EU-EUROPOL", "europol"), ("EU-FRONTEX", "frontex"), ("EU-EUROJUST", "eurojust"), ("EU-CEPOL", "cepol"), ("EU-OLAF", "olaf")]

    init(name: String, ports: [String: Int] = [:], extra: String = "") throws {
        self.extra = extra
        bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gw-bench-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: root)
        let made = root
        Self.created.withLock { $0.append(made) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("queue"), withIntermediateDirectories: true)
        spool = root.appendingPathComponent("spool")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        pki = root.appendingPathComponent("pki")
        let script = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("certs/make-dev-pki.sh").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script, pki.path]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw BenchError("make-dev-pki.sh failed (run from the package root)") }
        queuePath = root.appendingPathComponent("queue/queue.sqlite").path
        configPath = root.appendingPathComponent("gateway.yml").path
        try rewriteConfig(ports: ports)
    }

    /// Writes gateway.yml with the agencies on `ports` (endpoint name → port).
    func rewriteConfig(ports: [String: Int]) throws {
        var yaml = """
            gateway: { id: PL-GW, units: [PL-KGP, PL-CBA] }
            spool: { directory: spool, rescanInterval: 5s\(ProcessInfo.processInfo.environment["BENCH_WORKERS"].map { ", workers: \($0)" } ?? "") }
            queue: { path: queue/queue.sqlite }
            signing: { key: pki/gateway/signing.key, chain: pki/gateway/signing-chain.pem, trustAnchors: pki/trust/gateway-signing.pem }
            tls: { clientKey: pki/gateway/tls-client.key, clientCertificate: pki/gateway/tls-client-chain.pem }
            log: { level: \(ProcessInfo.processInfo.environment["BENCH_LOG_LEVEL"] ?? "warning") }
            endpoints:

            """
        for (_, a) in Self.agencies {
            yaml += "  \(a):\n    url: https://127.0.0.1:\(ports[a] ?? 9)/messages\n    ca: pki/trust/agencies/\(a)-tls.pem\n"
            yaml += "    receiptTrustAnchors: pki/trust/agencies/\(a)-receipts.pem\n    classificationCeiling: SECRET UE/EU SECRET\n    concurrency: 16\n"
            // BENCH_HTTP2=1: both sides offer HTTP/2 (see docs/transport.md for why it is off).
            if ProcessInfo.processInfo.environment["BENCH_HTTP2"] != nil { yaml += "    http2: true\n" }
        }
        yaml += "routes:\n" + Self.agencies.map { "  \($0.0): \($0.1)\n" }.joined() + extra
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func outbox(_ unit: String) -> URL { spool.appendingPathComponent("\(unit)/outbox") }
    func reports(_ unit: String) -> URL { spool.appendingPathComponent("\(unit)/reports") }

    /// A ~1 KB operational report from `unit`.
    static func message(id: String, unit: String, recipient: String = "EU-EUROPOL", priority: String = "routine") -> [UInt8] {
        let summary = "Increase in attempts to cross the border with forged residence permits. " + String(repeating: "Details follow. ", count: 20)
        let doc: JSON = [
            "messageId": .string(id), "type": "operational-report", "sender": .string(unit), "recipients": [.string(recipient)],
            "createdAt": "2026-03-02T09:15:00Z", "priority": .string(priority), "classification": "RESTREINT UE/EU RESTRICTED",
            "subject": "Monthly situation report, February 2026",
            "body": ["reportType": "situation", "operation": ["name": "Joint patrols, eastern border"],
                     "period": ["from": "2026-02-01", "to": "2026-02-28"], "summary": .string(summary)],
            "evaluation": ["sourceReliability": "B", "informationAccuracy": "3"],
            "empactPriority": "migrant-smuggling-trafficking-in-human-beings",
        ]
        return Array(try! doc.canonicalString().utf8)
    }

    /// Writes the file under a temporary name and renames it into the outbox; returns the
    /// monotonic time (ns) just before the rename, where latencies start.
    @discardableResult
    func drop(_ bytes: [UInt8], unit: String, name: String) throws -> UInt64 {
        let dir = outbox(unit)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let temp = dir.appendingPathComponent(".\(name).tmp")
        try Data(bytes).write(to: temp)
        let at = DispatchTime.now().uptimeNanoseconds
        guard rename(temp.path, dir.appendingPathComponent(name).path) == 0 else { throw BenchError("rename failed") }
        return at
    }

    func startDaemon() throws {
        let p = Process()
        p.executableURL = bin.appendingPathComponent("gatewayd")
        p.arguments = ["--config", configPath]
        starts += 1
        let log = root.appendingPathComponent("gatewayd-\(starts).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        childProcesses.withLock { $0.append(p) }
        daemon = p
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: queuePath + ".lock") { return }
            if !p.isRunning { throw BenchError("gatewayd exited: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")") }
            usleep(5_000)
        }
        throw BenchError("gatewayd did not start")
    }

    /// Peak resident memory of gatewayd so far (VmHWM), in MB.
    func daemonPeakRSSMB() -> Double? {
        guard let pid = daemon?.processIdentifier,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }

    /// CPU time gatewayd has used so far (user + system, all threads), in seconds.
    func daemonCPUSeconds() -> Double? {
        daemon.flatMap { Self.cpuSeconds(pid: $0.processIdentifier) }
    }

    /// CPU time process `pid` has used so far (user + system, all threads), in seconds.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name: state is field 3; utime and stime are 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func stopDaemon() {
        guard let p = daemon else { return }
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        daemon = nil
    }

    /// Stops the daemon; the files go at the end of the run (`removeAll`): deleting tens
    /// of thousands of files slows the next suite's file creation on this machine's ext4
    /// (it skips recently freed inodes one by one), which would blame the gateway for the
    /// harness.
    func cleanUp() {
        stopDaemon()
        Self.leftovers.withLock { $0.append(root) }
    }

    static let leftovers = BenchLocked<[URL]>([])
    /// Every fixture of this run, removed on an interrupt too (unless BENCH_KEEP is set).
    static let created = BenchLocked<[URL]>([])

    static func removeAfterInterrupt() {
        if ProcessInfo.processInfo.environment["BENCH_KEEP"] != nil { return }
        let roots = created.withLock { $0 }
        for root in roots { try? FileManager.default.removeItem(at: root) }
        if !roots.isEmpty { markCleanUp() }
    }

    static func removeAll() {
        if ProcessInfo.processInfo.environment["BENCH_KEEP"] != nil { return }
        let roots = leftovers.withLock { $0 }
        for root in roots { try? FileManager.default.removeItem(at: root) }
        if !roots.isEmpty { markCleanUp() }
    }

    // A journal-less ext4 (this VM's) skips every inode freed in the last 60 s when it
    // makes a file, so a run that starts right after another run removed its tens of
    // thousands of files measures that, not the gateway (4,200–5,700 instead of ~8,500
    // pickups a second). The clean-up leaves a stamp; the next run waits out the minute.
    static let cleanUpStamp = FileManager.default.temporaryDirectory.appendingPathComponent("gw-bench-cleaned-up")

    static func markCleanUp() {
        FileManager.default.createFile(atPath: cleanUpStamp.path, contents: Data())
    }

    /// Sleeps until 60 s after the previous run's clean-up, saying so on stderr.
    static func waitForFileSystem() {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: cleanUpStamp.path),
              let cleaned = attributes[.modificationDate] as? Date else { return }
        let wait = 61 - Date().timeIntervalSince(cleaned)
        guard wait > 0 else { return }
        FileHandle.standardError.write("# waiting \(Int(wait.rounded(.up))) s after the previous run's clean-up (file-system artefact, docs/operations.md)\n".data(using: .utf8)!)
        Thread.sleep(forTimeInterval: wait)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
    init(message: String) { description = message }
}

/// Percentile of sorted values (nearest rank).
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    // The tolerance keeps a rank that is whole in decimal whole in binary (99.9 % of 5,000
    // is 4,995, not 4,995.000000000001 → 4,996).
    let rank = Int((p / 100 * Double(sorted.count) - 1e-9).rounded(.up)) - 1
    return sorted[max(0, min(sorted.count - 1, rank))]
}

final class BenchLocked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
