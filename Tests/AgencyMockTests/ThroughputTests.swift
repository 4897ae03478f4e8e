// One curl process drives the mock with 16 parallel keep-alive connections, every request a
// distinct signed message that must be answered 201 and counted once. 200 messages by
// default; AGENCY_MOCK_BENCH=N sends N and prints a rough rate (the mock and curl together
// on the same cores: a floor, not the mock's ceiling; the figures that count are
// `make bench`'s).
import Foundation
import GatewayTestSupport
import Testing

extension AgencyMockTests {
    @Suite struct Throughput {
        static let count = ProcessInfo.processInfo.environment["AGENCY_MOCK_BENCH"].flatMap(Int.init) ?? 200

        @Test("16 parallel keep-alive connections: every distinct message answered 201 and counted once")
        func parallelDeliveries() async throws {
            let count = Self.count
            try await MockProcess.with { mock in
                let directory = try TestPaths.temporaryDirectory("mock-bench")
                defer { try? FileManager.default.removeItem(at: directory) }
                let signer = try DevPKI.signer("gateway/signing")
                var config = ""
                for i in 0..<count {
                    let message = try Messages.make(i % 2 == 0 ? "alert--threat-to-life" : "information-request--national-law")
                    let file = directory.appendingPathComponent("m\(i).jws")
                    try Data(try signer.sign(message).flattenedJSON).write(to: file)
                    if i > 0 { config += "next\n" }
                    config += """
                    url = "\(mock.url())"
                    header = "Content-Type: application/jose+json"
                    header = "Idempotency-Key: \(Messages.id(message))"
                    data-binary = "@\(file.path)"
                    output = "/dev/null"
                    write-out = "%{http_code}\\n"
                    cacert = "\(try DevPKI.path("trust/agencies/europol-tls.pem"))"
                    cert = "\(try DevPKI.path("gateway/tls-client-chain.pem"))"
                    key = "\(try DevPKI.path("gateway/tls-client.key"))"

                    """
                }
                let configFile = directory.appendingPathComponent("curl.config")
                try Data(config.utf8).write(to: configFile)
                let start = ContinuousClock.now
                let result = try Subprocess.run("/usr/bin/curl", ["-sS", "--parallel", "--parallel-max", "16", "-K", configFile.path])
                let elapsed = ContinuousClock.now - start
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let created = result.stdout.split(separator: "\n").filter { $0 == "201" }.count
                print("agency-mock throughput: \(count) messages in \(String(format: "%.2f", seconds)) s = \(Int(Double(count) / seconds))/s")
                #expect(created == count, "\(result.stderr.prefix(500))")
                let stats = try Curl.control("GET", "\(mock.controlURL)/stats").json
                #expect(stats?["EU-EUROPOL"]?["received"]?.intValue == count)
            }
        }
    }
}
