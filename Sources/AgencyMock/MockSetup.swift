// MockSetup: turns the configuration into loaded keys, certificates, trust stores and the
// schema validator, once, at start-up. Everything that can be wrong with a file is found
// here and reported with the configuration key that named it, so a broken setup fails
// before any listener opens instead of on the first request.
import Foundation
import GatewayCrypto
import GatewaySchema
import NIOSSL

/// What one agency listener needs.
struct AgencySetup: Sendable {
    let id: String
    let port: Int
    let tls: TLSConfiguration
    let http2: Bool
    let intake: MessageIntake
}

struct MockSetup: Sendable {
    let agencies: [AgencySetup]
    let controlPort: Int
    let state: MockState

    /// Loads every file named by `configuration`.
    /// - Throws: `MockConfiguration.Error` naming the key whose file is at fault.
    init(_ configuration: MockConfiguration) throws(MockConfiguration.Error) {
        func attempt<T>(_ key: String, _ body: () throws -> T) throws(MockConfiguration.Error) -> T {
            do { return try body() } catch {
                throw MockConfiguration.Error(key: key, line: nil, message: "\(error)")
            }
        }
        let anchors = try attempt("gatewaySigningAnchors") {
            try TrustStore.load(anchorsPath: configuration.gatewaySigningAnchors, crlPaths: configuration.gatewaySigningCRLs)
        }
        // The client CA goes to BoringSSL (through NIOSSL) for the handshake; it is read here once
        // for all agencies. Loading it through GatewayCrypto too gives a clear error for a bad file.
        let clientCA = try attempt("clientCA") { () throws -> [NIOSSLCertificate] in
            _ = try Certificate.load(path: configuration.clientCA)
            return try NIOSSLCertificate.fromPEMBytes(Array(try Self.read(configuration.clientCA)))
        }
        let validator = try configuration.schemas.map { (directory) throws(MockConfiguration.Error) in
            try attempt("schemas") { try MessageValidator(schemasDirectory: URL(fileURLWithPath: directory)) }
        }
        let state = MockState(agencies: configuration.agencies.map(\.id))

        var agencies: [AgencySetup] = []
        for (i, agency) in configuration.agencies.enumerated() {
            let key = "agencies[\(i)]"
            let signer = try attempt("\(key).receiptKey/receiptChain") {
                try JWSSigner(key: PrivateKey.load(path: agency.receiptKey), chain: Certificate.load(path: agency.receiptChain))
            }
            let chain = try attempt("\(key).tlsCertificate") { () throws -> [NIOSSLCertificate] in
                _ = try Certificate.load(path: agency.tlsCertificate)
                return try NIOSSLCertificate.fromPEMBytes(Array(try Self.read(agency.tlsCertificate)))
            }
            let tlsKey = try attempt("\(key).tlsKey") { () throws -> NIOSSLPrivateKey in
                _ = try PrivateKey.load(path: agency.tlsKey)   // refuses a key others can read
                return try NIOSSLPrivateKey(bytes: Array(try Self.read(agency.tlsKey)), format: .pem)
            }
            var tls = TLSConfiguration.makeServerConfigurationWithMTLS(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(tlsKey),
                trustRoots: .certificates(clientCA))
            tls.minimumTLSVersion = .tlsv12
            // Build the context once now, so a key that does not match its certificate is a
            // start-up error naming the agency, not a handshake failure later.
            _ = try attempt("\(key).tlsCertificate/tlsKey") { try NIOSSLContext(configuration: tls) }
            let intake = MessageIntake(agency: agency.id, signer: signer, anchors: anchors, validator: validator, state: state)
            agencies.append(AgencySetup(id: agency.id, port: agency.port, tls: tls, http2: agency.http2, intake: intake))
        }
        self.agencies = agencies
        self.controlPort = configuration.controlPort
        self.state = state
    }

    private static func read(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        return data
    }
}
