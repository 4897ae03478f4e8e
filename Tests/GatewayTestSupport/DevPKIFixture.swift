// The development PKI for integration tests: certs/make-dev-pki.sh, run once per test
// process into a temporary folder keyed by the script's size and time (the script is
// idempotent and serialises concurrent runs with flock).
import Foundation

public enum DevPKIFixture {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    private static let made: Result<URL, Failure> = {
        let script = TestPaths.packageRoot.appendingPathComponent("certs/make-dev-pki.sh")
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: script.path),
              let size = attributes[.size] as? Int, let modified = attributes[.modificationDate] as? Date
        else { return .failure(Failure(description: "cannot read \(script.path)")) }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("gateway-devpki-it-\(size)-\(Int(modified.timeIntervalSince1970))")
        let result = ProcessRunner.run("/bin/bash", [script.path, directory.path])
        guard result.status == 0 else { return .failure(Failure(description: "make-dev-pki.sh failed: \(result.stderr)")) }
        return .success(directory)
    }()

    public static func directory() throws -> URL { try made.get() }

    public static func path(_ relative: String) throws -> String {
        try directory().appendingPathComponent(relative).path
    }
}

/// Runs a program to completion, collecting its output (for short commands).
public enum ProcessRunner {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
    }

    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           input: Data? = nil, timeout: Double = 120) -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        guard let out = try? FileHandle(forWritingTo: outURL), let err = try? FileHandle(forWritingTo: errURL) else {
            return Result(status: -1, stdout: "", stderr: "cannot create output files")
        }
        p.standardOutput = out
        p.standardError = err
        if let input {
            let pipe = Pipe()
            p.standardInput = pipe
            do { try p.run() } catch { return Result(status: -1, stdout: "", stderr: "\(error)") }
            pipe.fileHandleForWriting.write(input)
            try? pipe.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            do { try p.run() } catch { return Result(status: -1, stdout: "", stderr: "\(error)") }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        try? out.close()
        try? err.close()
        return Result(status: p.terminationStatus,
                      stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
    }
}

/// Polls `condition` until it holds or `timeout` passes. Returns whether it held.
public func waitUntil(timeout: Double, interval: Double = 0.02, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(UInt32(interval * 1_000_000))
    }
    return try condition()
}
