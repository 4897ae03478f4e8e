// A YAML document read with Yams and turned into the project's JSON value, keeping the
// line of every node so that configuration errors can say where they are.

import GatewayJSON
import Yams

public struct YAMLDocument: Sendable {
    public let value: JSON
    /// JSON Pointer → 1-based line in the file.
    public let lines: [String: Int]

    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public let line: Int?
        public let message: String
        public var description: String { line.map { "line \($0): \(message)" } ?? message }
    }

    public init(text: String) throws(Error) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Error(line: nil, message: "not valid YAML: \(error)")
        } catch {
            throw Error(line: nil, message: "not valid YAML: \(error)")
        }
        guard let root else { throw Error(line: nil, message: "the file is empty") }
        var lines: [String: Int] = [:]
        value = try Self.convert(root, pointer: "", lines: &lines, depth: 0)
        self.lines = lines
    }

    static func coreSchemaValue(_ text: String) -> JSON {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        let integer = text.wholeMatch(of: /[-+]?[0-9]+/) != nil
        let float = text.wholeMatch(of: /[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?/) != nil
        if integer || float, let d = Double(text), d.isFinite { return .number(d) }
        return .string(text)
    }

    private static func convert(_ node: Node, pointer: String, lines: inout [String: Int], depth: Int) throws(Error) -> JSON {
        if let mark = node.mark { lines[pointer] = mark.line }
        guard depth < 64 else { throw Error(line: node.mark?.line, message: "nesting too deep") }
        switch node {
        case .scalar(let scalar):
            // Plain scalars follow the YAML 1.2 core schema (no YAML 1.1 "yes"/"no"/"on" booleans,
            // which would turn a country code such as NO into false); quoted ones stay strings.
            if scalar.style == .plain { return Self.coreSchemaValue(scalar.string) }
            return .string(scalar.string)
        case .mapping(let mapping):
            var members: [String: JSON] = [:]
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw Error(line: key.mark?.line, message: "mapping keys must be strings")
                }
                let child = pointer + "/" + JSONPointer.escape(name)
                if members[name] != nil {
                    throw Error(line: key.mark?.line, message: "duplicate key \"\(name)\"")
                }
                members[name] = try convert(value, pointer: child, lines: &lines, depth: depth + 1)
            }
            return .object(members)
        case .sequence(let sequence):
            var items: [JSON] = []
            for (i, item) in sequence.enumerated() {
                items.append(try convert(item, pointer: pointer + "/\(i)", lines: &lines, depth: depth + 1))
            }
            return .array(items)
        case .alias:
            throw Error(line: node.mark?.line, message: "YAML aliases are not allowed in the configuration")
        }
    }
}
