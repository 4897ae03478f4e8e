// Response header lines as libcurl hands them over, parsed on bytes.
@testable import GatewayTransport
import Testing

@Suite("response header lines")
struct HeaderLineTests {
    func transfer() -> Transfer {
        let tls = TLSClientSettings(clientCertificatePath: "/nonexistent", clientKeyPath: "/nonexistent", caBundlePath: "/nonexistent")
        return Transfer(id: 1, request: HTTPSRequest(url: "https://127.0.0.1:1/", tls: tls)) { _ in }
    }

    func feed(_ t: Transfer, _ lines: [String]) {
        for line in lines {
            let bytes = Array(line.utf8)
            #expect(bytes.withUnsafeBytes { t.receiveHeaderLine($0) })
        }
    }

    @Test("names are lowercased, values trimmed of SP/HTAB/CRLF only, repeats joined, the last response wins")
    func parses() {
        let t = transfer()
        feed(t, ["HTTP/1.1 100 Continue\r\n", "X-Early: 1\r\n", "\r\n",
                 "HTTP/1.1 503 Service Unavailable\r\n", "Retry-After:\t 120 \r\n", "CONTENT-Type: application/problem+json\r\n",
                 "Set-Cookie: a=1\r\n", "set-cookie: b=2\r\n", "X-Text: żółć\u{00A0}\r\n", "X-Empty:\r\n", ": no name\r\n",
                 "no colon here\r\n", "\r\n"])
        #expect(t.responseStarted)
        #expect(t.responseHeaders["x-early"] == nil, "the 100 Continue's headers are dropped")
        #expect(t.responseHeaders["retry-after"] == "120")
        #expect(t.responseHeaders["content-type"] == "application/problem+json")
        #expect(t.responseHeaders["set-cookie"] == "a=1, b=2")
        #expect(t.responseHeaders["x-text"] == "żółć\u{00A0}", "only HTTP whitespace is trimmed")
        #expect(t.responseHeaders["x-empty"] == "")
        #expect(t.responseHeaders.count == 5)
    }

    @Test("Content-Length reserves the body once, within the cap; the header block is capped")
    func limits() {
        let t = transfer()
        feed(t, ["HTTP/2 201\r\n", "content-length: 5000\r\n"])
        #expect(t.responseBody.capacity >= 5000)
        let long = Array(("X-Long: " + String(repeating: "a", count: Transfer.maxHeaderBytes) + "\r\n").utf8)
        #expect(!long.withUnsafeBytes { t.receiveHeaderLine($0) })
        #expect(t.exceededCap)
    }
}
