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

    /// The dev root as the only anchor, with the issuing CA's CRL unless `crl` is false.
    public static func trustStore(crl: Bool = true) throws -> TrustStore {
        try TrustStore.load(anchorsPath: path("trust/gateway-signing.pem"), crlPaths: crl ? [path("ca/issuing-ca.crl.pem")] : [])
    }

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
