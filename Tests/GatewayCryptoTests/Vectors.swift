import Foundation
import GatewayJSON
import GatewayTestSupport

/// Loads shared vector files.
enum Vectors {
    static func json(_ relative: String) throws -> JSON {
        let url = TestPaths.vector(relative)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DevPKIFixture.Failure(description: "vector file missing: \(url.path)")
        }
        return try JSON.parse(Array(data))
    }

    /// A copy of `text` with the character at `index` changed to another base64url character.
    static func flip(_ text: String, at index: Int) -> String {
        var bytes = Array(text.utf8)
        bytes[index] = bytes[index] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        return String(decoding: bytes, as: UTF8.self)
    }
}
