// A gateway installation in a temporary folder: configuration, spool, queue, the dev PKI;
// and gatewayd run as a real process on it.
import Foundation

public final class GatewayFixture: @unchecked Sendable {
    public let root: URL
    public let configPath: String
    public let spool: URL
    public let queuePath: String
    public static let units = ["PL-KGP", "PL-CBSP", "PL-CBZC", "PL-KAS", "PL-CBA", "PL-ABW"]
    public static let agencies: [(id: String, name: String)] = [
        ("EU-EUROPOL", "europol"), ("EU-FRONTEX", "frontex"), ("EU-EUROJUST", "eurojust"), ("EU-CEPOL", "cepol"), ("EU-OLAF", "olaf"),
    ]

    /// - Parameters:
    ///   - ports: agency endpoint ports (default: a closed port, for pickup-only tests).
    ///   - ceilings: classification ceiling per endpoint name (default SECRET UE/EU SECRET).
    ///   - extra: YAML appended under the top level (e.g. "retry:\n  initialBackoff: 100ms").
    public init(ports: [String: Int] = [:], ceilings: [String: String] = [:], rescan: String = "2s", maxFileSize: String = "50MB",
                extraSpool: String = "", extra: String = "") throws {
        root = try TestPaths.temporaryDirectory("gw")
        spool = root.appendingPathComponent("spool")
        try FileManager.default.createDirectory(at: spool, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("queue"), withIntermediateDirectories: true)
        queuePath = root.appendingPathComponent("queue/queue.sqlite").path
        let pki = try DevPKIFixture.directory().path
        var yaml = """
            gateway:
              id: PL-GW
              units: [\(Self.units.joined(separator: ", "))]
            spool:
              directory: \(spool.path)
              rescanInterval: \(rescan)
              maxFileSize: \(maxFileSize)
            \(extraSpool)
            queue:
              path: \(queuePath)
              checkpointInterval: 1s
            signing:
              key: \(pki)/gateway/signing.key
              chain: \(pki)/gateway/signing-chain.pem
              trustAnchors: \(pki)/trust/gateway-signing.pem
            tls:
              clientKey: \(pki)/gateway/tls-client.key
              clientCertificate: \(pki)/gateway/tls-client-chain.pem
            endpoints:

            """
        for (_, name) in Self.agencies {
            yaml += """
                  \(name):
                    url: https://127.0.0.1:\(ports[name] ?? 9)/messages
                    ca: \(pki)/trust/agencies/\(name)-tls.pem
                    receiptTrustAnchors: \(pki)/trust/agencies/\(name)-receipts.pem
                    classificationCeiling: \(ceilings[name] ?? "SECRET UE/EU SECRET")

                """
        }
        yaml += "routes:\n"
        for (id, name) in Self.agencies { yaml += "  \(id): \(name)\n" }
        yaml += extra
        configPath = root.appendingPathComponent("gateway.yml").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    public func outbox(_ unit: String) -> URL { spool.appendingPathComponent("\(unit)/outbox") }
    public func rejected(_ unit: String) -> URL { spool.appendingPathComponent("\(unit)/rejected") }
    public func reports(_ unit: String) -> URL { spool.appendingPathComponent("\(unit)/reports") }

    /// Drops `bytes` as the unit must: a dot-prefixed temporary name, then rename.
    public func drop(_ bytes: [UInt8], unit: String, name: String) throws {
        let dir = outbox(unit)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let temp = dir.appendingPathComponent(".\(name).tmp")
        try Data(bytes).write(to: temp)
        guard rename(temp.path, dir.appendingPathComponent(name).path) == 0 else {
            throw DevPKIFixture.Failure(description: "rename failed: \(String(cString: strerror(errno)))")
        }
    }

    public func files(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Runs gatewayctl against this installation.
    public func ctl(_ arguments: [String], input: Data? = nil) -> ProcessRunner.Result {
        ProcessRunner.run(TestPaths.product("gatewayctl").path, ["--config", configPath] + arguments, input: input)
    }
}

/// gatewayd as a real process.
public final class DaemonProcess: @unchecked Sendable {
    public let process = Process()
    public let logURL: URL

    public init(configPath: String, logURL: URL, environment: [String: String] = [:]) throws {
        self.logURL = logURL
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        log.seekToEndOfFile()
        process.executableURL = TestPaths.product("gatewayd")
        process.arguments = ["--config", configPath]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try process.run()
    }

    /// Starts gatewayd and waits for its "gatewayd started" line (or its exit).
    public static func start(_ fixture: GatewayFixture, environment: [String: String] = [:], timeout: Double = 30) throws -> DaemonProcess {
        let d = try DaemonProcess(configPath: fixture.configPath, logURL: fixture.root.appendingPathComponent("gatewayd.log"), environment: environment)
        let started = waitUntil(timeout: timeout) { d.log.contains("msg=\"gatewayd started\"") || !d.process.isRunning }
        guard started, d.process.isRunning else {
            d.kill()
            throw DevPKIFixture.Failure(description: "gatewayd did not start:\n\(d.log)")
        }
        return d
    }

    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// SIGTERM and wait (bounded); returns the exit status.
    @discardableResult
    public func stop(timeout: Double = 30) -> Int32 {
        if process.isRunning { process.terminate() }
        _ = waitUntil(timeout: timeout) { !process.isRunning }
        if process.isRunning { kill() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits (bounded) for a daemon expected to end by itself (refusing to start): true
    /// when it did; a daemon still running after `timeout` is killed and false returned,
    /// so that a regression fails the test instead of hanging the run.
    @discardableResult
    public func exits(within timeout: Double = 60) -> Bool {
        if waitUntil(timeout: timeout, interval: 0.05, { !process.isRunning }) { return true }
        kill()
        return false
    }

    public func signal(_ sig: Int32) { Foundation.kill(process.processIdentifier, sig) }

    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) } }
}
