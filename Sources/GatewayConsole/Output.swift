// Printing for people (aligned tables, ages) and for scripts (JSON).

import Foundation
import GatewayJSON
import GatewayModel
import GatewayStore

enum Console {
    /// A unit's subject, an agency's reason: never raw control characters on the operator's
    /// terminal (Printable).
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((Printable.lines(text) + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("gatewayctl: " + Printable.lines(text) + "\n").utf8))
    }

    static func json(_ value: JSON) {
        out(value.prettyString())
    }

    /// Columns padded to their widest cell; the last column is not padded.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        out(line(header))
        for row in rows { out(line(row)) }
    }

    /// "45s", "12m", "3h05m", "2d04h".
    static func age(_ millis: Int64) -> String {
        let s = max(0, millis / 1000)
        if s < 60 { return "\(s)s" }
        if s < 3_600 { return "\(s / 60)m" }
        if s < 86_400 { return String(format: "%dh%02dm", s / 3_600, s % 3_600 / 60) }
        return String(format: "%dd%02dh", s / 86_400, s % 86_400 / 3_600)
    }

    static func time(_ millis: Int64?) -> String {
        guard let millis else { return "-" }
        return RFC3339.format(millis: millis)
    }
}

extension DeliverySummary {
    var json: JSON {
        [
            "delivery": .number(Double(deliveryId)), "messageId": .string(messageId), "sender": .string(sender),
            "type": .string(type), "recipient": .string(recipient), "endpoint": .string(endpoint),
            "state": .string(state.rawValue), "priority": .string(priority.rawValue), "classification": .string(classification),
            "acceptedAt": .string(RFC3339.format(millis: acceptedAt)), "updatedAt": .string(RFC3339.format(millis: updatedAt)),
            "attempts": .number(Double(attempts)),
            "nextAttemptAt": nextAttemptAt.map { .string(RFC3339.format(millis: $0)) } ?? .null,
            "reason": reason.map(JSON.string) ?? .null,
        ]
    }
}

extension AuditRecord {
    var json: JSON {
        [
            "seq": .number(Double(seq)), "at": .string(RFC3339.format(millis: at)), "event": .string(event), "actor": .string(actor),
            "sender": sender.map(JSON.string) ?? .null, "messageId": messageId.map(JSON.string) ?? .null,
            "recipient": recipient.map(JSON.string) ?? .null, "details": (try? JSON.parse(details)) ?? .string(details),
            "hash": .string(hash),
        ]
    }

    var line: String {
        var parts = ["\(seq)", RFC3339.format(millis: at), event, "by \(actor)"]
        if let sender, let messageId { parts.append("\(sender)/\(messageId)") }
        if let recipient { parts.append("→ \(recipient)") }
        if details != "{}" { parts.append(details) }
        return parts.joined(separator: "  ")
    }
}
