// Structured log lines (logfmt) on standard error: ts=… level=… msg="…" key=value …
// Callers put identifiers in metadata, never message content.

import Foundation
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

    static func quote(_ s: String) -> String {
        let needs = s.isEmpty || s.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.isNewline }
        guard needs else { return s }
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out + "\""
    }
}

enum RFC3339Now {
    static func string() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        return GatewayModelRFC3339.format(Int64(tv.tv_sec) * 1000 + Int64(tv.tv_usec / 1000))
    }
}

import GatewayModel
enum GatewayModelRFC3339 {
    static func format(_ ms: Int64) -> String { RFC3339.format(millis: ms) }
}
