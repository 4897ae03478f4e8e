// CompactJWS: the signed messages stored without their protected header.
//
// The gateway's flattened JWS is {"payload":"P","protected":"H","signature":"S"}, and H
// (alg, typ, iat and the x5c chain: about 2.9 KB) is the same for every message signed in
// the same second. The queue keeps H once in `jws_header` and the rest with the message:
// about 60 % fewer bytes per message to write, copy and checkpoint. A JWS is stored this way
// only when putting it back together gives the very same bytes (checked at enqueue);
// anything else is stored as it came.

import Foundation
import GRDB

enum CompactJWS {
    private static let opening = Array(#"{"payload":""#.utf8)
    private static let marker = Array(#"","protected":""#.utf8)

    /// The stored bytes (the JWS without its protected header) and the header, or nil
    /// when the JWS is not in the gateway's own flattened form.
    /// The header comes as the JWS's own bytes: the committer compares them with the
    /// previous message's before it makes a String or hashes 3.9 KB.
    static func splitBytes(_ jws: [UInt8]) -> (stored: [UInt8], header: ArraySlice<UInt8>)? {
        guard jws.starts(with: opening), let at = markerEnd(in: jws) else { return nil }
        guard let end = jws[at...].firstIndex(of: UInt8(ascii: "\"")), end > at else { return nil }
        var stored = [UInt8]()
        stored.reserveCapacity(jws.count - (end - at))
        stored.append(contentsOf: jws[..<at])
        stored.append(contentsOf: jws[end...])
        // Joining finds the header's place by the same search: it must find this one, or
        // the row would not give back the signed bytes.
        guard markerEnd(in: stored) == at else { return nil }
        return (stored, jws[at..<end])
    }

    /// The JWS as it was signed.
    static func join(_ stored: [UInt8], header: [UInt8]) -> [UInt8]? {
        guard let at = markerEnd(in: stored) else { return nil }
        var jws = [UInt8]()
        jws.reserveCapacity(stored.count + header.count)
        jws.append(contentsOf: stored[..<at])
        jws.append(contentsOf: header)
        jws.append(contentsOf: stored[at...])
        return jws
    }

    /// The wire form of a message row: `jws` with `protected` put back when it was split.
    static func wire(stored: [UInt8], header: String?) -> [UInt8] {
        guard let header else { return stored }
        return join(stored, header: Array(header.utf8)) ?? stored
    }

    /// Where the protected header's value starts (after `","protected":"`; base64url has no quotes).
    private static func markerEnd(in bytes: [UInt8]) -> Int? {
        bytes.withUnsafeBufferPointer { b -> Int? in
            marker.withUnsafeBufferPointer { m -> Int? in
                guard let base = b.baseAddress, b.count >= opening.count + m.count else { return nil }
                var i = opening.count
                // The payload before it is base64url: the first quote after the opening ends it.
                while i + m.count <= b.count {
                    guard let found = memchr(base + i, Int32(UInt8(ascii: "\"")), b.count - i) else { return nil }
                    let at = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                    if at + m.count <= b.count, memcmp(base + at, m.baseAddress!, m.count) == 0 { return at + m.count }
                    i = at + 1
                }
                return nil
            }
        }
    }
}

/// The `jws_header` ids of the protected headers met in one write transaction: each looked
/// up (or stored) once. Consecutive JWSs nearly always share theirs, so the previous one is
/// compared byte for byte first (no String made, no 3.9 KB hashed).
struct HeaderIds {
    private var known: [String: Int64] = [:]
    private var previous: (bytes: ArraySlice<UInt8>, id: Int64)?

    /// What to store for `jws`: without its protected header and that header's id when it
    /// is in the flattened form CompactJWS splits, else as it is.
    mutating func split(_ jws: [UInt8], in db: Database) throws -> (stored: [UInt8], header: Int64?) {
        guard let split = CompactJWS.splitBytes(jws) else { return (jws, nil) }
        return (split.stored, try id(split.header, in: db))
    }

    mutating func id(_ bytes: ArraySlice<UInt8>, in db: Database) throws -> Int64 {
        if let previous, previous.bytes.count == bytes.count,
           previous.bytes.withUnsafeBytes({ a in bytes.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }) {
            return previous.id
        }
        let header = String(decoding: bytes, as: UTF8.self)
        let id: Int64
        if let found = known[header] {
            id = found
        } else {
            try db.execute(sql: "INSERT OR IGNORE INTO jws_header (protected) VALUES (?)", arguments: [header])
            id = try Int64.fetchOne(db, sql: "SELECT id FROM jws_header WHERE protected = ?", arguments: [header])!
            known[header] = id
        }
        previous = (bytes, id)
        return id
    }

    /// The message `id` was split for was not stored (a duplicate, a conflict): the header
    /// goes too unless a message or a receipt uses it (else a re-dropped file left one
    /// ~3 KB row that nothing would ever prune).
    mutating func release(_ id: Int64, in db: Database) throws {
        try db.execute(sql: """
            DELETE FROM jws_header WHERE id = ? AND NOT EXISTS (SELECT 1 FROM message WHERE jws_header = ?)
              AND NOT EXISTS (SELECT 1 FROM receipt WHERE jws_header = ?)
            """, arguments: [id, id, id])
        guard db.changesCount > 0 else { return }
        known = known.filter { $0.value != id }
        if previous?.id == id { previous = nil }
    }
}
