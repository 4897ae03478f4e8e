// The process around the listeners: configuration errors name their key and exit 2, the
// ports file lets a test restart the mock on the same ports, SIGTERM exits 0, and the
// control API refuses bad input with a problem document.
import Foundation
import GatewayJSON
import GatewayTestSupport
import Testing

extension AgencyMockTests {
    @Suite struct Lifecycle {
        /// Runs agency-mock on `yaml` expecting it to refuse to start.
        static func refusal(_ yaml: String) throws -> (status: Int32, stderr: String) {
            let directory = try TestPaths.temporaryDirectory("mock-config")
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = directory.appendingPathComponent("bad.yaml")
            try Data(yaml.utf8).write(to: config)
            let result = try Subprocess.run(TestPaths.product("agency-mock").path, ["--config", config.path])
            return (result.status, result.stderr)
        }

        @Test(arguments: [
            ("agencies:\n  - id: EU-EUROPOL\n", "clientCA"),
            ("unexpected: 1\n", "unexpected"),
            ("control: { port: 70000 }\n", "control.port"),
        ])
        func configurationErrorsNameTheKey(yaml: String, key: String) throws {
            let (status, stderr) = try Self.refusal(yaml)
            #expect(status == 2)
            #expect(stderr.contains(key), "\(stderr)")
        }

        @Test func missingAgencyFilesAreNamedWithTheirAgency() throws {
            var yaml = try MockProcess.configuration(agencies: ["EU-EUROPOL", "EU-OLAF"])
            yaml = yaml.replacingOccurrences(of: "agencies/olaf/tls-server.key", with: "agencies/olaf/no-such.key")
            let (status, stderr) = try Self.refusal(yaml)
            #expect(status == 2)
            #expect(stderr.contains("agencies[1].tlsKey"), "\(stderr)")
            let noID = try MockProcess.configuration().replacingOccurrences(of: "- id: EU-FRONTEX", with: "- id: frontex")
            let (status2, stderr2) = try Self.refusal(noID)
            #expect(status2 == 2)
            #expect(stderr2.contains("agencies[1].id"), "\(stderr2)")
        }

        @Test func relativePathsPortsFileRestartAndSIGTERM() async throws {
            // A config that names its PKI relative to its own folder (through a symlink "pki").
            let directory = try TestPaths.temporaryDirectory("mock-restart")
            defer { try? FileManager.default.removeItem(at: directory) }
            try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("pki"), withDestinationURL: DevPKI.directory())
            let pki = try DevPKI.directory().path
            let relative = try MockProcess.configuration().replacingOccurrences(of: pki, with: "pki")
            #expect(!relative.contains(pki))

            let first = try MockProcess.start(config: relative, portsFile: true, directory: directory)
            let portsURL = directory.appendingPathComponent("ports.json")
            let ports = try JSON.parse(Array(try Data(contentsOf: portsURL)))
            let europol = try #require(ports["agencies"]?["EU-EUROPOL"]?.intValue)
            let frontex = try #require(ports["agencies"]?["EU-FRONTEX"]?.intValue)
            let control = try #require(ports["control"]?.intValue)
            #expect(first.url() == "https://127.0.0.1:\(europol)/messages")
            #expect(first.controlURL == "http://127.0.0.1:\(control)")
            let message = try Messages.make()
            let body = try Messages.sign(message).flattenedJSON
            #expect(try Curl.postMessage(first.url(), body: body, idempotencyKey: Messages.id(message)).status == 201)
            #expect(first.stop() == 0, "SIGTERM is a clean exit")

            // While it is gone the client gets a connection error, not an HTTP status.
            let gone = try Curl.postMessage("https://127.0.0.1:\(europol)/messages", body: body, idempotencyKey: Messages.id(message))
            #expect(gone.status == 0)

            // Restarted on the same ports (memory is per process: the message is new again).
            let fixed = try MockProcess.configuration(ports: ["EU-EUROPOL": europol, "EU-FRONTEX": frontex], controlPort: control)
                .replacingOccurrences(of: pki, with: "pki")
            let second = try MockProcess.start(config: fixed, portsFile: true, directory: directory)
            defer { second.stop() }
            #expect(second.url() == "https://127.0.0.1:\(europol)/messages")
            #expect(second.controlURL == "http://127.0.0.1:\(control)")
            #expect(try Curl.postMessage(second.url(), body: body, idempotencyKey: Messages.id(message)).status == 201)
        }

        @Test func controlAPIRefusesBadInput() async throws {
            try await MockProcess.with { mock in
                let unknownMember = try Curl.control("POST", "\(mock.controlURL)/faults", json: ["agency": "*", "failrate": 1])
                #expect(unknownMember.status == 400)
                #expect(unknownMember.json?["detail"]?.stringValue?.contains("failrate") == true)
                let badRate = try Curl.control("POST", "\(mock.controlURL)/faults", json: ["failRate": 2])
                #expect(badRate.status == 400)
                let unknownAgency = try Curl.control("POST", "\(mock.controlURL)/faults", json: ["agency": "EU-NOBODY", "down": true])
                #expect(unknownAgency.status == 404)
                #expect(try Curl.control("GET", "\(mock.controlURL)/received").status == 400)
                #expect(try Curl.control("GET", "\(mock.controlURL)/received?agency=EU-NOBODY").status == 404)
                #expect(try Curl.control("GET", "\(mock.controlURL)/faults").json == .object([:]), "nothing was set")
            }
        }
    }
}
