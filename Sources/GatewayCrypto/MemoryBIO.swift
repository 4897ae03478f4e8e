// MemoryBIO: an owned in-memory BIO, the way bytes go in and out of OpenSSL's PEM and
// printing functions. Internal: no BIO ever reaches the public API.
import COpenSSL

final class MemoryBIO {
    let pointer: OpaquePointer

    /// An empty, writable memory BIO.
    init() throws(OpenSSLError) {
        pointer = try checkPointer(BIO_new(BIO_s_mem()), "BIO_new")
    }

    /// A read-only BIO over a copy of `bytes` (BIO_new_mem_buf does not copy, so we write into
    /// a fresh memory BIO instead: the bytes must outlive the BIO and Swift arrays may move).
    init(_ bytes: [UInt8]) throws(OpenSSLError) {
        pointer = try checkPointer(BIO_new(BIO_s_mem()), "BIO_new")
        if !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { BIO_write(pointer, $0.baseAddress, Int32($0.count)) }
            if written != Int32(bytes.count) {
                BIO_free(pointer)
                throw OpenSSLError.capture("BIO_write")
            }
        }
    }

    deinit { BIO_free(pointer) }

    /// Everything written so far.
    var bytes: [UInt8] {
        var data: UnsafeMutablePointer<CChar>?
        let length = gw_BIO_get_mem_data(pointer, &data)
        guard length > 0, let data else { return [] }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}
