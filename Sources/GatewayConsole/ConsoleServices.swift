// What the console builds from the daemon's configuration: the audit verifier and the
// trust anchors for verifying signed files.

import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayModel
import GatewayStore

enum ConsoleServices {
    /// Verifies audit checkpoints: against signing.trustAnchors, else the signing certificate.
    static func auditVerifier(_ config: GatewayConfig) throws -> (any AuditVerifier)? {
        var trust: TrustStore? = nil
        if let anchors = config.signing.trustAnchors {
            do { trust = try TrustStore.load(anchorsPath: anchors, crlPaths: config.signing.crl.map { [$0] } ?? []) } catch {
                Console.error("signing.trustAnchors: \(error)")
                throw ExitCode(1)
            }
        }
        // The signing certificate: whose signatures checkpoints must be (with anchors), or the
        // key they are checked with (without). Why it cannot be used is said either way.
        var certificate: Certificate? = nil
        var key: PublicKey? = nil
        var problem = ""
        do {
            certificate = try Certificate.load(path: config.signing.chain).first
            key = try certificate?.publicKey()
        } catch {
            problem = ": \(error)"
        }
        if trust != nil && certificate == nil {
            // Without it, any certificate under the anchors would pass for the gateway's.
            Console.error("cannot read the signing certificate \(config.signing.chain)\(problem): it says whose signatures checkpoints must be")
            throw ExitCode(1)
        }
        if trust == nil && key == nil {
            Console.error("cannot read the signing certificate \(config.signing.chain)\(problem): checkpoint signatures will not be checked")
            return nil
        }
        return JWSAuditVerifier(trust: trust, key: key, signerSubject: certificate?.subject)
    }
}
