// CurlMulti: owns one libcurl multi handle (CURLM *).
//
// The multi handle holds the connection cache shared by every transfer added to it: that
// is what makes a second request to the same host reuse the first one's TLS connection,
// and what lets HTTP/2 streams multiplex. All calls except wakeup() must come from one
// thread (HTTPSClient's engine thread); wakeup() is documented thread-safe by libcurl.
import CCurl
import Foundation

final class CurlMulti {
    /// The CURLM *. Never shown outside GatewayTransport.
    let raw: UnsafeMutableRawPointer

    init() throws(CurlError) {
        try CurlGlobal.initialise()
        guard let raw = curl_multi_init() else {
            throw CurlError(multi: CURLM_OUT_OF_MEMORY, operation: "curl_multi_init returned NULL")
        }
        self.raw = raw
    }

    /// Guards `closed` against wakeup() from other threads.
    private let lock = NSLock()
    private var closed = false

    /// Every easy handle must have been removed before this runs (libcurl's rule); the
    /// engine removes them all when it stops.
    deinit {
        if !closed { curl_multi_cleanup(raw) }
    }

    /// Cleans the handle up now, closing every connection it keeps; nothing but wakeup()
    /// (which then does nothing) may be called after it. Every easy handle must have been
    /// removed first.
    func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            curl_multi_cleanup(raw)
        }
    }

    func set(_ option: CURLMoption, _ value: Int) throws(CurlError) {
        try CurlError.check(gw_curl_multi_setopt_long(raw, option, value), "curl_multi_setopt")
    }

    func add(_ easy: CurlEasy) throws(CurlError) {
        try CurlError.check(curl_multi_add_handle(raw, easy.raw), "curl_multi_add_handle")
    }

    func remove(_ easy: CurlEasy) throws(CurlError) {
        try CurlError.check(curl_multi_remove_handle(raw, easy.raw), "curl_multi_remove_handle")
    }

    /// Drives every transfer as far as it can go without blocking; returns how many still run.
    @discardableResult
    func perform() throws(CurlError) -> Int {
        var running: Int32 = 0
        try CurlError.check(curl_multi_perform(raw, &running), "curl_multi_perform")
        return Int(running)
    }

    /// Sleeps until a socket is ready, libcurl's own timer is due, `milliseconds` pass, or
    /// another thread calls wakeup(). libcurl shortens the wait to its internal timeouts.
    func poll(milliseconds: Int) throws(CurlError) {
        try CurlError.check(curl_multi_poll(raw, nil, 0, Int32(milliseconds), nil), "curl_multi_poll")
    }

    /// Interrupts a poll() in progress (or makes the next one return at once). Thread-safe.
    func wakeup() {
        lock.withLock {
            guard !closed else { return }
            _ = curl_multi_wakeup(raw)
        }
    }

    /// The next finished transfer: its easy handle (as the raw CURL *) and its result.
    func nextFinished() -> (handle: UnsafeMutableRawPointer, result: CURLcode)? {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(raw, &remaining) {
            var handle: UnsafeMutableRawPointer?
            var result = CURLE_OK
            if gw_curl_message_done(message, &handle, &result) != 0, let handle {
                return (handle, result)
            }
        }
        return nil
    }
}
