import Foundation
@testable import GatewayDaemon
import GatewayJSON
@testable import GatewayStore
import Testing

@Suite("report bodies and names")
struct ReportBodyTests {
    @Test("the accepted report written directly is byte for byte the JCS of its JSON form")
    func acceptedCanonicalMatchesJCS() throws {
        let awkward = ["plain", "quote \" and backslash \\", "control \u{01}\u{1F} tab\t", "unicode żółć 😀 \u{2028}", "", "é vs e\u{301}"]
        var generator = SystemRandomNumberGenerator()
        for i in 0..<200 {
            let pick = { awkward[Int.random(in: 0..<awkward.count, using: &generator)] }
            let recipients = (0..<Int.random(in: 1...4, using: &generator)).map { _ in pick() }
            let expiresAt: Int64? = i % 3 == 0 ? nil : 1_800_000_000_000 + Int64(i)
            let args = (gatewayId: pick(), messageId: pick() + "\(i)", sender: pick(), file: pick() + ".json",
                        digest: String(repeating: "a", count: 64), at: Int64(1_700_000_000_123 + i))
            let direct = ReportWriter.acceptedCanonical(gatewayId: args.gatewayId, messageId: args.messageId, sender: args.sender, file: args.file,
                                                        digest: args.digest, at: args.at, recipients: recipients, expiresAt: expiresAt)
            let viaJSON = try ReportWriter.acceptedBody(gatewayId: args.gatewayId, messageId: args.messageId, sender: args.sender, file: args.file,
                                                        digest: args.digest, at: args.at, recipients: recipients, expiresAt: expiresAt).canonicalBytes()
            #expect(direct == viaJSON, "\(String(decoding: direct, as: UTF8.self))")
        }
    }

    @Test("the report for a delivery the housekeeping expires follows the report schema, with or without the unit's file name")
    func expiredReportFollowsTheSchema() throws {
        let schema = try SchemaServices.validator().validator.schema(named: "report")
        for file in ["alert-1.json", nil] {
            let e = ExpiredDelivery(deliveryId: 7, messageRowId: 3, sender: "PL-KGP", messageId: "expired-0001", recipient: "EU-OLAF",
                                    endpoint: "olaf", expiresAt: 1_800_000_000_000, sourceFile: file)
            let body = try JSON.parse(Array(try #require(Gateway.expiredReport(e, gatewayId: "PL-GW", now: 1_800_000_100_000)).utf8))
            let result = schema.validate(body)
            #expect(result.isValid, "\(result)")
            #expect(body["file"] == .string(file ?? "expired-0001.json") && body["gateway"] == "PL-GW" && body["endpoint"] == "olaf")
        }
    }

    @Test("report names cannot climb out of the folder or hide")
    func sanitizedNames() {
        #expect(ReportWriter.sanitize("m-0001") == "m-0001")
        #expect(ReportWriter.sanitize("../../etc/passwd") == "_.._etc_passwd")
        #expect(ReportWriter.sanitize(".hidden") == "hidden")
        #expect(ReportWriter.sanitize("...") == "report")
        #expect(ReportWriter.sanitize("") == "report")
        #expect(ReportWriter.sanitize("a\0b") == "a_b")
        #expect(ReportWriter.sanitize(String(repeating: "x", count: 250)).count == 200)
        #expect(ReportWriter.sanitize(String(repeating: "ż", count: 150)) == String(repeating: "ż", count: 150))
        #expect(ReportWriter.sanitize(String(repeating: "ż", count: 250)).count == 200)
    }

    @Test("a recorded report name is used whole: a long file name keeps its recipient and .json")
    func storedNamesAreNotShortened() {
        let stem = String(repeating: "s", count: 190)
        let europol = ReportWriter.name(file: stem + ".json", kind: "delivered", recipient: "EU-EUROPOL")
        let olaf = ReportWriter.name(file: stem + ".json", kind: "delivered", recipient: "EU-OLAF")
        #expect(europol == stem + ".delivered.EU-EUROPOL.json")
        #expect(ReportWriter.storedName(europol) == europol)
        #expect(ReportWriter.storedName(olaf) != ReportWriter.storedName(europol))
        #expect(!ReportWriter.storedName("../x.json").contains("/") && !ReportWriter.storedName(".hidden.json").hasPrefix("."))
        // The longest unit file name (255 bytes, 2-byte characters) still gives a usable name.
        let longest = String(repeating: "ż", count: 125) + ".json"
        let name = ReportWriter.name(file: longest, kind: "delivered", recipient: "EU-EUROPOL")
        #expect(name.utf8.count <= 255 && name.hasSuffix(".delivered.EU-EUROPOL.json") && name.hasPrefix("żżż"))
    }

    @Test("a delivered report gets its receipt where the placeholder is; without the receipt it still goes out, canonical")
    func receiptPlaceholder() throws {
        let receipt = Array(#"{"payload":"e30","protected":"eyJhbGciOiJFUzI1NiJ9","signature":"c2ln"}"#.utf8)
        let body = try JSON.object(["kind": "delivered", "messageId": "m-1", "receipt": .string(ReportReceipt.placeholder),
                                    "recipient": "EU-EUROPOL", "sender": "PL-KGP"]).canonicalString()
        var owed = OwedReport(id: 1, unit: "PL-KGP", kind: "delivered", messageRowId: 1, recipient: "EU-EUROPOL", body: body,
                              createdAt: 0, signed: false, fileName: "m.delivered.json", receiptOf: 7, receipt: receipt)
        let full = try ReportWriter.withReceipt(owed, Array(body.utf8))
        #expect(!full.missing)
        let document = try JSON.parse(full.bytes)
        #expect(document["receipt"] == (try JSON.parse(receipt)))
        #expect(full.bytes == (try document.canonicalBytes()))
        owed.receipt = nil
        let without = try ReportWriter.withReceipt(owed, Array(body.utf8))
        #expect(without.missing)
        let bare = try JSON.parse(without.bytes)
        #expect(bare["receipt"] == nil && bare["recipient"] == "EU-EUROPOL")
        #expect(without.bytes == (try bare.canonicalBytes()))
    }
}
