// CurlStringList: owns a curl_slist (e.g. the request header lines for CURLOPT_HTTPHEADER).
//
// libcurl does not copy lists given to setopt: the list must outlive every transfer that
// uses it, so the owner of the transfer keeps this object until the transfer is done.
import CCurl

final class CurlStringList {
    private(set) var raw: UnsafeMutablePointer<curl_slist>?

    init(_ strings: [String]) throws(CurlError) {
        for string in strings {
            // curl_slist_append copies the string; on failure it returns NULL and leaves
            // the list as it was, which deinit still frees.
            guard let appended = curl_slist_append(raw, string) else {
                throw CurlError(easy: CURLE_OUT_OF_MEMORY, detail: "curl_slist_append")
            }
            raw = appended
        }
    }

    deinit { curl_slist_free_all(raw) }
}
