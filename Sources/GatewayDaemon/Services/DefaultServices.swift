// The real services for a configuration: the schema validator, the gateway's signer, the
// delivery engine.

import Foundation
import GatewayCrypto
import GatewayModel

public enum DefaultServices {
    /// - Parameters:
    ///   - validator: the schemas already loaded, or nil to load them.
    ///   - requireUsableSigning: false for a reload (GatewayKeys.load).
    public static func make(_ config: GatewayConfig, validator: SchemaMessageValidator? = nil, requireUsableSigning: Bool = true) throws -> GatewayServices {
        let keys = try GatewayKeys.load(config, requireUsable: requireUsableSigning)
        let signer = keys.messageSigner
        let identity = try GatewayKeys.clientTLSIdentity(config)
        try GatewayKeys.checkEndpointCRLs(config)
        let schemas = try validator ?? SchemaServices.validator()
        let receiptSchema = try ReceiptCheck.loadSchema(from: schemas)
        let keyFiles = [
            "signing": GatewayKeys.fingerprint(of: keys.signingMaterial),
            // The key as re-encoded at load, the certificates as DER: the same material
            // written in another PEM layout (line ends, comments) is not a change.
            "tls": GatewayKeys.fingerprint(of: [identity.key] + (try Certificate.loadAll(pem: identity.chain)).map(\.derBytes)),
        ]
        return GatewayServices(validator: schemas, signer: signer, auditSigner: signer, delivery: { config, store, reports, logger in
            CurlDeliveryTransport.logProtocols(config, logger: logger)
            return try DeliveryEngine(config: config, store: store, reports: reports,
                                      transport: CurlDeliveryTransport(clientKeyPEM: identity.key, clientCertificatePEM: identity.chain),
                                      logger: logger, receiptSchema: receiptSchema)
        }, keyFiles: keyFiles, signingGate: keys.gate, restartProblems: keys.startProblem.map { [$0] } ?? [])
    }
}
