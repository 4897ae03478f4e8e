// Durations ("500ms", "5s", "10m", "2h", "30d") and sizes ("50MB", "1GiB", "4096") as the
// configuration writes them.

public enum Quantity {
    /// Seconds in a duration text, or nil.
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            // "5m" must not be read as "5" + "m" of "ms" the other way round.
            if suffix == "s", number.hasSuffix("m") { continue }
            guard let value = Double(number), value >= 0, value.isFinite else { return nil }
            return value * factor
        }
        return nil
    }

    /// Bytes in a size text ("50MB" = 50,000,000; "50MiB" = 52,428,800), or nil.
    public static func bytes(_ text: String) -> Int? {
        let units: [(String, Double)] = [
            ("KiB", 1_024), ("MiB", 1_048_576), ("GiB", 1_073_741_824),
            ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        ]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let value = Double(number), value >= 0, value.isFinite, value * factor < 9.0e18 else { return nil }
            return Int(value * factor)
        }
        return Int(trimmed)
    }
}

import Foundation
