// The development PKI for the agency-mock tests (as in GatewayCryptoTests): certs/make-dev-pki.sh run once per test process into a
// temporary directory named after the script's digest (a changed script makes a fresh PKI;
// the script itself is idempotent and serialises concurrent runs with flock).
import Foundation
import GatewayCrypto
import GatewayTestSupport

enum DevPKI {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// The one dev PKI of the test process, shared with MockProcess (GatewayTestSupport).
    static func directory() throws -> URL { try DevPKIFixture.directory() }


    /// Absolute path of a file in the PKI, e.g. "gateway/signing.key".
    static func path(_ relative: String) throws -> String {
        try directory().appendingPathComponent(relative).path
    }

    static func certificates(_ relative: String) throws -> [Certificate] {
        try Certificate.load(path: path(relative))
    }

    static func key(_ relative: String) throws -> PrivateKey {
        try PrivateKey.load(path: path(relative))
    }

    /// The dev root as the only anchor, with the issuing CA's CRL unless `crl` is false.
    static func trustStore(crl: Bool = true) throws -> TrustStore {
        try TrustStore.load(anchorsPath: path("trust/gateway-signing.pem"),
                            crlPaths: crl ? [path("ca/issuing-ca.crl.pem")] : [])
    }

    /// A signer for a PKI identity, e.g. "gateway/signing" or "bad/expired".
    static func signer(_ base: String, algorithm: JWSAlgorithm? = nil) throws -> JWSSigner {
        try JWSSigner(key: key("\(base).key"), chain: certificates("\(base)-chain.pem"), algorithm: algorithm)
    }
}

/// Runs a program to completion and collects its output.
enum Subprocess {
    /// Written by one reader thread, read after `group.wait()`: the group orders the accesses.
    private final class Box: @unchecked Sendable { var data = Data() }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin)) }
        try input.fileHandleForWriting.close()
        // Read both pipes before waiting, so a chatty child cannot block on a full pipe.
        let stderrBox = Box()
        let group = DispatchGroup()
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async(group: group) { stderrBox.data = errHandle.readDataToEndOfFile() }
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let stderrData = stderrBox.data
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                      stderr: String(decoding: stderrData, as: UTF8.self))
    }
}
