// Reply: an HTTP answer as plain values (status, media type, bytes), so the message logic
// (MessageIntake) is testable and readable without Hummingbird; the router turns it into
// a Response in one place.
import GatewayJSON

public struct Reply: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var retryAfter: String?

    public init(status: Int, contentType: String, body: [UInt8], retryAfter: String? = nil) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.retryAfter = retryAfter
    }

    /// A JSON answer (control API), serialised canonically: compact and stable for tests.
    public static func json(_ value: JSON, status: Int = 200) -> Reply {
        Reply(status: status, contentType: "application/json", body: (try? value.canonicalBytes()) ?? Array("null".utf8))
    }

    /// A problem document (RFC 9457 shape): `{"title", "detail", "status", "reason", ...}`.
    /// `reason` is a stable token (also the key in `GET /stats`' rejected counts).
    public static func problem(_ status: Int, title: String, detail: String, reason: String,
                               extra: [String: JSON] = [:], retryAfter: String? = nil) -> Reply {
        var members = extra
        members["title"] = .string(title)
        members["detail"] = .string(detail)
        members["status"] = .number(Double(status))
        members["reason"] = .string(reason)
        return Reply(status: status, contentType: "application/problem+json",
                     body: (try? JSON.object(members).canonicalBytes()) ?? [], retryAfter: retryAfter)
    }
}
