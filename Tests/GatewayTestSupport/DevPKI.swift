// The development PKI as typed values for tests (keys, certificates, trust stores,
// signers), over the one PKI of the test process (DevPKIFixture).
import Foundation
import GatewayCrypto

public enum DevPKI {
    public static func directory() throws -> URL { try DevPKIFixture.directory() }

    /// Absolute path of a file in the PKI, e.g. "gateway/signing.key".
    public static func path(_ relative: String) throws -> String { try DevPKIFixture.path(relative) }

    public static func certificates(_ relative: String) throws -> [Certificate] {
        try Certificate.load(path: path(relative))
    }

    public static func key(_ relative: String) throws -> PrivateKey {
        try PrivateKey.load(path: path(relative))
    }

    /// The dev root as the only anchor, with the CRLs of both CAs unless `crl` is false.
    public static func trustStore(crl: Bool = true) throws -> TrustStore {
        try TrustStore.load(anchorsPath: path("trust/gateway-signing.pem"), crlPaths: crl ? [path("ca/crls.pem")] : [])
    }

    /// A new CRL of the issuing CA (listing what it revoked) valid from `from` to `until`
    /// seconds from now, followed by the root's CRL, in a new PEM file (for tests of late
    /// or fresh CRLs). Serialised: it updates the CA's CRL number.
    public static func issuingCRL(from: Double, until: Double) throws -> String {
        func stamp(_ offset: Double) -> String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyyMMddHHmmss'Z'"
            return formatter.string(from: Date().addingTimeInterval(offset))
        }
        let out = try TestPaths.temporaryDirectory("crl").appendingPathComponent("crls.pem")
        let issuing = out.deletingLastPathComponent().appendingPathComponent("issuing.pem")
        // The PKI's own lock too (make-dev-pki.sh takes it): other test processes share the CA database.
        let lockFile = try directory().appendingPathComponent(".lock").path
        let result = crlLock.withLock {
            ProcessRunner.run("/usr/bin/env", ["flock", lockFile, "openssl", "ca", "-batch", "-config", (try? path("ca/openssl.cnf")) ?? "", "-name", "issuing", "-gencrl",
                                               "-crl_lastupdate", stamp(from), "-crl_nextupdate", stamp(until), "-out", issuing.path])
        }
        guard result.status == 0 else { throw DevPKIFixture.Failure(description: "openssl ca -gencrl: \(result.stderr)") }
        let root = try Data(contentsOf: URL(fileURLWithPath: try path("ca/root-ca.crl.pem")))
        try (try Data(contentsOf: issuing) + root).write(to: out)
        return out.path
    }

    private static let crlLock = NSLock()

    /// A signer for a PKI identity, e.g. "gateway/signing" or "bad/expired".
    public static func signer(_ base: String, algorithm: JWSAlgorithm? = nil) throws -> JWSSigner {
        try JWSSigner(key: key("\(base).key"), chain: certificates("\(base)-chain.pem"), algorithm: algorithm)
    }
}

/// Runs a program to completion and collects its output (throws when it cannot start).
public enum Subprocess {
    public static func run(_ executable: String, _ arguments: [String], stdin: [UInt8]? = nil, timeout: Double = 120) throws -> ProcessRunner.Result {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw DevPKIFixture.Failure(description: "\(executable) is not an executable")
        }
        return ProcessRunner.run(executable, arguments, input: stdin.map { Data($0) }, timeout: timeout)
    }
}
