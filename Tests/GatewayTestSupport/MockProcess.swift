// MockProcess: the real agency-mock executable as a subprocess on ephemeral ports, with the
// dev PKI, stopped at the end of every test whatever happens (`MockProcess.with`).
import Foundation

public final class MockProcess: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible { public let description: String }

    public let process: Process
    public let directory: URL
    /// Agency id → `https://127.0.0.1:PORT/messages`.
    public let agencyURLs: [String: String]
    /// `http://127.0.0.1:PORT`
    public let controlURL: String
    private let output: OutputCollector

    public static let agencies = ["EU-EUROPOL", "EU-FRONTEX"]

    /// The YAML for `agencies` with the dev PKI (absolute paths) and the project's schemas.
    public static func configuration(agencies: [String] = agencies, ports: [String: Int] = [:], controlPort: Int = 0,
                              schemas: Bool = true, http2: Bool = false) throws -> String {
        let pki = try DevPKIFixture.directory().path
        var yaml = """
        control: { port: \(controlPort) }
        clientCA: \(pki)/trust/gateway-tls-clients.pem
        gatewaySigningAnchors: \(pki)/trust/gateway-signing.pem

        """
        if schemas { yaml += "schemas: \(TestPaths.packageRoot.appendingPathComponent("schemas").path)\n" }
        yaml += "agencies:\n"
        for id in agencies {
            let name = id.dropFirst(3).lowercased()   // EU-EUROPOL -> europol
            yaml += """
              - id: \(id)
                port: \(ports[id] ?? 0)
                tlsCertificate: \(pki)/agencies/\(name)/tls-server-chain.pem
                tlsKey: \(pki)/agencies/\(name)/tls-server.key
                receiptKey: \(pki)/agencies/\(name)/receipt.key
                receiptChain: \(pki)/agencies/\(name)/receipt-chain.pem
                http2: \(http2)

            """
        }
        return yaml
    }

    /// Starts the mock with `config` (YAML) written to a fresh directory; waits for READY.
    public static func start(config: String? = nil, portsFile: Bool = false, directory: URL? = nil) throws -> MockProcess {
        let directory = try directory ?? TestPaths.temporaryDirectory("agency-mock")
        let configURL = directory.appendingPathComponent("mock.yaml")
        try Data((config ?? configuration()).utf8).write(to: configURL)
        var arguments = ["--config", configURL.path]
        if portsFile { arguments += ["--ports-file", directory.appendingPathComponent("ports.json").path] }

        let process = Process()
        // AGENCY_MOCK_BINARY picks another build (e.g. .build/release/agency-mock for the throughput figure).
        process.executableURL = ProcessInfo.processInfo.environment["AGENCY_MOCK_BINARY"].map(URL.init(fileURLWithPath:))
            ?? TestPaths.product("agency-mock")
        process.arguments = arguments
        let output = OutputCollector()
        process.standardOutput = output.stdout
        process.standardError = output.stderr
        try process.run()
        output.startReading()

        // READY lines come once every listener is bound; 30 s covers a loaded CI machine.
        let deadline = Date().addingTimeInterval(30)
        while !output.stdoutText.contains("READY control=") {
            if !process.isRunning || Date() > deadline {
                if process.isRunning { process.terminate() }
                process.waitUntilExit()
                throw Failure(description: "agency-mock did not start: stdout \(output.stdoutText) stderr \(output.stderrText)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        var urls: [String: String] = [:]
        var control = ""
        for line in output.stdoutText.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.first == "READY" else { continue }
            if fields[1].hasPrefix("agency="), fields.count == 3 {
                urls[String(fields[1].dropFirst(7))] = String(fields[2].dropFirst(4))
            } else if fields[1].hasPrefix("control=") {
                control = String(fields[1].dropFirst(8))
            }
        }
        return MockProcess(process: process, directory: directory, agencyURLs: urls, controlURL: control, output: output)
    }

    private init(process: Process, directory: URL, agencyURLs: [String: String], controlURL: String, output: OutputCollector) {
        self.process = process
        self.directory = directory
        self.agencyURLs = agencyURLs
        self.controlURL = controlURL
        self.output = output
    }

    /// Runs `body` with a started mock and always stops it afterwards.
    public static func with<T>(config: String? = nil, portsFile: Bool = false,
                        _ body: (MockProcess) async throws -> T) async throws -> T {
        let mock = try start(config: config, portsFile: portsFile)
        defer { mock.stop() }
        return try await body(mock)
    }

    public func url(_ agency: String = "EU-EUROPOL") -> String { agencyURLs[agency] ?? "https://127.0.0.1:1/missing" }

    public var stderrText: String { output.stderrText }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s. Returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A test that failed between the start and its `defer { stop() }` leaves no mock behind.
    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Reads a child's stdout and stderr on background threads as they come.
public final class OutputCollector: @unchecked Sendable {
    public let stdout = Pipe()
    public let stderr = Pipe()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()

    public init() {}

    public func startReading() {
        for (pipe, isOut) in [(stdout, true), (stderr, false)] {
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return }
                    lock.lock()
                    if isOut { out.append(chunk) } else { err.append(chunk) }
                    lock.unlock()
                }
            }
        }
    }

    public var stdoutText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
    public var stderrText: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
}

extension MockProcess {
    /// Calls the control API with the curl command-line tool; returns the body.
    @discardableResult
    public func control(_ method: String, _ path: String, json: String? = nil) -> String {
        var args = ["-s", "-X", method, controlURL + path]
        if let json { args += ["-H", "Content-Type: application/json", "--data-binary", json] }
        return ProcessRunner.run("/usr/bin/curl", args, timeout: 30).stdout
    }

    /// Ports of the agencies' listeners, by agency id (from the READY lines).
    public var ports: [String: Int] {
        agencyURLs.compactMapValues { url in URL(string: url)?.port }
    }
}
