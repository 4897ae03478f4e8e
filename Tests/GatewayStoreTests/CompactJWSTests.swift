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
        let split = try #require(CompactJWS.split(jws))
        #expect(split.stored.count + split.header.utf8.count == jws.count)
        #expect(CompactJWS.wire(stored: split.stored, header: split.header) == jws)
        for other in [
            #"{"protected":"eyJhbGciOiJFUzI1NiJ9","payload":"e30","signature":"c2ln"}"#,   // another member order
            #"{"payload":"e30","protected":"","signature":"c2ln"}"#,                        // empty header
            #"{"payload":"e30","signature":"c2ln"}"#,                                       // no protected header
            "jws-opaque-bytes",
        ] {
            #expect(CompactJWS.split(Array(other.utf8)) == nil, "\(other)")
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
