/// Small helpers to tell PEM from DER and to split PEM bundles.
enum PEMDocument {
    /// True when the bytes (after leading white space) start with a PEM boundary.
    static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ".utf8)
        guard let start = bytes.firstIndex(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) else { return false }
        return bytes[start...].starts(with: marker)
    }
}
