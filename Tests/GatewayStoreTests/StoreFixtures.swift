import Foundation
import GatewayCrypto
import GatewayModel
import GatewayStore
import GatewayTestSupport

/// A queue on a fresh temporary file.
func makeStore() throws -> (QueueStore, URL) {
    let dir = try TestPaths.temporaryDirectory("queue")
    let path = dir.appendingPathComponent("queue.sqlite")
    return (try QueueStore(path: path.path), path)
}

func message(_ id: String, sender: String = "PL-KGP", priority: Priority = .routine, digest: String = "d1",
             recipients: [(String, String)] = [("EU-EUROPOL", "europol")], expiresAt: Millis? = nil) -> NewMessage {
    NewMessage(sender: sender, messageId: id, type: "alert", priority: priority, classification: .restricted,
               subject: "s", createdAt: 1_000, expiresAt: expiresAt, contentDigest: digest, jws: Array("jws-\(id)".utf8),
               sourceFile: "\(id).json", routes: recipients.map { Route(recipient: $0.0, endpoint: $0.1) },
               tracksAcceptedReport: true)
}

/// `message(id, digest:)` carrying a real signed JWS instead of a placeholder.
func message(_ id: String, digest: String, jws: [UInt8]) -> NewMessage {
    var m = message(id, digest: digest)
    m.jws = jws
    return m
}

/// A keyed-digest twin of the gateway's JWS checkpoint signer: enough to tell a checkpoint
/// made with the key from one made without it.
struct KeyedDigestSigner: AuditSigner, AuditVerifier {
    var key: String
    func sign(_ payload: [UInt8], at: Millis = 0) throws -> String {
        Base64URLText.encode(payload) + "." + SHA256.hex(Array(key.utf8) + payload)
    }
    func verify(_ signature: String) throws -> [UInt8] {
        let parts = signature.split(separator: ".")
        guard parts.count == 2, let payload = Base64URLText.decode(String(parts[0])),
              SHA256.hex(Array(key.utf8) + payload) == parts[1] else { throw BadSignature() }
        return payload
    }
    struct BadSignature: Error {}
}

import GatewayJSON
enum Base64URLText {
    static func encode(_ b: [UInt8]) -> String { Base64URL.encode(b) }
    static func decode(_ s: String) -> [UInt8]? { Base64URL.decode(s) }
}

/// Confirms every accepted report listed as unsynced (as the daemon's sync does once they are
/// on disk): retention keeps a message until then.
func confirmAcceptedReports(_ store: QueueStore) throws {
    try store.confirmDurable(acceptedReports: try store.unsyncedAcceptedReports(limit: 100_000).map { ($0.messageRowId, $0.sourceFile) }, writtenReports: [])
}
