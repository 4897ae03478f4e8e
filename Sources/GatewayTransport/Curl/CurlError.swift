// CurlError: the one error path for libcurl.
//
// Every CURLcode and CURLMcode that is not OK becomes a CurlError here, carrying
// curl_easy_strerror's (or curl_multi_strerror's) text and, for easy handles, the detail
// libcurl wrote into CURLOPT_ERRORBUFFER ("SSL certificate problem: certificate has expired"
// says far more than "SSL peer certificate or SSH remote key was not OK"). The Swift API
// never shows a CurlError: HTTPSClient turns it into a TransportError with a kind.
import CCurl

struct CurlError: Error, CustomStringConvertible {
    /// Which interface failed: easy codes (CURLcode) and multi codes (CURLMcode) overlap.
    enum Interface: Sendable { case easy, multi }

    let interface: Interface
    /// The CURLcode or CURLMcode as a number.
    let code: Int
    /// libcurl's generic text for the code.
    let text: String
    /// libcurl's specific detail from the error buffer; empty when it wrote none.
    let detail: String

    var description: String {
        if detail.isEmpty || detail == text { return text }
        return "\(text): \(detail)"
    }

    /// An easy-interface failure; `detail` is the error buffer's contents.
    init(easy code: CURLcode, detail: String = "") {
        interface = .easy
        self.code = Int(code.rawValue)
        text = String(cString: curl_easy_strerror(code))
        self.detail = detail
    }

    /// A multi-interface failure (these have no error buffer).
    init(multi code: CURLMcode, operation: String) {
        interface = .multi
        self.code = Int(code.rawValue)
        text = String(cString: curl_multi_strerror(code))
        detail = operation
    }

    /// Throws unless `code` is CURLM_OK.
    static func check(_ code: CURLMcode, _ operation: @autoclosure () -> String) throws(CurlError) {
        guard code != CURLM_OK else { return }
        throw CurlError(multi: code, operation: operation())
    }
}
