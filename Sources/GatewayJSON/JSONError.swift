/// Why a document is not acceptable I-JSON, and where.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case empty
        case byteOrderMark
        case invalidUTF8
        case unexpectedCharacter
        case unexpectedEnd
        case trailingContent
        case duplicateMember
        case loneSurrogate
        /// A Unicode noncharacter (U+FDD0–U+FDEF, U+xFFFE, U+xFFFF): I-JSON forbids them.
        case noncharacter
        /// More than 30 combining marks in a row (Unicode's Stream-Safe Text Format, UAX #15):
        /// normalising such text (which hashing a Swift string does) costs time quadratic in
        /// the run; no language needs more.
        case combiningMarks
        case invalidEscape
        case controlCharacterInString
        case numberOutOfRange
        case invalidNumber
        case tooDeep
        case tooLarge
    }

    public let reason: Reason
    /// 1-based line and column (column counts bytes) of the offending byte.
    public let line: Int
    public let column: Int
    public let offset: Int
    public let detail: String

    public var description: String { "line \(line), column \(column): \(detail)" }
}

/// A value cannot be serialised (a non-finite number inside a constructed value).
public struct JSONSerializationError: Error, Sendable, CustomStringConvertible {
    public let detail: String
    public var description: String { detail }
}
