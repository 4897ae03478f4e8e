// Mutual TLS: a client without a certificate, or with one from a CA other than clientCA,
// never gets to HTTP; the gateway's client certificate does, and the agency's server
// certificate verifies against that agency's TLS anchors.
import GatewayTestSupport
import Foundation
import GatewayCrypto
import Testing

extension AgencyMockTests {
    @Suite struct MutualTLS {
        @Test func clientCertificateIsRequiredAndMustChainToClientCA() async throws {
            try await MockProcess.with { mock in
                let message = try Messages.make()
                let body = try Messages.sign(message).flattenedJSON

                let anonymous = try Curl.postMessage(mock.url(), body: body, idempotencyKey: Messages.id(message), certificate: .none)
                #expect(anonymous.status == 0, "no HTTP answer without a client certificate")
                #expect(anonymous.exitCode != 0)
                #expect(anonymous.stderr.contains("certificate required") || anonymous.stderr.contains("alert"), "\(anonymous.stderr)")

                let stranger = try Curl.postMessage(mock.url(), body: body, idempotencyKey: Messages.id(message),
                                                    certificate: .pki("bad/wrong-ca"))
                #expect(stranger.status == 0)
                #expect(stranger.exitCode != 0)
                #expect(stranger.stderr.contains("unknown ca") || stranger.stderr.contains("alert"), "\(stranger.stderr)")

                let expired = try Curl.postMessage(mock.url(), body: body, idempotencyKey: Messages.id(message),
                                                   certificate: .pki("bad/expired"))
                #expect(expired.status == 0, "an expired client certificate is refused too")

                // Nothing got through; the real client certificate does.
                #expect(try Curl.control("GET", "\(mock.controlURL)/received?agency=EU-EUROPOL").json == .array([]))
                let gateway = try Curl.postMessage(mock.url(), body: body, idempotencyKey: Messages.id(message))
                #expect(gateway.status == 201, "\(gateway.stderr)")
            }
        }

        @Test func eachAgencyListensOnItsOwnPortAndSignsWithItsOwnReceiptKey() async throws {
            try await MockProcess.with { mock in
                let message = try Messages.make(recipients: ["EU-FRONTEX"])
                let result = try Curl.postMessage(mock.url("EU-FRONTEX"), agency: "EU-FRONTEX", body: Messages.sign(message).flattenedJSON,
                                                  idempotencyKey: Messages.id(message))
                #expect(result.status == 201, "\(result.stderr)")
                let receipt = try JWSVerifier().verify(result.body, trustStore: Messages.receiptAnchors("EU-FRONTEX"))
                #expect(receipt.signerSubject?.contains("EU-FRONTEX receipts") == true)
                #expect(try receipt.payloadJSON()["recipient"] == "EU-FRONTEX")
            }
        }
    }
}

