// Transfer+Setup: how one request is turned into easy-handle options.
//
// SECURITY: these are the gateway's TLS defaults, and there is no input that changes them:
// peer verification on (VERIFYPEER 1, VERIFYHOST 2), anchors from the endpoint's own CA
// file only (CAPATH cleared, so the system's certificate directory is never consulted;
// read again for each new connection, never from libcurl's cache),
// TLS 1.2 or newer, https as the only protocol (PROTOCOLS_STR), no redirects followed, no
// proxy unless the request names one (an empty PROXY also ignores *_proxy variables).
import CCurl

extension Transfer {
    /// Sets `blob` when given (and clears the file option), else the file option (and clears the blob).
    static func setFileOrBlob(_ easy: CurlEasy, file fileOption: CURLoption, _ path: String,
                              blob blobOption: CURLoption, _ bytes: [UInt8]?) throws(CurlError) {
        try easy.set(fileOption, bytes == nil ? path : nil)
        try easy.set(blobOption, blob: bytes)
    }

    /// Sets every option for this request on `easy` (fresh or reset). `multiplexes`: the
    /// origin has answered on HTTP/2 before (see PIPEWAIT below).
    func configure(_ easy: CurlEasy, multiplexes: Bool = false) throws(CurlError) {
        let request = self.request
        try easy.set(CURLOPT_URL, request.url)
        try easy.set(CURLOPT_PROTOCOLS_STR, "https")
        try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, "https")
        try easy.set(CURLOPT_FOLLOWLOCATION, 0)
        // Timeouts without signals: NOSIGNAL keeps libcurl from using SIGALRM, which is
        // process-wide and unsafe with threads; AsynchDNS makes DNS timeouts work anyway.
        try easy.set(CURLOPT_NOSIGNAL, 1)
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout))
        try easy.set(CURLOPT_TIMEOUT_MS, Self.milliseconds(request.totalTimeout))
        try easy.set(CURLOPT_TCP_KEEPALIVE, 1)
        try easy.set(CURLOPT_TCP_NODELAY, 1)

        // TLS: always verified, anchors from the endpoint's file only.
        try easy.set(CURLOPT_SSL_VERIFYPEER, 1)
        try easy.set(CURLOPT_SSL_VERIFYHOST, 2)
        try easy.set(CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2))
        try easy.set(CURLOPT_CAINFO, request.tls.caBundlePath)
        try easy.set(CURLOPT_CAPATH, nil as String?)
        // libcurl keeps a parsed CA file for 24 hours by default, keyed by its path: anchors
        // an operator removed from the file (and reloaded) would be trusted that long. Read
        // for each new connection instead (connections are reused, so that is seldom).
        try easy.set(CURLOPT_CA_CACHE_TIMEOUT, 0)
        // The chain and key as the caller read and checked them, else their files.
        try Self.setFileOrBlob(easy, file: CURLOPT_SSLCERT, request.tls.clientCertificatePath,
                               blob: CURLOPT_SSLCERT_BLOB, request.tls.clientCertificatePEM)
        try easy.set(CURLOPT_SSLCERTTYPE, "PEM")
        try Self.setFileOrBlob(easy, file: CURLOPT_SSLKEY, request.tls.clientKeyPath, blob: CURLOPT_SSLKEY_BLOB, request.tls.clientKeyPEM)
        try easy.set(CURLOPT_SSLKEYTYPE, "PEM")
        if let pin = request.tls.pinnedPublicKey {
            try easy.set(CURLOPT_PINNEDPUBLICKEY, pin)
        }
        try easy.set(CURLOPT_CRLFILE, request.tls.crlPath)
        // With CRLs, no TLS session resumption: a resumed session keeps the verification
        // of the first handshake, so a certificate revoked since would not be seen.
        try easy.set(CURLOPT_SSL_SESSIONID_CACHE, request.tls.crlPath == nil ? 1 : 0)
        // Nor connections kept for days: with CRLs, none lives past an hour, so that a
        // certificate revoked since is seen at the next handshake.
        try easy.set(CURLOPT_MAXLIFETIME_CONN, request.tls.crlPath == nil ? 0 : 3600)

        // HTTP/2 when the server offers it in ALPN, else HTTP/1.1. PIPEWAIT makes a new
        // request wait for a connection that is still being set up rather than open a
        // second one, so concurrent requests multiplex over one HTTP/2 connection; only for
        // an origin known to answer on HTTP/2. libcurl 8 parks such a request until the
        // awaited connection can multiplex or some transfer ends, so towards an HTTP/1.1
        // server a slow first response would hold every request behind it until its
        // connect timeout (libcurl 7.88 opened a connection instead).
        try easy.set(CURLOPT_HTTP_VERSION, Int(request.allowHTTP2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1))
        try easy.set(CURLOPT_PIPEWAIT, request.allowHTTP2 && multiplexes ? 1 : 0)

        try easy.set(CURLOPT_PROXY, request.proxy ?? "")
        if request.proxy != nil {
            try easy.set(CURLOPT_HTTPPROXYTUNNEL, 1)
            // The configured proxy for every host: libcurl would otherwise read no_proxy from
            // the environment and go around it.
            try easy.set(CURLOPT_NOPROXY, "")
            // The proxy's "200 Connection established" is not the endpoint's answer (it made a
            // refused client certificate look like a response had started).
            try easy.set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        }

        try configureMethodAndBody(easy)

        // "Expect:" with no value stops libcurl's Expect: 100-continue on larger bodies,
        // which costs a round trip (or a one-second wait on servers that ignore it).
        var lines = request.headers.map { "\($0.name): \($0.value)" }
        if !request.headers.contains(where: { $0.name.lowercased() == "expect" }) {
            lines.append("Expect:")
        }
        let list = try CurlStringList(lines)
        headerList = list
        try easy.set(CURLOPT_HTTPHEADER, list: list)

        // Responses: a declared Content-Length above the cap fails before the body is read
        // (CURLE_FILESIZE_EXCEEDED); a body without a length is stopped as it arrives, by
        // libcurl 8 itself (also 63) or, with 7.88, by the write callback (23).
        // (0 would mean "no limit" to libcurl: a zero cap is left to the write callback.)
        if request.maxResponseBytes > 0 {
            try easy.set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(request.maxResponseBytes))
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        try easy.set(CURLOPT_WRITEFUNCTION, callback: { data, size, count, context in
            let length = size * count
            guard let context else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            let bytes = UnsafeRawBufferPointer(start: data, count: length)
            // Returning anything but `length` makes libcurl stop with CURLE_WRITE_ERROR.
            return transfer.receiveBody(bytes) ? length : 0
        })
        try easy.set(CURLOPT_WRITEDATA, pointer: context)
        try easy.set(CURLOPT_HEADERFUNCTION, callback: { data, size, count, context in
            let length = size * count
            guard let context else { return 0 }
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            return transfer.receiveHeaderLine(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
        })
        try easy.set(CURLOPT_HEADERDATA, pointer: context)
        // PRIVATE lets the engine find this Transfer from the CURL * that finished.
        try easy.set(CURLOPT_PRIVATE, pointer: context)
    }

    private func configureMethodAndBody(_ easy: CurlEasy) throws(CurlError) {
        switch request.method {
        case "GET" where request.body.isEmpty:
            try easy.set(CURLOPT_HTTPGET, 1)
        default:
            // POSTFIELDS is not copied by libcurl: the buffer is owned by this Transfer,
            // which lives until the transfer is removed from the multi handle. The size is
            // set first and explicitly, so bodies with NUL bytes are sent whole.
            try easy.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: Int64(request.body.count))
            try easy.set(CURLOPT_POSTFIELDS, pointer: prepareBody())
            if request.method != "POST" {
                try easy.set(CURLOPT_CUSTOMREQUEST, request.method)
            }
        }
    }

    /// Seconds to libcurl's milliseconds, at least 1 (0 would mean "no timeout").
    static func milliseconds(_ seconds: Double) -> Int {
        let value = (seconds * 1000).rounded(.up)
        return value >= Double(Int32.max) ? Int(Int32.max) : max(1, Int(value))
    }

    /// The response, read from the easy handle after a successful transfer.
    func response(from easy: CurlEasy) throws(CurlError) -> HTTPSResponse {
        let status = try easy.info(long: CURLINFO_RESPONSE_CODE)
        let version: String
        switch try easy.info(long: CURLINFO_HTTP_VERSION) {
        case Int(CURL_HTTP_VERSION_1_0): version = "1.0"
        case Int(CURL_HTTP_VERSION_2_0): version = "2"
        case Int(CURL_HTTP_VERSION_3): version = "3"
        default: version = "1.1"
        }
        // The *_T variants are microseconds as integers: exact, unlike the double ones.
        let connect = Double(try easy.info(offset: CURLINFO_CONNECT_TIME_T)) / 1e6
        let handshakeDone = Double(try easy.info(offset: CURLINFO_APPCONNECT_TIME_T)) / 1e6
        let total = Double(try easy.info(offset: CURLINFO_TOTAL_TIME_T)) / 1e6
        let connections = try easy.info(long: CURLINFO_NUM_CONNECTS)
        return HTTPSResponse(status: status, headers: responseHeaders, body: responseBody, httpVersion: version,
                             connectSeconds: connect, tlsSeconds: max(0, handshakeDone - connect),
                             totalSeconds: total, newConnections: connections)
    }
}
