// TestServer: the Python HTTPS test server (Resources/https_test_server.py) as a subprocess
// on 127.0.0.1 with an ephemeral port. It exits when its stdin closes, so even a crashed
// test process does not leave it behind; stop() (or deinit) ends it at once.
import Foundation
import GatewayTestSupport
import GatewayTransport
#if canImport(Glibc)
import Glibc
#endif

final class TestServer: @unchecked Sendable {
    // @unchecked: `stopped` is guarded by `lock`; the rest is immutable after init.
    struct Failure: Error, CustomStringConvertible { let description: String }

    let port: Int
    private let process: Process
    private let stdin: Pipe
    private let lock = NSLock()
    private var stopped = false

    static let script = TestPaths.packageRoot
        .appendingPathComponent("Tests/GatewayTransportTests/Resources/https_test_server.py").path

    /// Starts a server presenting `identity` (PKI base name, e.g. "agencies/europol/tls-server");
    /// with `clientCA`, it requires client certificates chaining to those anchors.
    init(identity: String = "agencies/europol/tls-server",
         clientCA: String? = "trust/gateway-tls-clients.pem") throws {
        var arguments = [Self.script, "--cert", try DevPKI.path("\(identity)-chain.pem"),
                         "--key", try DevPKI.path("\(identity).key")]
        if let clientCA { arguments += ["--client-ca", try DevPKI.path(clientCA)] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.stdin = stdin

        // The first line is "PORT <n>"; wait for it at most 20 seconds.
        let line = Self.firstLine(of: stdout.fileHandleForReading, timeout: 20)
        guard let line, line.hasPrefix("PORT "), let port = Int(line.dropFirst(5)) else {
            process.terminate()
            throw Failure(description: "test server did not report its port (got \(line ?? "nothing"))")
        }
        self.port = port
    }

    deinit { stop() }

    func url(_ path: String) -> String { "https://127.0.0.1:\(port)\(path)" }

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

    private final class LineBox: @unchecked Sendable { var line: String? }

    private static func firstLine(of handle: FileHandle, timeout: Double) -> String? {
        let box = LineBox()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var bytes: [UInt8] = []
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                bytes += data
                if let newline = bytes.firstIndex(of: 0x0A) {
                    box.line = String(decoding: bytes[..<newline], as: UTF8.self)
                    break
                }
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        return box.line
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

/// Counts completions per request, to prove each is called exactly once.
final class CompletionLog: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var calls: [Int: [Result<HTTPSResponse, TransportError>]] = [:]
    private let group = DispatchGroup()

    /// A completion for request `index`; wait() returns when every handler made was called.
    func handler(_ index: Int) -> @Sendable (Result<HTTPSResponse, TransportError>) -> Void {
        group.enter()
        return { result in
            let first = self.lock.withLock { () -> Bool in
                self.calls[index, default: []].append(result)
                return self.calls[index]!.count == 1
            }
            if first { self.group.leave() }
        }
    }

    /// Waits up to `seconds` for every handler to have been called once.
    func wait(seconds: Double) -> Bool {
        group.wait(timeout: .now() + seconds) == .success
    }

    var results: [Int: [Result<HTTPSResponse, TransportError>]] { lock.withLock { calls } }
}

extension Result where Success == HTTPSResponse, Failure == TransportError {
    var response: HTTPSResponse? { if case .success(let response) = self { return response } else { return nil } }
    var error: TransportError? { if case .failure(let error) = self { return error } else { return nil } }
}
