// Days to expiry of every certificate the configuration names (gatewayd warns in its log,
// gatewayctl certs shows them).

import Foundation
import GatewayCrypto
import GatewayModel

public enum CertificateExpiry {
    /// (use, days left, subject) per certificate; unreadable files are skipped (the
    /// configuration check reports them).
    public static func check(_ config: GatewayConfig, at date: Date = Date()) -> [(use: String, days: Int, subject: String)] {
        var files: [(String, String)] = [("signing", config.signing.chain), ("tls client", config.tls.clientCertificate)]
        if let a = config.signing.trustAnchors { files.append(("signing anchors", a)) }
        for (name, e) in config.endpoints.sorted(by: { $0.key < $1.key }) {
            files.append(("\(name) server CA", e.ca))
            if let r = e.receiptTrustAnchors { files.append(("\(name) receipt anchors", r)) }
        }
        var result: [(String, Int, String)] = []
        for (use, file) in files {
            guard let certificates = try? Certificate.load(path: file) else { continue }
            for c in certificates { result.append((use, c.daysUntilExpiry(at: date), c.subject)) }
        }
        return result
    }
}
