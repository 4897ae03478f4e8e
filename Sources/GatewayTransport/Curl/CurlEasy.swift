// CurlEasy: owns one libcurl easy handle (CURL *) and its error buffer.
//
// Options are set through the typed shim functions (one per argument kind, since Swift
// cannot call the variadic curl_easy_setopt). Each failing call throws a CurlError that
// carries the error buffer's detail. Not thread-safe: libcurl forbids using one easy
// handle from two threads at once, and HTTPSClient only touches it on its engine thread.
import CCurl

final class CurlEasy {
    /// The CURL *. Never shown outside GatewayTransport.
    let raw: UnsafeMutableRawPointer
    /// CURLOPT_ERRORBUFFER: libcurl writes a specific message here on failure. It must
    /// live as long as the handle, hence owned here.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    init() throws(CurlError) {
        try CurlGlobal.initialise()
        guard let raw = curl_easy_init() else {
            throw CurlError(easy: CURLE_FAILED_INIT, detail: "curl_easy_init returned NULL")
        }
        self.raw = raw
        let size = gw_curl_error_size()
        errorBuffer = .allocate(capacity: size)
        errorBuffer.initialize(repeating: 0, count: size)
        try attachErrorBuffer()
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
    }

    /// Forgets every option (curl_easy_reset) so the handle can serve another request.
    /// Live connections, the DNS cache and TLS session IDs are kept, which is why reuse pays.
    func reset() throws(CurlError) {
        curl_easy_reset(raw)
        try attachErrorBuffer()
    }

    private func attachErrorBuffer() throws(CurlError) {
        errorBuffer[0] = 0
        try check(gw_curl_easy_setopt_pointer(raw, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer)))
    }

    /// The error buffer's current text (empty if libcurl wrote none).
    var errorDetail: String {
        var text = String(cString: errorBuffer)
        while text.last == "\n" { text.removeLast() }
        return text
    }

    /// The CurlError for `code`, with the error buffer's detail.
    func error(_ code: CURLcode) -> CurlError {
        CurlError(easy: code, detail: errorDetail)
    }

    private func check(_ code: CURLcode) throws(CurlError) {
        guard code == CURLE_OK else { throw error(code) }
    }

    // MARK: options, one per argument kind

    func set(_ option: CURLoption, _ value: Int) throws(CurlError) {
        try check(gw_curl_easy_setopt_long(raw, option, value))
    }

    /// A string option; libcurl copies it (every string option except POSTFIELDS).
    func set(_ option: CURLoption, _ value: String?) throws(CurlError) {
        guard let value else {
            try check(gw_curl_easy_setopt_string(raw, option, nil))
            return
        }
        try check(value.withCString { gw_curl_easy_setopt_string(raw, option, $0) })
    }

    /// A pointer option. The caller keeps the memory alive for as long as libcurl may use it.
    func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) throws(CurlError) {
        try check(gw_curl_easy_setopt_pointer(raw, option, pointer))
    }

    /// A blob option; libcurl copies the bytes. nil clears it.
    func set(_ option: CURLoption, blob: [UInt8]?) throws(CurlError) {
        guard let blob else {
            try check(gw_curl_easy_setopt_blob(raw, option, nil, 0))
            return
        }
        try check(blob.withUnsafeBytes { gw_curl_easy_setopt_blob(raw, option, $0.baseAddress, $0.count) })
    }

    /// A curl_off_t option (the *_LARGE ones).
    func set(_ option: CURLoption, offset: Int64) throws(CurlError) {
        try check(gw_curl_easy_setopt_off_t(raw, option, offset))
    }

    /// A list option. The caller keeps `list` alive until the transfer is done.
    func set(_ option: CURLoption, list: CurlStringList?) throws(CurlError) {
        try check(gw_curl_easy_setopt_slist(raw, option, list?.raw))
    }

    /// A write or header callback; it must be a `@convention(c)` function (no captures):
    /// its context comes through CURLOPT_WRITEDATA / CURLOPT_HEADERDATA.
    func set(_ option: CURLoption, callback: gw_curl_data_callback) throws(CurlError) {
        try check(gw_curl_easy_setopt_data_callback(raw, option, callback))
    }

    // MARK: information, one per result kind

    func info(long info: CURLINFO) throws(CurlError) -> Int {
        var value = 0
        try check(gw_curl_easy_getinfo_long(raw, info, &value))
        return value
    }

    func info(string info: CURLINFO) throws(CurlError) -> String? {
        var value: UnsafePointer<CChar>?
        try check(gw_curl_easy_getinfo_string(raw, info, &value))
        return value.map { String(cString: $0) }
    }

    func info(double info: CURLINFO) throws(CurlError) -> Double {
        var value = 0.0
        try check(gw_curl_easy_getinfo_double(raw, info, &value))
        return value
    }

    func info(offset info: CURLINFO) throws(CurlError) -> Int64 {
        var value: Int64 = 0
        try check(gw_curl_easy_getinfo_off_t(raw, info, &value))
        return value
    }

    func info(pointer info: CURLINFO) throws(CurlError) -> UnsafeMutableRawPointer? {
        var value: UnsafeMutableRawPointer?
        try check(gw_curl_easy_getinfo_pointer(raw, info, &value))
        return value
    }
}
