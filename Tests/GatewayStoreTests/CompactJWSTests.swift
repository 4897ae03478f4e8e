import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel
@testable import GatewayStore
import GRDB
import Testing

@Suite("signed messages stored without their protected header")
struct CompactJWSTests {
    func signed(_ n: Int, signer: JWSSigner) throws -> [UInt8] {
        try signer.sign(["messageId": .string("m-\(n)"), "n": .number(Double(n))]).flattenedJSON
    }

    @Test("the gateway's JWS is split and joined back byte for byte; anything else is left alone")
    func splitAndJoin() throws {
        let key = try PrivateKey.generate(.ec(.p256))
        let jws = try signed(1, signer: try JWSSigner(key: key))
        let split = try #require(CompactJWS.splitBytes(jws))
        #expect(split.stored.count + split.header.count == jws.count)
        #expect(CompactJWS.wire(stored: split.stored, header: String(decoding: split.header, as: UTF8.self)) == jws)
        for other in [
            #"{"protected":"eyJhbGciOiJFUzI1NiJ9","payload":"e30","signature":"c2ln"}"#,   // another member order
            #"{"payload":"e30","protected":"","signature":"c2ln"}"#,                        // empty header
            #"{"payload":"e30","signature":"c2ln"}"#,                                       // no protected header
            "jws-opaque-bytes",
        ] {
            #expect(CompactJWS.splitBytes(Array(other.utf8)) == nil, "\(other)")
        }
    }

    @Test("enqueue keeps one header per signing second; claim and show give back the signed bytes")
    func storedOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("compact-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try QueueStore(path: dir.appendingPathComponent("queue.sqlite").path)
        let key = try PrivateKey.generate(.ec(.p256))
        let signer = try JWSSigner(key: key, chain: [])
        var originals: [String: [UInt8]] = [:]
        var batch: [NewMessage] = []
        for n in 0..<50 {
            let jws = n == 7 ? Array("not a flattened JWS".utf8) : try signed(n, signer: signer)
            originals["m-\(n)"] = jws
            batch.append(NewMessage(sender: "PL-KGP", messageId: "m-\(n)", type: "alert", priority: .routine, classification: .restricted,
                                    createdAt: 0, contentDigest: "d\(n)", jws: jws, routes: [Route(recipient: "EU-EUROPOL", endpoint: "europol")]))
        }
        _ = try store.enqueue(batch)
        let (headers, compact) = try store.pool.read { db in
            (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jws_header")!,
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE jws_header IS NOT NULL")!)
        }
        #expect(headers >= 1 && headers <= 2, "one per second of signing")
        #expect(compact == 49, "all but the opaque one")
        for job in try store.claimDue(endpoint: "europol", limit: 50) {
            #expect(job.jws == originals[job.messageId], "\(job.messageId)")
        }
        for n in [0, 7, 49] {
            #expect(try store.message("m-\(n)")?.jws == originals["m-\(n)"])
        }
    }
}

extension CompactJWSTests {
    @Test("one batch with headers of two signing seconds interleaved: two rows, every JWS back byte for byte")
    func interleavedHeaders() throws {
        let (store, _) = try makeStore()
        let signer = try JWSSigner(key: try PrivateKey.generate(.ec(.p256)))
        var originals: [String: [UInt8]] = [:]
        var batch: [NewMessage] = []
        for n in 0..<20 {
            let at = Date(timeIntervalSince1970: 1_767_225_600 + Double(n % 2))
            let jws = try signer.sign(payload: Array("{\"n\":\(n)}".utf8), at: at).flattenedJSON
            originals["i-\(n)"] = jws
            batch.append(message("i-\(n)", digest: "d\(n)", jws: jws))
        }
        _ = try store.enqueue(batch)
        // And a second batch that starts with the last header of the first.
        let late = try signer.sign(payload: Array("{\"n\":20}".utf8), at: Date(timeIntervalSince1970: 1_767_225_601)).flattenedJSON
        originals["i-20"] = late
        _ = try store.enqueue([message("i-20", digest: "d20", jws: late)])
        let headers = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jws_header")! }
        #expect(headers == 2)
        for (id, jws) in originals { #expect(try store.message(id)?.jws == jws, "\(id)") }
    }
}

@Suite("protected headers pruned with their messages")
struct HeaderPruningTests {
    @Test("a duplicate or conflicting drop signed in another second leaves no header behind; one a stored message shares stays")
    func duplicatesLeaveNoHeader() throws {
        let (store, _) = try makeStore()
        let signer = try JWSSigner(key: try PrivateKey.generate(.ec(.p256)))
        func jws(_ n: Int, second: Double) throws -> [UInt8] {
            try signer.sign(payload: Array("{\"n\":\(n)}".utf8), at: Date(timeIntervalSince1970: 1_767_225_600 + second)).flattenedJSON
        }
        func headers() throws -> Int { try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jws_header")! } }
        let first = try jws(0, second: 0)
        _ = try store.enqueue([message("d-0", digest: "d0", jws: first)])
        #expect(try headers() == 1)
        // The unit drops the same file again, and then another under the same id: each signed anew.
        #expect(try store.enqueue([message("d-0", digest: "d0", jws: try jws(0, second: 100))]) == [.duplicate(id: 1)])
        if case .conflict = try store.enqueue([message("d-0", digest: "other", jws: try jws(1, second: 200))])[0] {} else { Issue.record("not a conflict") }
        #expect(try headers() == 1, "no header left by the duplicate or the conflict")
        // In one batch: a new message and a duplicate signed in the same second share a header, kept;
        // then one more new message in that second still finds it.
        let outcomes = try store.enqueue([message("d-1", digest: "d1", jws: try jws(2, second: 300)),
                                          message("d-0", digest: "d0", jws: try jws(0, second: 300)),
                                          message("d-2", digest: "d2", jws: try jws(3, second: 300))])
        #expect(outcomes.count == 3)
        #expect(try headers() == 2)
        // A duplicate signed in a second of its own, then a new message in that same second, in one batch.
        let third = try jws(4, second: 400)
        _ = try store.enqueue([message("d-0", digest: "d0", jws: try jws(0, second: 400)), message("d-3", digest: "d3", jws: third)])
        #expect(try headers() == 3)
        #expect(try store.message("d-0")?.jws == first)
        #expect(try store.message("d-3")?.jws == third, "the header deleted by the duplicate is made again for it")
    }

    @Test("retention removes the headers no remaining message uses, keeps the others, and the messages still read back")
    func headersPruned() throws {
        let (store, _) = try makeStore()
        let signer = try JWSSigner(key: try PrivateKey.generate(.ec(.p256)))
        // Ten messages signed in ten different seconds: ten headers.
        var originals: [String: [UInt8]] = [:]
        for n in 0..<10 {
            let jws = try signer.sign(payload: Array("{\"n\":\(n)}".utf8), at: Date(timeIntervalSince1970: 1_767_225_600 + Double(n))).flattenedJSON
            originals["h-\(n)"] = jws
            _ = try store.enqueue([message("h-\(n)", digest: "d\(n)", jws: jws)], now: 1_000 + Int64(n))
        }
        func headers() throws -> Int { try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jws_header")! } }
        #expect(try headers() == 10)
        // The first six are delivered long ago; the rest are still queued.
        let jobs = try store.claimDue(endpoint: "europol", limit: 6, now: 2_000)
        #expect(jobs.map(\.messageId) == (0..<6).map { "h-\($0)" })
        try store.resolve(jobs.map { .init(job: $0, attempt: nil, resolution: .delivered(receipt: nil, duplicate: false)) }, now: 2_000)
        try confirmAcceptedReports(store)
        #expect(try store.prune(before: 5_000, now: 6_000) == 6)
        #expect(try headers() == 4, "the six pruned messages' headers are gone")
        for n in 6..<10 { #expect(try store.message("h-\(n)")?.jws == originals["h-\(n)"], "h-\(n) reads back whole") }
        // An old message that stays (failed, never pruned) keeps its own header only.
        let rest = try store.claimDue(endpoint: "europol", limit: 4, now: 7_000)
        try store.resolve([.init(job: rest[0], attempt: nil, resolution: .failed(reason: "HTTP 422"))], now: 7_000)
        try store.resolve(rest.dropFirst().map { .init(job: $0, attempt: nil, resolution: .delivered(receipt: nil, duplicate: false)) }, now: 7_000)
        #expect(try store.prune(before: 9_000, now: 10_000) == 3)
        #expect(try headers() == 1)
        #expect(try store.message("h-6")?.jws == originals["h-6"])
    }

    @Test("receipts keep their protected header once; reports get the receipt whole; a header goes when no message or receipt uses it")
    func receipts() throws {
        let (store, _) = try makeStore()
        let gateway = try JWSSigner(key: try PrivateKey.generate(.ec(.p256)))
        let agency = try JWSSigner(key: try PrivateKey.generate(.ec(.p256)))
        let second = Date(timeIntervalSince1970: 1_767_225_600)
        for n in 0..<4 {
            let jws = try gateway.sign(payload: Array("{\"n\":\(n)}".utf8), at: second).flattenedJSON
            _ = try store.enqueue([message("r-\(n)", digest: "d\(n)", jws: jws)], now: 1_000)
        }
        // Four receipts from one agency second (one header), each owed a report with the placeholder.
        let jobs = try store.claimDue(endpoint: "europol", limit: 4, now: 2_000)
        var receipts: [String: [UInt8]] = [:]
        let body = try JSON.object(["kind": "delivered", "receipt": .string(ReportReceipt.placeholder), "recipient": "EU-EUROPOL"]).canonicalString()
        try store.resolve(jobs.map { job in
            let receipt = try! agency.sign(payload: Array("{\"receiptFor\":\"\(job.messageId)\"}".utf8), at: second + 1).flattenedJSON
            receipts[job.messageId] = receipt
            return .init(job: job, attempt: nil, resolution: .delivered(receipt: ReceiptRecord(receivedAt: 2_000, status: "received", jws: receipt), duplicate: false),
                         report: body, reportFile: "\(job.messageId).delivered.json", reportEmbedsReceipt: true)
        }, now: 2_000)
        func count(_ sql: String) throws -> Int { try store.pool.read { db in try Int.fetchOne(db, sql: sql)! } }
        #expect(try count("SELECT COUNT(*) FROM jws_header") == 2, "one gateway header, one agency header")
        #expect(try count("SELECT COUNT(*) FROM receipt WHERE jws_header IS NOT NULL") == 4)
        #expect(try count("SELECT MAX(LENGTH(jws)) FROM receipt") < receipts["r-0"]!.count)
        for n in 0..<4 { #expect(try store.message("r-\(n)")?.deliveries.first?.receipt?.jws == receipts["r-\(n)"], "r-\(n)'s receipt reads back whole") }
        // The owed reports come with their receipt, which goes where the placeholder is.
        let owed = try store.owedReports()
        #expect(owed.count == 4)
        for report in owed {
            let receipt = try #require(report.receipt)
            let full = try #require(ReportReceipt.embed(receipt, in: Array(report.body.utf8)))
            let document = try JSON.parse(full)
            #expect(full == (try document.canonicalBytes()), "still canonical")
            #expect(document["receipt"] == (try JSON.parse(receipt)))
        }
        // A report names its receipt by delivery and message: a delivery id of another
        // message (ids are reused once the highest rows are pruned) gives no receipt.
        let other = jobs[1]
        try store.pool.write { db in
            try QueueStore.oweReport(db, unit: "PL-KGP", kind: "delivered", message: jobs[0].messageRowId, recipient: "EU-EUROPOL",
                                     body: body, now: 2_000, fileName: "stray.delivered.json", receiptOf: other.deliveryId)
        }
        let stray = try #require(try store.owedReports().first { $0.fileName == "stray.delivered.json" })
        #expect(stray.receiptOf == other.deliveryId && stray.receipt == nil)
        try store.confirmDurable(acceptedReports: [], writtenReports: [stray.id], now: 3_000)
        try confirmAcceptedReports(store)
        // A message stays while its report is owed (the report takes the receipt from here)...
        #expect(try store.prune(before: 5_000, now: 6_000) == 0)
        // ...and goes once the report is written; so does the agency's header, no receipt using it.
        try store.confirmDurable(acceptedReports: [], writtenReports: owed.map(\.id), now: 3_000)
        #expect(try store.prune(before: 5_000, now: 6_000) == 4)
        #expect(try count("SELECT COUNT(*) FROM jws_header") == 0)
        #expect(try count("SELECT COUNT(*) FROM receipt") == 0)
    }

    @Test("the receipt placeholder is found only as the member itself, and only once")
    func placeholder() throws {
        let receipt = Array(#"{"payload":"e30","protected":"eyJ9","signature":"c2ln"}"#.utf8)
        func body(_ members: [String: JSON]) throws -> [UInt8] { try JSON.object(members).canonicalBytes() }
        let ok = try body(["kind": "delivered", "receipt": .string(ReportReceipt.placeholder), "reason": .string("x")])
        #expect(try JSON.parse(#require(ReportReceipt.embed(receipt, in: ok)))["receipt"]?["payload"] == "e30")
        // The placeholder's text inside another string is escaped there, so it does not count.
        let inside = try body(["kind": "delivered", "reason": .string(#""receipt":"\#u{0}receipt""#)])
        #expect(ReportReceipt.embed(receipt, in: inside) == nil)
        let nested = try body(["a": .object(["receipt": .string(ReportReceipt.placeholder)]), "receipt": .string(ReportReceipt.placeholder)])
        #expect(ReportReceipt.embed(receipt, in: nested) == nil, "twice: refused")
        #expect(ReportReceipt.embed(receipt, in: try body(["kind": "delivered"])) == nil)
    }
}
