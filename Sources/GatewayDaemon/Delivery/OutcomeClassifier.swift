// How an HTTP attempt's result maps to the queue (SPEC §5): the Postfix KEEP/REMOVE
// decision made explicit.
//   2xx      delivered (with a valid receipt where the endpoint requires one)
//   409      delivered: the endpoint already has it
//   400/401/403/404/413/415/422   permanent: dead-letter, tell the unit
//   408/425/429/5xx, network, timeout   transient: retry, honouring Retry-After
// Any other status is treated as transient (a retry is safe: endpoints de-duplicate), and
// says so in the reason.

import Foundation

public enum AttemptVerdict: Sendable, Equatable {
    case delivered(duplicate: Bool)
    case permanent(reason: String)
    case transient(reason: String, retryAfter: Double?)
}

public enum OutcomeClassifier {
    public static let permanentStatuses: Set<Int> = [400, 401, 403, 404, 413, 415, 422]
    public static let transientStatuses: Set<Int> = [408, 425, 429]

    public static func classify(status: Int, retryAfterHeader: String?, now: Date = Date()) -> AttemptVerdict {
        switch status {
        case 200..<300: return .delivered(duplicate: false)
        case 409: return .delivered(duplicate: true)
        case _ where permanentStatuses.contains(status):
            return .permanent(reason: "HTTP \(status) \(reasonPhrase(status)): the endpoint refused the message")
        case _ where transientStatuses.contains(status) || (500..<600).contains(status):
            return .transient(reason: "HTTP \(status) \(reasonPhrase(status))", retryAfter: retryAfterHeader.flatMap { parseRetryAfter($0, now: now) })
        default:
            return .transient(reason: "HTTP \(status) (unexpected status, retried)", retryAfter: retryAfterHeader.flatMap { parseRetryAfter($0, now: now) })
        }
    }

    /// The longest wait a Retry-After is honoured for: an endpoint asking for more (by
    /// mistake, or to keep us away for months) is asked again after a day, and the number
    /// it sends cannot overflow the queue's times (a wait past the message's expiry becomes
    /// a last try just before it).
    public static let maxRetryAfter: Double = 86_400

    /// Retry-After: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Seconds from now, at
    /// most `maxRetryAfter`.
    public static func parseRetryAfter(_ value: String, now: Date = Date()) -> Double? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            // Digits only: seconds, however many of them.
            return Int(trimmed).map { min(Double($0), maxRetryAfter) } ?? maxRetryAfter
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = formatter.date(from: trimmed) { return min(max(0, date.timeIntervalSince(now)), maxRetryAfter) }
        return nil
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 425: return "Too Early"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return ""
        }
    }
}
