// MockConfiguration: the agency-mock's YAML configuration, read strictly.
//
// Every key is checked by name (an unknown key is an error, so a typo such as `tlskey`
// does not silently fall back to a default), and every error names the key path and the
// line, e.g. `agencies[1].tlsKey (line 12): required`. Relative paths resolve against the
// folder of the configuration file, so a config beside its PKI works from any directory.
import Foundation
import GatewayJSON
import GatewayModel

/// The parsed configuration (paths are absolute; nothing is loaded yet).
public struct MockConfiguration: Sendable {
    public struct Agency: Sendable {
        public var id: String
        /// 0 = ephemeral.
        public var port: Int
        public var tlsCertificate: String
        public var tlsKey: String
        public var receiptKey: String
        public var receiptChain: String
        /// Offer HTTP/2 in the TLS handshake (ALPN "h2", with "http/1.1" for clients
        /// without it), as an agency's front end may; false (the default): HTTP/1.1 only.
        public var http2: Bool = false
    }

    public var controlPort: Int
    public var clientCA: String
    public var gatewaySigningAnchors: String
    public var gatewaySigningCRLs: [String]
    public var schemas: String?
    public var agencies: [Agency]

    /// A configuration error: `key` is the path of the offending key (`agencies[0].port`).
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public let key: String
        public let line: Int?
        public let message: String
        public var description: String {
            let at = line.map { " (line \($0))" } ?? ""
            return key.isEmpty ? "\(message)\(at)" : "\(key)\(at): \(message)"
        }
    }

    /// Reads and checks `path`.
    public static func load(path: String) throws(Error) -> MockConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error(key: "", line: nil, message: "cannot read the configuration file \(path)")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        return try parse(text: String(decoding: data, as: UTF8.self), baseDirectory: base)
    }

    /// Parses YAML text; relative paths resolve against `baseDirectory`.
    public static func parse(text: String, baseDirectory: URL) throws(Error) -> MockConfiguration {
        let document: YAMLDocument
        do { document = try YAMLDocument(text: text) } catch {
            throw Error(key: "", line: error.line, message: error.message)
        }
        let reader = Reader(document: document, base: baseDirectory)
        return try reader.configuration()
    }
}

/// Walks the YAML value with the key path at hand, so that each error can name it.
private struct Reader {
    let document: YAMLDocument
    let base: URL

    typealias Error = MockConfiguration.Error

    func fail(_ key: String, _ pointer: String, _ message: String) -> Error {
        Error(key: key, line: document.lines[pointer], message: message)
    }

    func configuration() throws(Error) -> MockConfiguration {
        let root = try object(document.value, key: "", pointer: "",
                              allowed: ["control", "clientCA", "gatewaySigningAnchors", "gatewaySigningCRLs", "schemas", "agencies"])
        var controlPort = 0
        if let control = root["control"] {
            let members = try object(control, key: "control", pointer: "/control", allowed: ["port"])
            if let port = members["port"] { controlPort = try self.port(port, key: "control.port", pointer: "/control/port") }
        }
        let clientCA = try path(root["clientCA"], key: "clientCA", pointer: "/clientCA")
        let anchors = try path(root["gatewaySigningAnchors"], key: "gatewaySigningAnchors", pointer: "/gatewaySigningAnchors")
        var crls: [String] = []
        if let list = root["gatewaySigningCRLs"] {
            guard case .array(let items) = list else {
                throw fail("gatewaySigningCRLs", "/gatewaySigningCRLs", "expected a list of file paths")
            }
            for (i, item) in items.enumerated() {
                crls.append(try path(item, key: "gatewaySigningCRLs[\(i)]", pointer: "/gatewaySigningCRLs/\(i)"))
            }
        }
        let schemas = try root["schemas"].map { (value) throws(Error) in try path(value, key: "schemas", pointer: "/schemas") }

        guard case .array(let list)? = root["agencies"], !list.isEmpty else {
            throw fail("agencies", "/agencies", "required: a non-empty list of agencies")
        }
        var agencies: [MockConfiguration.Agency] = []
        for (i, item) in list.enumerated() {
            agencies.append(try agency(item, index: i))
        }
        var seenIDs: Set<String> = []
        var seenPorts: Set<Int> = [controlPort]
        for (i, agency) in agencies.enumerated() {
            guard seenIDs.insert(agency.id).inserted else {
                throw fail("agencies[\(i)].id", "/agencies/\(i)/id", "duplicate agency id \(agency.id)")
            }
            if agency.port != 0, !seenPorts.insert(agency.port).inserted {
                throw fail("agencies[\(i)].port", "/agencies/\(i)/port", "port \(agency.port) is used twice")
            }
        }
        return MockConfiguration(controlPort: controlPort, clientCA: clientCA, gatewaySigningAnchors: anchors,
                                 gatewaySigningCRLs: crls, schemas: schemas, agencies: agencies)
    }

    func agency(_ value: JSON, index i: Int) throws(Error) -> MockConfiguration.Agency {
        let key = "agencies[\(i)]", pointer = "/agencies/\(i)"
        let members = try object(value, key: key, pointer: pointer,
                                 allowed: ["id", "port", "tlsCertificate", "tlsKey", "receiptKey", "receiptChain", "http2"])
        guard case .string(let id)? = members["id"] else {
            throw fail("\(key).id", "\(pointer)/id", "required: the agency's participant id, e.g. EU-EUROPOL")
        }
        guard id.wholeMatch(of: /[A-Z]{2}-[A-Z0-9]+/) != nil, id.count <= 32 else {
            throw fail("\(key).id", "\(pointer)/id", "\"\(id)\" is not a participant id (CC-NAME, e.g. EU-EUROPOL)")
        }
        let port = try members["port"].map { (v) throws(Error) in try self.port(v, key: "\(key).port", pointer: "\(pointer)/port") } ?? 0
        func file(_ name: String) throws(Error) -> String {
            try path(members[name], key: "\(key).\(name)", pointer: "\(pointer)/\(name)")
        }
        var http2 = false
        if let value = members["http2"] {
            guard case .bool(let b) = value else { throw fail("\(key).http2", "\(pointer)/http2", "expected true or false") }
            http2 = b
        }
        return MockConfiguration.Agency(id: id, port: port, tlsCertificate: try file("tlsCertificate"),
                                        tlsKey: try file("tlsKey"), receiptKey: try file("receiptKey"),
                                        receiptChain: try file("receiptChain"), http2: http2)
    }

    func object(_ value: JSON, key: String, pointer: String, allowed: Set<String>) throws(Error) -> [String: JSON] {
        guard case .object(let members) = value else {
            throw fail(key, pointer, "expected a mapping, found \(value.typeName)")
        }
        if let unknown = members.keys.sorted().first(where: { !allowed.contains($0) }) {
            let name = key.isEmpty ? unknown : "\(key).\(unknown)"
            throw fail(name, pointer + "/" + JSONPointer.escape(unknown),
                       "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
        }
        return members
    }

    func port(_ value: JSON, key: String, pointer: String) throws(Error) -> Int {
        guard case .number(let d) = value, d == d.rounded(), d >= 0, d <= 65_535 else {
            throw fail(key, pointer, "expected a port number 0-65535 (0 = any free port)")
        }
        return Int(d)
    }

    /// A required file path, made absolute against the config file's folder.
    func path(_ value: JSON?, key: String, pointer: String) throws(Error) -> String {
        guard let value else { throw fail(key, pointer, "required: a file path") }
        guard case .string(let text) = value, !text.isEmpty else {
            throw fail(key, pointer, "expected a file path")
        }
        if text.hasPrefix("/") { return text }
        return base.appendingPathComponent(text).standardizedFileURL.path
    }
}
