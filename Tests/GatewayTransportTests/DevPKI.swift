// The transport tests' additions to the shared dev PKI (GatewayTestSupport.DevPKI).
import Foundation
import GatewayCrypto
import GatewayTestSupport
import GatewayTransport

extension DevPKI {
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
        guard result.status == 0 else { throw DevPKIFixture.Failure(description: "pin computation failed: \(result.stderr)") }
        return "sha256//" + result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
