// NAME
//   FastInsert: runs a prepared INSERT (or UPDATE, DELETE) with its values bound straight
//   through the SQLite C API.
//
// DESCRIPTION
//   The pickup's committer writes four rows per message (message, delivery, audit,
//   unsynced report); GRDB's general path (argument boxing, nested temporary bindings,
//   per-statement observation hooks) costs more than SQLite's own work there. These
//   statements come from GRDB's statement cache and run inside GRDB's transaction on its
//   connection; only the binding and the single step are done here. Nothing observes the
//   queue through GRDB (no ValueObservation), so skipping its hooks loses nothing.
//
// SECURITY
//   Values are bound, never spliced into SQL. A failed step throws the connection's error,
//   and the surrounding GRDB transaction rolls back as for any other statement.

import GRDB
import GRDBSQLite

/// A value for `Statement.run`.
enum FastValue {
    case int(Int64)
    case text(String)
    case blob([UInt8])
    case null

    static func text(_ s: String?) -> FastValue { s.map(FastValue.text) ?? .null }
    static func int(_ i: Int64?) -> FastValue { i.map(FastValue.int) ?? .null }
}

/// SQLite copies the bytes before the bind call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
/// A valid pointer for the empty string (a null one would bind NULL).
nonisolated(unsafe) private let emptyText: UnsafePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    p.pointee = 0
    return UnsafePointer(p)
}()

extension Statement {
    /// Binds `values` to ?1, ?2, ... and steps once (an INSERT, UPDATE or DELETE without rows).
    func run(_ values: FastValue...) throws {
        let s = sqliteStatement
        sqlite3_reset(s)
        precondition(values.count == Int(sqlite3_bind_parameter_count(s)), "FastInsert: \(values.count) values for \(sql)")
        for (i, value) in values.enumerated() {
            let index = Int32(i + 1)
            let code: Int32
            switch value {
            case .int(let v): code = sqlite3_bind_int64(s, index, v)
            case .null: code = sqlite3_bind_null(s, index)
            case .text(var v):
                code = v.withUTF8 { utf8 in
                    utf8.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(s, index, $0.baseAddress ?? emptyText, Int32($0.count), transient) }
                }
            case .blob(let v): code = v.withUnsafeBytes { sqlite3_bind_blob(s, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count), transient) }
            }
            guard code == SQLITE_OK else { throw failure(code) }
        }
        let code = sqlite3_step(s)
        sqlite3_reset(s)
        // Text and blobs were copied: dropping the bindings frees them now.
        sqlite3_clear_bindings(s)
        guard code == SQLITE_DONE else { throw failure(code) }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        let message = sqlite3_db_handle(sqliteStatement).flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
    }
}
