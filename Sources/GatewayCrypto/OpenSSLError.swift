// OpenSSLError: the one path by which OpenSSL failures reach Swift.
//
// OpenSSL reports failures on a per-thread error queue. Every failed call in this module is
// turned into an OpenSSLError by `OpenSSLError.capture(_:)`, which drains the queue (so a stale
// entry can never be blamed on a later call) and keeps OpenSSL's own reason text.
import COpenSSL

/// A failed OpenSSL call, with the entries of OpenSSL's error queue at the time.
public struct OpenSSLError: Error, Sendable, CustomStringConvertible {
    /// One entry of OpenSSL's error queue.
    public struct Entry: Sendable, Equatable {
        /// The packed error code (`ERR_get_error()`).
        public let code: UInt
        /// OpenSSL's reason text, e.g. "bad decrypt" or "no start line".
        public let reason: String
        /// The library that raised it, e.g. "PEM routines".
        public let library: String
    }

    /// What the gateway was doing, e.g. "EVP_DigestSign" or "reading a PEM certificate".
    public let operation: String
    /// Oldest first. May be empty when OpenSSL failed without queueing a reason.
    public let entries: [Entry]

    public var description: String {
        guard !entries.isEmpty else { return "\(operation) failed" }
        let reasons = entries.map { "\($0.reason) (\($0.library))" }.joined(separator: "; ")
        return "\(operation) failed: \(reasons)"
    }

    /// Drains the calling thread's OpenSSL error queue into an error for `operation`.
    static func capture(_ operation: String) -> OpenSSLError {
        var entries: [Entry] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            let reason = ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(code)"
            let library = ERR_lib_error_string(code).map { String(cString: $0) } ?? "OpenSSL"
            // Bounded: a corrupt queue must not loop forever or flood a log line.
            if entries.count < 16 { entries.append(Entry(code: code, reason: reason, library: library)) }
        }
        return OpenSSLError(operation: operation, entries: entries)
    }

    /// Clears stale entries before a call whose failure is reported through `capture`.
    static func clearQueue() { ERR_clear_error() }
}

/// Throws `OpenSSLError` for `operation` unless `result` is 1 (OpenSSL's success value).
@inline(__always)
func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(OpenSSLError) {
    if result != 1 { throw OpenSSLError.capture(operation()) }
}

/// Unwraps a pointer an OpenSSL allocator or parser returned, or throws `OpenSSLError`.
@inline(__always)
func checkPointer<T>(_ pointer: T?, _ operation: @autoclosure () -> String) throws(OpenSSLError) -> T {
    guard let pointer else { throw OpenSSLError.capture(operation()) }
    return pointer
}
