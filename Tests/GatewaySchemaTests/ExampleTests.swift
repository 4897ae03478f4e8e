// Every sample in schemas/examples/ gives its stated result: valid/ ones validate, each
// invalid/NAME.json fails with the error its NAME.expect.json states (instance location,
// keyword, words of the message). The schema is named by the file name's prefix before
// "--": a message type (or "envelope") means the full message check, anything else is a
// schema name ("receipt", "report", "error").

import Foundation
import GatewayJSON
import GatewayTestSupport
import GatewaySchema
import Testing

enum Examples {
    static let schemas = TestPaths.packageRoot.appendingPathComponent("schemas")
    static let validator: MessageValidator = {
        do { return try MessageValidator(schemasDirectory: schemas) } catch { fatalError("schemas/ does not load: \(error)") }
    }()
    static let messageKinds: Set<String> = ["envelope", "information-request", "information-reply", "operational-report", "alert", "grant-application", "training-nomination"]

    static func files(_ folder: String) -> [String] {
        let url = schemas.appendingPathComponent("examples/" + folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasSuffix(".expect.json") }.sorted()
    }

    static func validate(_ folder: String, _ name: String) throws -> ValidationResult {
        let data = try Data(contentsOf: schemas.appendingPathComponent("examples/\(folder)/\(name)"))
        let json = try JSON.parse(data)
        let kind = name.components(separatedBy: "--")[0]
        if messageKinds.contains(kind) { return validator.validate(json) }
        return try validator.schema(named: kind).validate(json)
    }
}

@Suite("schemas/examples")
struct ExampleTests {
    @Test("the schemas load and compile against the 2020-12 meta-schema")
    func schemasAreValidSchemas() throws {
        let registry = Examples.validator.registry
        let meta = try registry.schema("https://json-schema.org/draft/2020-12/schema")
        for (file, uri) in registry.fileNames.sorted(by: { $0.key < $1.key }) {
            let document = try JSON.parse(Data(contentsOf: Examples.schemas.appendingPathComponent(file)))
            let result = meta.validate(document)
            #expect(result.isValid, "\(file) is not a valid 2020-12 schema: \(result)")
            #expect(uri == "https://gateway.example/schemas/\(file)")
            _ = try registry.schema(uri)
        }
        // envelope, common, receipt, report, error, config and the six types.
        #expect(registry.fileNames.count == 12)
    }

    @Test("at least two valid samples per message type, and each is valid")
    func validSamples() throws {
        let files = Examples.files("valid")
        for kind in Examples.messageKinds where kind != "envelope" {
            #expect(files.filter { $0.hasPrefix(kind + "--") }.count >= 2, "fewer than two valid samples of \(kind)")
        }
        for name in files {
            let result = try Examples.validate("valid", name)
            #expect(result.isValid, "\(name): \(result)")
        }
    }

    @Test("each invalid sample fails with the error it states")
    func invalidSamples() throws {
        let files = Examples.files("invalid")
        #expect(files.count >= 25)
        for name in files {
            let expectURL = Examples.schemas.appendingPathComponent("examples/invalid/" + name.replacingOccurrences(of: ".json", with: ".expect.json"))
            let expectation = try JSON.parse(Data(contentsOf: expectURL))
            let location = try #require(expectation["instanceLocation"]?.stringValue)
            let keyword = try #require(expectation["keyword"]?.stringValue)
            let words = try #require(expectation["messageContains"]?.stringValue)
            let result = try Examples.validate("invalid", name)
            #expect(!result.isValid, "\(name) should be invalid")
            print("\(name):\n  " + result.errors.map { "\($0) [\($0.keywordLocation)]" }.joined(separator: "\n  "))
            let match = result.errors.contains { error in
                error.instanceLocation == location && error.keyword == keyword && error.message.contains(words)
                    && (error.keywordLocation.hasSuffix("/" + keyword) || keyword == "errorMessage")
            }
            #expect(match, "\(name): expected \(keyword) at \"\(location)\" saying \(words); got:\n\(result)")
        }
    }
}
