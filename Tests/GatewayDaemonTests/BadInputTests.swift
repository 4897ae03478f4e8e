import Foundation
import GatewayJSON
import GatewayDaemon
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Testing

/// One hostile or wrong input and the refusal it must get.
struct BadInput {
    var name: String
    var stage: String
    /// Writes the file into the outbox (through a temporary name) or sets up the special file.
    var place: (GatewayFixture, String) throws -> Void
    var unit = "PL-KGP"
    /// A word the error file must contain (in a message), if any.
    var mentions: String? = nil
}

@Suite("gatewayd refuses bad input (real binary)", .serialized)
struct BadInputTests {
    static func bytes(_ b: [UInt8], _ name: String, stage: String, mentions: String? = nil) -> BadInput {
        BadInput(name: name, stage: stage, place: { f, n in try f.drop(b, unit: "PL-KGP", name: n) }, mentions: mentions)
    }

    static func text(_ t: String, _ name: String, stage: String = "json", mentions: String? = nil) -> BadInput {
        bytes(Array(t.utf8), name, stage: stage, mentions: mentions)
    }

    /// Moves a special file made by `make` into the outbox under `name` (a rename, as units do).
    static func special(_ name: String, stage: String, mentions: String?, make: @escaping (String) throws -> Void) -> BadInput {
        BadInput(name: name, stage: stage, place: { f, n in
            let temp = f.outbox("PL-KGP").appendingPathComponent(".\(n).tmp").path
            try make(temp)
            guard rename(temp, f.outbox("PL-KGP").appendingPathComponent(n).path) == 0 else { throw DevPKIFixture.Failure(description: "rename") }
        }, mentions: mentions)
    }

    static func corpus() throws -> [BadInput] {
        var inputs: [BadInput] = []
        // Malformed JSON, encodings, limits.
        let malformed = [
            "", " ", "{", "}", "[", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "[1,]", "{'a':1}", "{a:1}", "NaN", "Infinity", "-", "01", "1.", ".5",
            "1e", "\"unterminated", "{\"a\":1}}", "{\"a\":1} x", "tru", "nul", "[1 2]", "{\"a\" 1}", "\"\\x\"", "\"\\u12\"", "\"\\uZZZZ\"",
            "// comment\n{}", "/* c */{}", "{\"a\":1e999}", "{\"a\":-1e999}", "{\"a\":1e-999}", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
            "{\"a\":\"tab\there\"}", "{\"a\":\"new\nline\"}", "[[[[[[]]]]]", "{\"a\":1,\"a\":1}", "{\"x\":{\"b\":1,\"b\":2}}", "{\"a\":1,\"\\u0061\":2}",
            "[{\"k\":[{\"k\":1,\"k\":2}]}]", "\u{FEFF}{}",
        ]
        for (i, t) in malformed.enumerated() { inputs.append(text(t, "malformed-\(i).json")) }
        inputs.append(bytes([0xEF, 0xBB, 0xBF] + Array("{\"a\":1}".utf8), "bom.json", stage: "json", mentions: "byte-order mark"))
        inputs.append(bytes(Array("{\"a\":\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8), "utf8-bad.json", stage: "json", mentions: "UTF-8"))
        inputs.append(bytes([0x22, 0xC0, 0xAF, 0x22], "utf8-overlong.json", stage: "json", mentions: "UTF-8"))
        inputs.append(bytes([0x22, 0xED, 0xA0, 0x80, 0x22], "utf8-surrogate.json", stage: "json", mentions: "surrogate"))
        inputs.append(bytes([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], "utf8-too-high.json", stage: "json", mentions: "UTF-8"))
        // I-JSON's value rules: no noncharacters, no integer a double cannot hold exactly.
        inputs.append(bytes(Array("{\"a\":\"".utf8) + [0xEF, 0xBF, 0xBE] + Array("\"}".utf8), "noncharacter-raw.json", stage: "json", mentions: "noncharacter"))
        inputs.append(text("{\"a\":\"\\uFDD0\"}", "noncharacter-escaped.json", mentions: "noncharacter"))
        inputs.append(text("{\"quantity\":12345678901234567}", "integer-inexact.json", mentions: "2^53"))
        inputs.append(bytes([0x22, 0xFF, 0x22], "utf8-ff.json", stage: "json", mentions: "UTF-8"))
        inputs.append(bytes([0x7B, 0x00, 0x7D], "nul-outside.json", stage: "json"))
        inputs.append(bytes(Array("{\"a\":\"".utf8) + [0x00] + Array("\"}".utf8), "nul-inside.json", stage: "json", mentions: "control character"))
        inputs.append(bytes([UInt8](repeating: 0, count: 4096), "all-nul.json", stage: "json"))
        inputs.append(text(String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), "deep-array.json", mentions: "nesting"))
        inputs.append(text(String(repeating: "{\"a\":", count: 100_000) + "1" + String(repeating: "}", count: 100_000), "deep-object.json", mentions: "nesting"))
        inputs.append(text("[1,2,3]", "not-an-object.json", stage: "schema", mentions: "object"))
        inputs.append(text("\"just a string\"", "string.json", stage: "schema"))
        // Special files.
        inputs.append(special("sparse-1gb.json", stage: "file", mentions: "over the limit") { path in
            let fd = open(path, O_CREAT | O_WRONLY, 0o644)
            ftruncate(fd, 1 << 30)
            close(fd)
        })
        inputs.append(special("symlink.json", stage: "file", mentions: "symbolic link") { path in
            symlink("/etc/passwd", path)
        })
        inputs.append(special("fifo.json", stage: "file", mentions: "FIFO") { path in
            mkfifo(path, 0o644)
        })
        inputs.append(special("hardlink.json", stage: "file", mentions: "hard links") { path in
            let other = path + ".original"
            try Data("{}".utf8).write(to: URL(fileURLWithPath: other))
            link(other, path)
            rename(other, URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("kept-original").path)
        })
        inputs.append(special("directory.json", stage: "file", mentions: "directory") { path in
            mkdir(path, 0o755)
        })
        inputs.append(text("{}", "wrong-name.txt", stage: "file", mentions: "must end in .json"))

        let valid = try Samples.valid()
        let alert = Samples.adapt(valid.first { $0.1["type"] == "alert" }!.1, unit: "PL-KGP")
        // Identity, routing, ceilings, expiry, attachments.
        inputs.append(bytes(Samples.bytes(Samples.set(alert, "sender", "PL-CBA")), "wrong-sender.json", stage: "sender", mentions: "does not match the folder"))
        inputs.append(bytes(Samples.bytes(Samples.set(alert, "recipients", ["EU-INTERPOL"])), "unknown-recipient.json", stage: "routing", mentions: "not a known participant (known: EU-CEPOL"))
        inputs.append(bytes(Samples.bytes(Samples.set(Samples.set(alert, "recipients", ["EU-OLAF"]), "classification", "SECRET UE/EU SECRET")),
                            "above-ceiling.json", stage: "routing", mentions: "above the ceiling"))
        inputs.append(bytes(Samples.bytes(Samples.set(alert, "expiresAt", "2020-01-01T00:00:00Z")), "expired.json", stage: "expiry", mentions: "expired"))
        inputs.append(bytes(Samples.bytes(Samples.set(alert, "recipients", ["PL-KGP"])), "to-itself.json", stage: "routing", mentions: "the sender itself"))
        inputs.append(bytes(Samples.bytes(Samples.set(alert, "createdAt", "2099-01-01T00:00:00Z")), "created-in-future.json", stage: "expiry",
                            mentions: "ahead of the gateway's clock"))
        let soon = Date().millis
        inputs.append(bytes(Samples.bytes(Samples.set(Samples.set(alert, "createdAt", .string(RFC3339.format(millis: soon + 240_000))),
                                                      "expiresAt", .string(RFC3339.format(millis: soon + 120_000)))),
                            "expires-before-created.json", stage: "expiry", mentions: "is not after createdAt"))
        let content = Array("attachment content".utf8)
        func attachment(size: Int, digest: String) -> JSON {
            ["name": "evidence.txt", "mediaType": "text/plain", "size": .number(Double(size)), "sha256": .string(digest),
             "content": .string(Base64URL.encodeStandard(content))]
        }
        inputs.append(bytes(Samples.bytes(Samples.set(alert, "attachments", [attachment(size: content.count, digest: String(repeating: "ab", count: 32))])),
                            "attachment-digest.json", stage: "attachment", mentions: "does not match"))
        inputs.append(bytes(Samples.bytes(Samples.set(alert, "attachments", [attachment(size: 999, digest: GatewayCryptoHex.sha256(content))])),
                            "attachment-size.json", stage: "attachment", mentions: "declared size"))
        // Schema violations: the invalid examples that are messages, adapted to this unit.
        for name in try FileManager.default.contentsOfDirectory(atPath: Samples.invalidDirectory.path).sorted() where name.hasSuffix(".json") && !name.hasSuffix(".expect.json") {
            guard !name.hasPrefix("receipt--"), !name.hasPrefix("report--"), !name.hasPrefix("error--") else { continue }
            var doc = try JSON.parse(Data(contentsOf: Samples.invalidDirectory.appendingPathComponent(name)))
            if doc["sender"] != nil { doc = Samples.set(doc, "sender", "PL-KGP") }
            if let r = doc["recipients"]?.arrayValue, r.count == 1, r[0].stringValue?.hasPrefix("EU-") == true, !Samples.agencyIds.contains(r[0].stringValue!) {
                doc = Samples.set(doc, "recipients", ["EU-EUROPOL"])
            }
            let expect = try JSON.parse(Data(contentsOf: Samples.invalidDirectory.appendingPathComponent(name.replacingOccurrences(of: ".json", with: ".expect.json"))))
            // Each is refused by the schemas (an attachment's digest is checked only once its shape is right).
            inputs.append(bytes(Samples.bytes(doc), "example-\(name)", stage: "schema", mentions: expect["messageContains"]?.stringValue))
        }
        // Every required member removed, and wrong types, in every valid example.
        let required = ["messageId", "type", "sender", "recipients", "createdAt", "priority", "classification", "body"]
        for (i, (_, example)) in valid.enumerated() {
            let m = Samples.adapt(example, unit: "PL-KGP")
            for key in required {
                inputs.append(bytes(Samples.bytes(Samples.set(m, key, nil)), "missing-\(key)-\(i).json", stage: "schema", mentions: key))
            }
            inputs.append(bytes(Samples.bytes(Samples.set(m, "priority", 3)), "priority-number-\(i).json", stage: "schema", mentions: "priority"))
            inputs.append(bytes(Samples.bytes(Samples.set(m, "classification", "TRES SECRET UE/EU TOP SECRET")), "top-secret-\(i).json", stage: "schema"))
            inputs.append(bytes(Samples.bytes(Samples.set(m, "createdAt", "yesterday")), "created-\(i).json", stage: "schema", mentions: "createdAt"))
            inputs.append(bytes(Samples.bytes(Samples.set(m, "extra", "x")), "extra-\(i).json", stage: "schema", mentions: "extra"))
        }
        return inputs
    }

    @Test("at least 200 bad inputs each end in rejected/ with the right error, the daemon keeps running, nothing is queued")
    func corpusIsRefused() throws {
        let fixture = try GatewayFixture(ceilings: ["olaf": "RESTREINT UE/EU RESTRICTED"])
        let inputs = try Self.corpus()
        #expect(inputs.count >= 200, "corpus has \(inputs.count) inputs")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        // The reused messageId: accepted first, then the same id with other content.
        let alert = Samples.adapt(try Samples.valid().first { $0.1["type"] == "alert" }!.1, unit: "PL-KGP", id: "reused-id-1")
        try fixture.drop(Samples.bytes(alert), unit: "PL-KGP", name: "first.json")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.reports("PL-KGP")).contains("first.accepted.json") })
        // Another unit's messageId (the agencies de-duplicate by message id alone).
        let theirs = Samples.adapt(try Samples.valid().first { $0.1["type"] == "alert" }!.1, unit: "PL-CBA", id: "shared-id-1")
        try fixture.drop(Samples.bytes(theirs), unit: "PL-CBA", name: "theirs.json")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.reports("PL-CBA")).contains("theirs.accepted.json") })
        var all = inputs
        all.append(Self.bytes(Samples.bytes(Samples.set(alert, "subject", "other content")), "reused-id.json", stage: "duplicate", mentions: "already accepted"))
        all.append(Self.bytes(Samples.bytes(Samples.set(alert, "messageId", "shared-id-1")), "their-id.json", stage: "duplicate",
                              mentions: "already used by another unit"))
        for input in all { try input.place(fixture, input.name) }
        let rejected = fixture.rejected("PL-KGP")
        let finished = waitUntil(timeout: 120) {
            fixture.files(fixture.outbox("PL-KGP")).isEmpty && fixture.files(rejected).filter { $0.hasSuffix(".error.json") }.count >= all.count
        }
        #expect(finished, "outbox left: \(fixture.files(fixture.outbox("PL-KGP")).prefix(10)); log tail: \(daemon.log.suffix(2000))")
        #expect(daemon.process.isRunning, "the daemon died")
        var wrong: [String] = []
        // Every error file follows schemas/error.schema.json and says where: a line and column
        // for JSON that does not parse, the instance's location for a schema violation.
        let errorSchema = try SchemaServices.validator().validator.schema(named: "error")
        for input in all {
            let stem = input.name.hasSuffix(".json") ? String(input.name.dropLast(5)) : input.name
            let errorURL = rejected.appendingPathComponent("\(stem).error.json")
            guard let data = FileManager.default.contents(atPath: errorURL.path), let doc = try? JSON.parse(data) else {
                wrong.append("\(input.name): no error file"); continue
            }
            var isThere = stat()
            if lstat(rejected.appendingPathComponent(input.name).path, &isThere) != 0 { wrong.append("\(input.name): not moved to rejected/") }
            if doc["stage"]?.stringValue != input.stage { wrong.append("\(input.name): stage \(doc["stage"] ?? "nil"), want \(input.stage)") }
            if doc["file"]?.stringValue != input.name || doc["unit"] != "PL-KGP" { wrong.append("\(input.name): wrong file/unit") }
            let messages = doc["errors"]?.arrayValue?.compactMap { $0["message"]?.stringValue } ?? []
            if messages.isEmpty { wrong.append("\(input.name): no error message") }
            if let m = input.mentions, !messages.contains(where: { $0.contains(m) }) { wrong.append("\(input.name): no mention of \"\(m)\" in \(messages)") }
            let conformance = errorSchema.validate(doc)
            if !conformance.isValid { wrong.append("\(input.name): the error file breaks error.schema.json: \(conformance.errors.prefix(2))") }
            let first = doc["errors"]?.arrayValue?.first
            if input.stage == "json", first?["line"]?.intValue == nil || first?["column"]?.intValue == nil {
                wrong.append("\(input.name): a JSON error without line and column")
            }
            if input.stage == "schema", first?["instanceLocation"]?.stringValue == nil {
                wrong.append("\(input.name): a schema error without its instance location")
            }
        }
        #expect(wrong.isEmpty, "\(wrong.count) wrong:\n\(wrong.prefix(30).joined(separator: "\n"))")
        // Nothing but the first message was queued, and no report claims otherwise.
        let store = try QueueStore(path: fixture.queuePath)
        #expect(try store.stats().messages == 2, "PL-KGP's first message and PL-CBA's")
        #expect(fixture.files(fixture.reports("PL-KGP")) == ["first.accepted.json"])
        // The log names files and stages, never message content.
        #expect(!daemon.log.contains("attachment content") && !daemon.log.contains("other content"))
        #expect(try store.verifyAudit(verifier: nil).isValid)
        #expect(try store.auditTail(limit: 1_000).filter { $0.event == "refused" }.count == all.count)
    }

    @Test("a refused file is never replaced: not by a later refusal of the same name, nor by the error file of another whose name it has")
    func refusedFilesAreNeverReplaced() throws {
        let fixture = try GatewayFixture()
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let rejected = fixture.rejected("PL-KGP")
        // "a.error.json" is refused first (not a message); then "a.json", whose error file
        // would be "a.error.json"; then "a.json" again.
        let drops: [(String, String)] = [("a.error.json", "[1]"), ("a.json", "[2]"), ("a.json", "[3]")]
        for (i, (name, content)) in drops.enumerated() {
            try fixture.drop(Array(content.utf8), unit: "PL-KGP", name: name)
            #expect(waitUntil(timeout: 20) { fixture.files(rejected).count == 2 * (i + 1) }, "\(fixture.files(rejected))")
        }
        // Each refused file is there with its own content, beside its own error file.
        let found = Dictionary(uniqueKeysWithValues: try fixture.files(rejected).map { ($0, try String(contentsOf: rejected.appendingPathComponent($0), encoding: .utf8)) })
        let refused = found.filter { !$0.key.hasSuffix(".error.json") || $0.value.hasPrefix("[") }
        #expect(refused.values.sorted() == ["[1]", "[2]", "[3]"], "\(found.keys.sorted())")
        #expect(found["a.error.json"] == "[1]", "the first refused file is untouched")
        for (name, _) in refused {
            let stem = String(name.dropLast(5))
            let error = try JSON.parse(Array((found[stem + ".error.json"] ?? "").utf8))
            #expect(error["file"]?.stringValue == (name.hasPrefix("a.error") ? "a.error.json" : "a.json"), "\(name): \(error)")
        }
        // A name of the full 255 bytes, refused twice: the error file's name (and the second
        // file's) give way at the end of the stem; nothing stays in the outbox.
        let long = String(repeating: "L", count: 250) + ".json"
        for (i, content) in ["[4]", "[5]"].enumerated() {
            // (fixture.drop's temporary name would be too long)
            let temp = fixture.outbox("PL-KGP").appendingPathComponent(".long.tmp")
            try Data(content.utf8).write(to: temp)
            #expect(rename(temp.path, fixture.outbox("PL-KGP").appendingPathComponent(long).path) == 0)
            #expect(waitUntil(timeout: 20) { fixture.files(rejected).count == 6 + 2 * (i + 1) }, "\(fixture.files(rejected).map(\.count))\n\(daemon.log.suffix(1500))")
        }
        #expect(fixture.files(fixture.outbox("PL-KGP")).isEmpty)
        let firstError = String(repeating: "L", count: 244) + ".error.json"
        let second = String(repeating: "L", count: 242) + ".2.json"
        let secondError = String(repeating: "L", count: 242) + ".2.error.json"
        #expect(try String(contentsOf: rejected.appendingPathComponent(long), encoding: .utf8) == "[4]")
        #expect(try String(contentsOf: rejected.appendingPathComponent(second), encoding: .utf8) == "[5]")
        for name in [firstError, secondError] {
            let error = try JSON.parse(Data(contentsOf: rejected.appendingPathComponent(name)))
            #expect(error["file"]?.stringValue == long)
        }
    }
}

import GatewayCrypto
enum GatewayCryptoHex {
    static func sha256(_ b: [UInt8]) -> String { SHA256.hex(b) }
}
