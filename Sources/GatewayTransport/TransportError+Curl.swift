// TransportError+Curl: the CURLcode → TransportError.Kind table.
//
// The codes are libcurl 7.88's (include/curl/curl.h). Two cases need context beyond the code:
//
// * A server that refuses our client certificate does not produce a CURLE_SSL_* code with
//   TLS 1.3: the client's side of the handshake completes before the server has checked
//   our certificate, the server's alert arrives with the first read, and libcurl reports
//   CURLE_RECV_ERROR (56) or CURLE_SEND_ERROR (55); with TLS 1.2 the alert arrives inside
//   the handshake (CURLE_SSL_CONNECT_ERROR, 35). So the code alone cannot tell; the alert
//   text in the error buffer can ("tlsv1 alert unknown ca", "certificate required", ...).
//   Only when that text names a certificate alert, and no response had begun, is the kind
//   clientCertificateRejected; otherwise 55/56 are network and 35 is tls. The alert is not
//   always visible: when the server has already closed (or reset) the connection by the
//   time libcurl writes the request, the send fails (55, "Transport endpoint is not
//   connected") before the alert is read. A 55/56 right after a handshake this transfer
//   made, before any response, is therefore reported as network with a message that says
//   the client certificate may have been refused: retrying is harmless, and the operator
//   reading the message is pointed at the likely cause without the engine guessing.
// * CURLE_WRITE_ERROR (23) is what libcurl reports when our write callback refuses data;
//   it only does so at the size cap, so 23 with the cap flag set is responseTooLarge.
import CCurl

extension TransportError {
    /// What the engine knew about the transfer when it failed.
    struct FailureContext {
        /// Our write or header callback refused data because of the size cap.
        var exceededCap = false
        /// A status line had been received.
        var responseStarted = false
        /// The transfer was removed because the client shut down or the caller cancelled.
        var cancelled = false
        /// This transfer made a new connection and completed its TLS handshake.
        var completedHandshake = false
    }

    /// Alerts a TLS server sends when it does not accept the client's certificate
    /// (OpenSSL's wording of RFC 8446 §6.2 alerts, as they appear in libcurl's error buffer).
    static let clientCertificateAlerts = [
        "alert unknown ca", "alert bad certificate", "alert certificate required",
        "alert certificate unknown", "alert certificate expired", "alert certificate revoked",
        "alert unsupported certificate", "alert access denied",
    ]

    init(curl error: CurlError, context: FailureContext) {
        // A multi-interface code (CURLMcode) is not a CURLcode: the same numbers mean other
        // things; the multi handle failing is the gateway's trouble, tried again.
        let kind = error.interface == .easy ? Self.kind(forCurlCode: error.code, detail: error.description, context: context)
            : (context.cancelled ? .cancelled : .network)
        var message = error.description
        switch kind {
        case .clientCertificateRejected:
            message += " (the server refused our client certificate: check that it chains to the anchors the endpoint trusts and is valid)"
        case .responseTooLarge where error.code == Int(CURLE_WRITE_ERROR.rawValue):
            message = "the response exceeded the size limit (\(error.description))"
        case .network where context.completedHandshake && !context.responseStarted
            && (error.code == Int(CURLE_SEND_ERROR.rawValue) || error.code == Int(CURLE_RECV_ERROR.rawValue)):
            message += " (the server closed the connection right after the TLS handshake, before any response:"
                + " with TLS 1.3 this is how a refused client certificate can show up; check that ours chains"
                + " to the anchors the endpoint trusts and is valid)"
        default:
            break
        }
        self.init(kind: kind, curlCode: error.interface == .easy ? error.code : 0, message: message)
    }

    /// The kind for a CURLcode, given the error text and what the engine saw.
    static func kind(forCurlCode code: Int, detail: String, context: FailureContext) -> Kind {
        if context.cancelled { return .cancelled }
        let rejected = !context.responseStarted && names(clientCertificateAlertIn: detail)
        switch CURLcode(rawValue: UInt32(clamping: max(code, 0))) {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .resolve
        case CURLE_COULDNT_CONNECT:
            return .connect
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_PEER_FAILED_VERIFICATION,      // 60: chain, validity or host name
             CURLE_OBSOLETE51,                    // 51: the pre-7.62 peer-verification code
             CURLE_SSL_PINNEDPUBKEYNOTMATCH,      // 90
             CURLE_SSL_INVALIDCERTSTATUS,         // 91: OCSP stapling said no
             CURLE_SSL_ISSUER_ERROR:              // 83: issuer check
            return .serverCertificate
        case CURLE_SSL_CLIENTCERT:                // 98: the TLS library says a client cert was required
            return .clientCertificateRejected
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_SHUTDOWN_FAILED:    // 35, 80
            return rejected ? .clientCertificateRejected : .tls
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR:                    // 55, 56
            return rejected ? .clientCertificateRejected : .network
        case CURLE_SSL_CERTPROBLEM,               // 58: our certificate or key file
             CURLE_SSL_CACERT_BADFILE,            // 77: our CA bundle
             CURLE_SSL_CRL_BADFILE,               // 82
             CURLE_SSL_CIPHER,                    // 59: our cipher list
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED, // 53, 54, 66
             CURLE_NOT_BUILT_IN, CURLE_UNKNOWN_OPTION, CURLE_FAILED_INIT, CURLE_OUT_OF_MEMORY:   // 4, 48, 2, 27
            return .localConfiguration
        case CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2,
             CURLE_HTTP2_STREAM, CURLE_READ_ERROR, CURLE_AGAIN:     // 52, 18, 8, 16, 92, 26, 81
            return .network
        case CURLE_WRITE_ERROR:                   // 23
            return context.exceededCap ? .responseTooLarge : .network
        case CURLE_FILESIZE_EXCEEDED:             // 63: Content-Length above CURLOPT_MAXFILESIZE
            return .responseTooLarge
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT: // 1, 3, 43
            return .invalidRequest
        case CURLE_ABORTED_BY_CALLBACK:           // 42
            return .cancelled
        default:
            return .network
        }
    }

    static func names(clientCertificateAlertIn detail: String) -> Bool {
        let lower = detail.lowercased()
        return clientCertificateAlerts.contains { lower.contains($0) }
    }
}
