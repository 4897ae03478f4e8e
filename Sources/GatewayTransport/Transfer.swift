// Transfer: one request's life inside the engine: its easy handle, the memory libcurl reads
// from (body, header list), what comes back, and its completion, called exactly once.
//
// Only the engine thread touches a Transfer after it has been queued (the pending list's
// lock hands it over), so it needs no lock of its own.
import CCurl

final class Transfer {
    let id: UInt64
    let request: HTTPSRequest
    /// The request's origin, looked up by the engine when it starts and ends the transfer.
    let origin: String
    private var completion: (@Sendable (Result<HTTPSResponse, TransportError>) -> Void)?

    /// The handle while the transfer is attached to the multi handle.
    var easy: CurlEasy?
    /// CURLOPT_HTTPHEADER's list: libcurl reads it during the transfer.
    var headerList: CurlStringList?
    /// CURLOPT_POSTFIELDS's bytes: libcurl does not copy them, so they live here.
    private(set) var bodyBuffer: UnsafeMutableRawBufferPointer?

    // Filled by the callbacks.
    var status = 0
    var responseHeaders: [String: String] = [:]
    var responseBody: [UInt8] = []
    var headerBytes = 0
    var exceededCap = false
    var responseStarted = false

    /// Header bytes allowed per response (all header lines together): a hostile server
    /// cannot make the gateway buffer unbounded headers either.
    static let maxHeaderBytes = 64 * 1024

    init(id: UInt64, request: HTTPSRequest,
         completion: @escaping @Sendable (Result<HTTPSResponse, TransportError>) -> Void) {
        self.id = id
        self.request = request
        origin = Self.origin(of: request.url)
        self.completion = completion
    }

    deinit { bodyBuffer?.deallocate() }

    /// "https://host:port" of `url`: what libcurl shares connections by.
    static func origin(of url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        return String(url[..<end])
    }

    /// Copies the request body into memory that stays put for libcurl.
    func prepareBody() -> UnsafeMutableRawPointer? {
        if bodyBuffer == nil {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(request.body.count, 1), alignment: 1)
            buffer.copyBytes(from: request.body)
            bodyBuffer = buffer
        }
        return bodyBuffer?.baseAddress
    }

    /// Calls the completion; later calls do nothing, which is what makes "exactly once" hold
    /// even when shutdown races a finishing transfer.
    func complete(_ result: Result<HTTPSResponse, TransportError>) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

    var isCompleted: Bool { completion == nil }

    // MARK: called from the libcurl callbacks

    /// Appends body bytes; false (refuse, so libcurl fails with CURLE_WRITE_ERROR) past the cap.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard responseBody.count + bytes.count <= request.maxResponseBytes else {
            exceededCap = true
            return false
        }
        responseBody.append(contentsOf: bytes)
        return true
    }

    /// Takes one header line (with its CRLF); false past the header limit.
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        headerBytes += bytes.count
        guard headerBytes <= Self.maxHeaderBytes else {
            exceededCap = true
            return false
        }
        // Bytes, not Characters: field names are ASCII tokens compared without case, and
        // the whitespace around a value is SP/HTAB (and the line's CRLF). Unicode-aware
        // trimming and lowercasing cost more than the rest of a response's handling here.
        if bytes.count >= 5, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"), bytes[2] == UInt8(ascii: "T"),
           bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/") {
            // A new response begins (after 100 Continue or a proxy's CONNECT reply): only
            // the final response's headers are reported.
            responseStarted = true
            responseHeaders.removeAll(keepingCapacity: true)
            return true
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return true }   // the blank line ends the block
        let name = Self.field(bytes, 0..<colon, lowercased: true)
        let value = Self.field(bytes, (colon + 1)..<bytes.count, lowercased: false)
        guard !name.isEmpty else { return true }
        if let existing = responseHeaders[name] {
            responseHeaders[name] = existing + ", " + value
        } else {
            responseHeaders[name] = value
            if name == "content-length", let length = Int(value), length > 0 {
                // Reserve once instead of growing; never beyond the cap.
                responseBody.reserveCapacity(min(length, request.maxResponseBytes))
            }
        }
        return true
    }
}

extension Transfer {
    /// `range` of a header line without surrounding SP, HTAB, CR and LF, as text; ASCII
    /// letters lowercased when asked (the rest of the bytes as they are).
    static func field(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, lowercased: Bool) -> String {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        var lower = range.lowerBound, upper = range.upperBound
        while lower < upper, isSpace(bytes[lower]) { lower += 1 }
        while upper > lower, isSpace(bytes[upper - 1]) { upper -= 1 }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[lower..<upper])
        guard lowercased else { return String(decoding: slice, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: slice.count) { out in
            for (i, b) in slice.enumerated() { out[i] = b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
            return slice.count
        }
    }
}
