// gatewayctl validate [--schema S] FILE...: what a unit runs before dropping a file. A
// message is checked as strict I-JSON, then against the envelope and its type's schema;
// with --schema, any JSON against any schema (a name such as "receipt" or "types/alert",
// or a schema file). Exit 0 when every file is valid, 1 otherwise.

import ArgumentParser
import Foundation
import GatewayDaemon
import GatewayJSON
import GatewaySchema

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Validate messages against the envelope and type schemas (or any JSON against --schema).",
        discussion: "Schemas are found as gatewayd finds them: $GATEWAY_SCHEMAS, the installation, or schemas/ above the executable.")

    @OptionGroup var global: GlobalOptions
    @Option(help: "A schema name (envelope, receipt, report, error, types/alert, ...) or a schema file.") var schema: String?
    @Argument(help: "JSON files.") var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one file") }
    }

    func run() throws {
        let validator: MessageValidator
        do {
            validator = try SchemaServices.validator().validator
        } catch {
            Console.error("\(error)")
            throw ExitCode(1)
        }
        var target: Schema? = nil
        if let schema {
            do {
                if FileManager.default.fileExists(atPath: schema), !schema.hasSuffix("/") {
                    let data = try Data(contentsOf: URL(fileURLWithPath: schema))
                    let doc = try JSON.parse(data)
                    target = try validator.registry.compile(doc, uri: doc["$id"]?.stringValue, options: validator.options)
                } else {
                    target = try validator.schema(named: schema)
                }
            } catch {
                Console.error("--schema \(schema): \(error)")
                throw ExitCode(1)
            }
        }
        var allValid = true
        var reports: [JSON] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                Console.error("cannot read \(file)")
                allValid = false
                reports.append(["file": .string(file), "valid": false, "errors": [["message": "cannot read the file"]]])
                continue
            }
            let result: ValidationResult
            do {
                let doc = try JSON.parse(data)
                result = target.map { $0.validate(doc) } ?? validator.validate(doc)
            } catch {
                allValid = false
                if global.json {
                    reports.append(["file": .string(file), "valid": false, "errors": [[
                        "message": .string("not valid I-JSON: \(error.detail)"), "line": .number(Double(error.line)), "column": .number(Double(error.column)),
                    ]]])
                } else {
                    Console.out("\(file): INVALID")
                    Console.out("  line \(error.line), column \(error.column): not valid I-JSON: \(error.detail)")
                }
                continue
            }
            allValid = allValid && result.isValid
            if global.json {
                reports.append(["file": .string(file), "valid": .bool(result.isValid), "errors": result.basicOutput["errors"] ?? .array([])])
            } else {
                Console.out("\(file): \(result.isValid ? "valid" : "INVALID")")
                for e in result.errors { Console.out("  \(e.description)") }
            }
        }
        if global.json { Console.json(reports.count == 1 ? reports[0] : .array(reports)) }
        if !allValid { throw ExitCode(1) }
    }
}
