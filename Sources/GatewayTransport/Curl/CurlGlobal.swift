// CurlGlobal: process-wide libcurl initialisation.
//
// curl_global_init is not thread-safe by itself in older libcurls and must run before any
// handle exists; the shim runs it under pthread_once, so calling initialise() from any
// thread, any number of times, is safe. It is never undone: curl_global_cleanup while
// another part of the process still uses libcurl would be a use-after-free.
import CCurl

enum CurlGlobal {
    /// Runs curl_global_init once per process; throws its failure on every call.
    static func initialise() throws(CurlError) {
        let code = gw_curl_global_init_once()
        guard code == CURLE_OK else { throw CurlError(easy: code, detail: "curl_global_init") }
    }

    /// The libcurl version in use, e.g. "7.88.1".
    static var version: String { String(cString: gw_curl_version()) }

    /// The same as (major, minor, patch).
    static var versionNumber: (Int, Int, Int) {
        let n = Int(gw_curl_version_num())
        return (n >> 16, (n >> 8) & 0xff, n & 0xff)
    }

    /// Whether this libcurl can speak HTTP/2 (nghttp2 built in).
    static var supportsHTTP2: Bool { gw_curl_supports_http2() != 0 }
}
