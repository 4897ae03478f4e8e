// TestServer: a Python test server from Resources/ (the HTTPS server or the CONNECT proxy)
// as a subprocess on 127.0.0.1 with an ephemeral port. It exits when its stdin closes, so
// even a crashed test process does not leave it behind; stop() (or deinit) ends it at once.
import Foundation
import GatewayTestSupport
import GatewayTransport
#if canImport(Glibc)
import Glibc
#endif

final class TestServer: @unchecked Sendable {
    // @unchecked: `stopped` and `output` are guarded by `lock`; the rest is immutable after init.
    struct Failure: Error, CustomStringConvertible { let description: String }

    private let process: Process
    private let stdin: Pipe
    private let lock = NSLock()
    private var stopped = false
    private var output: [String] = []

    static func resource(_ name: String) -> String {
        TestPaths.packageRoot.appendingPathComponent("Tests/GatewayTransportTests/Resources/\(name)").path
    }

    /// Starts the HTTPS server presenting `identity` (PKI base name, e.g.
    /// "agencies/europol/tls-server"); with `clientCA` (relative to the PKI, or absolute),
    /// it requires client certificates chaining to those anchors.
    static func start(identity: String = "agencies/europol/tls-server",
                      clientCA: String? = "trust/gateway-tls-clients.pem") async throws -> TestServer {
        var arguments = ["--cert", try DevPKI.path("\(identity)-chain.pem"), "--key", try DevPKI.path("\(identity).key")]
        if let clientCA { arguments += ["--client-ca", clientCA.hasPrefix("/") ? clientCA : try DevPKI.path(clientCA)] }
        return try await start(script: "https_test_server.py", arguments: arguments)
    }

    /// Starts the CONNECT proxy; it reports each tunnel as a "TUNNEL host:port" line.
    static func proxy() async throws -> TestServer {
        try await start(script: "connect_proxy.py", arguments: [])
    }

    /// Runs a Python script from Resources/ and waits (at most 30 s) for its "PORT <n>" line.
    /// The wait polls with Task.sleep: blocking one of the cooperative pool's threads (two
    /// on this machine) while Python starts would stall every other test in the process.
    static func start(script: String, arguments: [String]) async throws -> TestServer {
        let server = try TestServer(script: script, arguments: arguments)
        let deadline = Date().addingTimeInterval(30)
        while server.lock.withLock({ server.output.isEmpty }) && Date() < deadline && server.process.isRunning {
            try await Task.sleep(for: .milliseconds(10))
        }
        guard server.port > 0 else {
            server.stop()
            throw Failure(description: "\(script) did not report its port (got \(server.lock.withLock { server.output.first } ?? "nothing"))")
        }
        return server
    }

    private init(script: String, arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.resource(script)] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.stdin = stdin

        // Every stdout line is kept, read by a dedicated thread. Not DispatchQueue.global():
        // on Linux, Swift concurrency's executor runs on the same dispatch root queue, and a
        // dozen readers blocked there for the servers' lifetime starved every test.
        let handle = stdout.fileHandleForReading
        Thread { [self] in
            var bytes: [UInt8] = []
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                bytes += data
                while let newline = bytes.firstIndex(of: 0x0A) {
                    let line = String(decoding: bytes[..<newline], as: UTF8.self)
                    bytes.removeSubrange(...newline)
                    lock.withLock { output.append(line) }
                }
            }
        }.start()
    }

    deinit { stop() }

    /// The port from the "PORT <n>" line (0 before it came).
    var port: Int {
        guard let line = lock.withLock({ output.first }), line.hasPrefix("PORT ") else { return 0 }
        return Int(line.dropFirst(5)) ?? 0
    }

    func url(_ path: String) -> String { "https://127.0.0.1:\(port)\(path)" }

    /// The lines printed after the port line.
    var reports: [String] { lock.withLock { Array(output.dropFirst()) } }

    func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        try? stdin.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on: bound to learn a free port, then closed.
func unusedLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            _ = bind(fd, raw, length)
            _ = getsockname(fd, raw, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Decodes the /echo endpoint's JSON answer.
struct Echo: Decodable {
    let method: String
    let path: String
    let headers: [String: String]
    let bodyLength: Int
    let bodySHA256: String
    let clientSubject: String
    let tlsVersion: String
    let connection: Int
    let requestOnConnection: Int

    init(_ response: HTTPSResponse) throws {
        self = try JSONDecoder().decode(Echo.self, from: Data(response.body))
    }
}

/// Counts completions per request, to prove each is called exactly once, and notes when
/// each came (on the engine thread: free of the test's own scheduling delays).
final class CompletionLog: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var calls: [Int: [Result<HTTPSResponse, TransportError>]] = [:]
    private var firstCalled: [Int: Date] = [:]
    private var expected = 0

    /// A completion for request `index`.
    func handler(_ index: Int) -> @Sendable (Result<HTTPSResponse, TransportError>) -> Void {
        lock.withLock { expected += 1 }
        return { result in
            let now = Date()
            self.lock.withLock {
                self.calls[index, default: []].append(result)
                if self.firstCalled[index] == nil { self.firstCalled[index] = now }
            }
        }
    }

    /// Waits up to `seconds` for every handler made to have been called. It polls with
    /// Task.sleep rather than blocking: a blocked thread of the small cooperative pool (two
    /// on this machine) would stall every other test running in parallel.
    func wait(seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if lock.withLock({ firstCalled.count >= expected }) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return lock.withLock { firstCalled.count >= expected }
    }

    var results: [Int: [Result<HTTPSResponse, TransportError>]] { lock.withLock { calls } }

    /// When request `index` first completed.
    func completedAt(_ index: Int) -> Date? { lock.withLock { firstCalled[index] } }
}

extension Result where Success == HTTPSResponse, Failure == TransportError {
    var response: HTTPSResponse? { if case .success(let response) = self { return response } else { return nil } }
    var error: TransportError? { if case .failure(let error) = self { return error } else { return nil } }
}
