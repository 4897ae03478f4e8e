// The development PKI for the transport tests: certs/make-dev-pki.sh run once per test
// process into a temporary directory named after the script's digest (the same directory
// the crypto tests use; the script is idempotent and serialises concurrent runs with flock).
import Foundation
import GatewayCrypto
import GatewayTestSupport
import GatewayTransport

enum DevPKI {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private static let made: Result<URL, Failure> = {
        let script = TestPaths.packageRoot.appendingPathComponent("certs/make-dev-pki.sh")
        guard let body = FileManager.default.contents(atPath: script.path) else {
            return .failure(Failure(description: "cannot read \(script.path)"))
        }
        let digest = SHA256.hex(Array(body)).prefix(12)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-devpki-\(digest)")
        do {
            let result = try Subprocess.run("/bin/bash", [script.path, directory.path])
            guard result.status == 0 else {
                return .failure(Failure(description: "make-dev-pki.sh failed (\(result.status)): \(result.stderr)"))
            }
        } catch {
            return .failure(Failure(description: "cannot run make-dev-pki.sh: \(error)"))
        }
        return .success(directory)
    }()

    /// Absolute path of a file in the PKI, e.g. "gateway/tls-client.key".
    static func path(_ relative: String) throws -> String {
        try made.get().appendingPathComponent(relative).path
    }

    /// Client settings for an identity (e.g. "gateway/tls-client" or "bad/wrong-ca"),
    /// trusting `anchors` for the server.
    static func tls(client identity: String = "gateway/tls-client",
                    anchors: String = "trust/agencies/europol-tls.pem",
                    pin: String? = nil) throws -> TLSClientSettings {
        TLSClientSettings(clientCertificatePath: try path("\(identity)-chain.pem"),
                          clientKeyPath: try path("\(identity).key"),
                          caBundlePath: try path(anchors),
                          pinnedPublicKey: pin)
    }

    /// curl's pin for a certificate's public key, computed with the openssl CLI (an
    /// implementation independent of libcurl's own pin check).
    static func pin(ofCertificate relative: String) throws -> String {
        let file = try path(relative)
        let script = "openssl x509 -in '\(file)' -pubkey -noout | openssl pkey -pubin -outform der"
            + " | openssl dgst -sha256 -binary | base64"
        let result = try Subprocess.run("/bin/bash", ["-c", script])
        guard result.status == 0 else { throw Failure(description: "pin computation failed: \(result.stderr)") }
        return "sha256//" + result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Runs a program to completion and collects its output.
enum Subprocess {
    /// Written by one reader thread, read after `done.wait()`: the semaphore orders the accesses.
    private final class Box: @unchecked Sendable { var data = Data() }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes before waiting, so a chatty child cannot block on a full pipe.
        // The stderr reader is a dedicated thread, not DispatchQueue.global(): see TestServer.
        let stderrBox = Box()
        let done = DispatchSemaphore(value: 0)
        let errHandle = err.fileHandleForReading
        Thread {
            stderrBox.data = errHandle.readDataToEndOfFile()
            done.signal()
        }.start()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                      stderr: String(decoding: stderrBox.data, as: UTF8.self))
    }
}
