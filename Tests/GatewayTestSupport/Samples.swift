import Foundation
import GatewayJSON

/// Valid messages of every type, from schemas/examples/valid, made to come from `unit`.
public enum Samples {
    public static let validDirectory = TestPaths.packageRoot.appendingPathComponent("schemas/examples/valid")
    public static let invalidDirectory = TestPaths.packageRoot.appendingPathComponent("schemas/examples/invalid")
    public static let agencyIds = Set(GatewayFixture.agencies.map(\.id))

    /// (file name, message) for every valid example that is a message.
    public static func valid() throws -> [(String, JSON)] {
        try FileManager.default.contentsOfDirectory(atPath: validDirectory.path).sorted().compactMap { name in
            guard name.hasSuffix(".json") else { return nil }
            let doc = try JSON.parse(Data(contentsOf: validDirectory.appendingPathComponent(name)))
            guard doc["type"] != nil, doc["sender"] != nil else { return nil }
            return (name, doc)
        }
    }

    /// The example as sent by `unit`, to known agencies, with a fresh id and no expiry.
    public static func adapt(_ message: JSON, unit: String, id: String = UUID().uuidString.lowercased(),
                      recipients: [String]? = nil) -> JSON {
        guard case .object(var m) = message else { return message }
        m["sender"] = .string(unit)
        var r = recipients ?? (m["recipients"]?.arrayValue?.compactMap(\.stringValue).filter { agencyIds.contains($0) } ?? [])
        if r.isEmpty { r = ["EU-EUROPOL"] }
        m["recipients"] = .array(r.map(JSON.string))
        m["messageId"] = .string(id)
        m.removeValue(forKey: "expiresAt")
        return .object(m)
    }

    public static func bytes(_ json: JSON) -> [UInt8] { Array(json.prettyString().utf8) }

    public static func set(_ json: JSON, _ key: String, _ value: JSON?) -> JSON {
        guard case .object(var m) = json else { return json }
        m[key] = value
        return .object(m)
    }
}
