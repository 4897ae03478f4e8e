// Format+Date: RFC 3339 date, time, date-time and duration, straight from the ABNF
// (§5.6 and Appendix A), ASCII digits only, with calendar and leap-second checks.

import Foundation

enum FormatDate {
    /// Parses exactly `count` ASCII digits at `i`.
    private static func digits(_ b: [UInt8], _ i: inout Int, _ count: Int) -> Int? {
        guard i + count <= b.count else { return nil }
        var value = 0
        for k in i..<(i + count) {
            guard b[k] >= 48, b[k] <= 57 else { return nil }
            value = value * 10 + Int(b[k] - 48)
        }
        i += count
        return value
    }

    private static func expect(_ b: [UInt8], _ i: inout Int, _ c: Character) -> Bool {
        guard i < b.count, b[i] == c.asciiValue! else { return false }
        i += 1
        return true
    }

    static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func fullDate(_ b: [UInt8], _ i: inout Int) -> Bool {
        guard let year = digits(b, &i, 4), expect(b, &i, "-"), let month = digits(b, &i, 2), expect(b, &i, "-"),
              let day = digits(b, &i, 2) else { return false }
        return (1...12).contains(month) && day >= 1 && day <= daysInMonth(month, year: year)
    }

    /// partial-time + time-offset; a leap second (:60) only at 23:59 UTC.
    private static func fullTime(_ b: [UInt8], _ i: inout Int) -> Bool {
        guard let hour = digits(b, &i, 2), expect(b, &i, ":"), let minute = digits(b, &i, 2), expect(b, &i, ":"),
              let second = digits(b, &i, 2) else { return false }
        guard hour <= 23, minute <= 59, second <= 60 else { return false }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            guard i > start else { return false }
        }
        guard i < b.count else { return false }
        var offsetMinutes = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            i += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
            i += 1
            guard let oh = digits(b, &i, 2), expect(b, &i, ":"), let om = digits(b, &i, 2), oh <= 23, om <= 59 else { return false }
            offsetMinutes = sign * (oh * 60 + om)
        default:
            return false
        }
        if second == 60 {
            let utc = ((hour * 60 + minute - offsetMinutes) % 1440 + 1440) % 1440
            return utc == 23 * 60 + 59
        }
        return true
    }

    static func isDate(_ s: String) -> Bool {
        let b = Array(s.utf8)
        var i = 0
        return fullDate(b, &i) && i == b.count
    }

    static func isTime(_ s: String) -> Bool {
        let b = Array(s.utf8)
        var i = 0
        return fullTime(b, &i) && i == b.count
    }

    static func isDateTime(_ s: String) -> Bool {
        let b = Array(s.utf8)
        var i = 0
        guard fullDate(b, &i), i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") else { return false }
        i += 1
        return fullTime(b, &i) && i == b.count
    }

    /// RFC 3339 Appendix A: "P" (dur-date / dur-time / dur-week), each element in order and
    /// without gaps (years then months then days; hours then minutes then seconds).
    static func isDuration(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.first == UInt8(ascii: "P"), b.count > 1 else { return false }
        var i = 1
        // Elements as (number, unit) pairs.
        func element() -> UInt8? {
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
            guard i > start, i < b.count else { return nil }
            defer { i += 1 }
            return b[i]
        }
        func chain(_ units: [UInt8]) -> Bool {
            // One or more consecutive units from `units`, starting anywhere, no gaps.
            guard let first = element(), var position = units.firstIndex(of: first) else { return false }
            while i < b.count, b[i] != UInt8(ascii: "T") {
                guard let next = element(), position + 1 < units.count, units[position + 1] == next else { return false }
                position += 1
            }
            return true
        }
        let date = "YMD".utf8.map { $0 }
        let time = "HMS".utf8.map { $0 }
        if b[i] != UInt8(ascii: "T") {
            // A week stands alone.
            let save = i
            if let unit = element(), unit == UInt8(ascii: "W") { return i == b.count }
            i = save
            guard chain(date) else { return false }
            if i == b.count { return true }
        }
        guard i < b.count, b[i] == UInt8(ascii: "T") else { return false }
        i += 1
        guard i < b.count, chain(time) else { return false }
        return i == b.count
    }
}
