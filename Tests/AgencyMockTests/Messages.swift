// Messages: gateway messages for the tests, made from the schema examples and signed here
// with the dev PKI (JWSSigner, x5c = the signer's chain), as the gateway would sign them.
import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayTestSupport
import Testing

/// The whole suite runs one test at a time: each starts its own mock process, and the
/// stall tests measure time, which parallel neighbours on two cores would blur.
@Suite(.serialized) struct AgencyMockTests {}

enum Messages {
    /// A valid example message with a fresh messageId and the given recipients.
    static func make(_ example: String = "alert--threat-to-life", recipients: [String] = ["EU-EUROPOL"],
                     messageId: String = UUID().uuidString.lowercased()) throws -> JSON {
        let url = TestPaths.packageRoot.appendingPathComponent("schemas/examples/valid/\(example).json")
        guard case .object(var members) = try JSON.parse(Array(try Data(contentsOf: url))) else {
            throw CocoaError(.fileReadCorruptFile)
        }
        members["messageId"] = .string(messageId)
        members["recipients"] = .array(recipients.map { .string($0) })
        return .object(members)
    }

    /// Signs `message` as the PKI identity `signer` ("gateway/signing", "bad/expired", ...).
    static func sign(_ message: JSON, as signer: String = "gateway/signing") throws -> JWS {
        try DevPKI.signer(signer).sign(message)
    }

    static func id(_ message: JSON) -> String { message["messageId"]?.stringValue ?? "" }

    /// The agency's receipt anchors (trust/agencies/<name>-receipts.pem).
    static func receiptAnchors(_ agency: String = "EU-EUROPOL") throws -> TrustStore {
        try TrustStore.load(anchorsPath: DevPKI.path("trust/agencies/\(agency.dropFirst(3).lowercased())-receipts.pem"))
    }
}
