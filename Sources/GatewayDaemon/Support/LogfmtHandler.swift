// Structured log lines (logfmt) on standard error: ts=… level=… msg="…" key=value …
// Callers put identifiers in metadata, never message content.

import Foundation
import GatewayModel
import Logging

public struct LogfmtHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "ts=\(RFC3339Now.string()) level=\(event.level.rawValue) component=\(label) msg=\(Self.quote(event.message.description))"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.quote(merged[key]!.description))"
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// The longest value written (a unit's file name or an agency's text can be long).
    static let maxValueLength = 1024

    /// A value as logfmt: bare when it can be, else quoted with every control character,
    /// line or paragraph separator escaped (\n, \r, \t, \u001b…), so that a unit's file
    /// name or an agency's text can neither forge a log line nor reach a terminal raw.
    /// Cut at `maxValueLength` characters ("…" marks the cut).
    static func quote(_ s: String) -> String {
        let needs = s.isEmpty || s.unicodeScalars.contains { Self.mustEscape($0) || $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" }
        guard needs || s.unicodeScalars.count > maxValueLength else { return s }
        var out = "\""
        var count = 0
        for scalar in s.unicodeScalars {
            if count == maxValueLength {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where Self.mustEscape(scalar): out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func mustEscape(_ c: Unicode.Scalar) -> Bool { Printable.isControl(c) }
}

enum RFC3339Now {
    static func string() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return GatewayModelRFC3339.format(Int64(tv.tv_sec) * 1000 + Int64(tv.tv_usec / 1000))
    }
}

enum GatewayModelRFC3339 {
    static func format(_ ms: Int64) -> String { RFC3339.format(millis: ms) }
}
