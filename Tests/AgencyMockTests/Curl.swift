// Curl: the tests' HTTP client is the curl command-line tool, independent of the code under
// test (Hummingbird, NIOSSL): it speaks real mutual TLS with the dev PKI's files.
import Foundation
import GatewayJSON
import GatewayTestSupport

struct CurlResult {
    /// curl's exit code: 0, or e.g. 28 (time-out), 35 (TLS handshake), 56 (receive failure / reset).
    let exitCode: Int32
    /// The HTTP status, 0 when no response arrived.
    let status: Int
    /// Header names lower-cased.
    let headers: [String: String]
    let body: [UInt8]
    let stderr: String
    let seconds: Double

    var json: JSON? { try? JSON.parse(body) }
}

enum Curl {
    enum ClientCertificate {
        case none
        /// A dev PKI identity, e.g. "gateway/tls-client" (uses NAME-chain.pem and NAME.key).
        case pki(String)
    }

    /// POSTs `body` to an agency over mutual TLS. The server is checked against the agency's
    /// TLS anchors, as the gateway does.
    static func postMessage(_ url: String, agency: String = "EU-EUROPOL", body: [UInt8],
                            contentType: String? = "application/jose+json", idempotencyKey: String?,
                            certificate: ClientCertificate = .pki("gateway/tls-client"),
                            maxTime: Double = 15) throws -> CurlResult {
        let name = agency.dropFirst(3).lowercased()
        var arguments = ["--cacert", try DevPKI.path("trust/agencies/\(name)-tls.pem")]
        if case .pki(let base) = certificate {
            arguments += ["--cert", try DevPKI.path("\(base)-chain.pem"), "--key", try DevPKI.path("\(base).key")]
        }
        // An empty value removes curl's default header (curl -H 'Content-Type:').
        arguments += ["-H", "Content-Type: \(contentType ?? "")"]
        if let idempotencyKey { arguments += ["-H", "Idempotency-Key: \(idempotencyKey)"] }
        return try run(method: "POST", url: url, body: body, arguments: arguments, maxTime: maxTime)
    }

    /// A control API call (plain HTTP).
    static func control(_ method: String, _ url: String, json: JSON? = nil) throws -> CurlResult {
        let body = try json.map { try $0.canonicalBytes() }
        return try run(method: method, url: url, body: body, arguments: body == nil ? [] : ["-H", "Content-Type: application/json"],
                       maxTime: 10)
    }

    static func run(method: String, url: String, body: [UInt8]?, arguments: [String], maxTime: Double) throws -> CurlResult {
        let directory = try TestPaths.temporaryDirectory("curl")
        defer { try? FileManager.default.removeItem(at: directory) }
        let headersFile = directory.appendingPathComponent("headers").path
        let bodyFile = directory.appendingPathComponent("body").path
        var all = ["-sS", "--max-time", String(maxTime), "-X", method, "-D", headersFile, "-o", bodyFile,
                   "-w", "%{http_code}", "-H", "Expect:"] + arguments
        if let body {
            let requestFile = directory.appendingPathComponent("request")
            try Data(body).write(to: requestFile)
            all += ["--data-binary", "@\(requestFile.path)"]
        }
        all.append(url)
        let start = ContinuousClock.now
        let result = try Subprocess.run("/usr/bin/curl", all)
        let elapsed = ContinuousClock.now - start
        var headers: [String: String] = [:]
        if let text = try? String(contentsOfFile: headersFile, encoding: .utf8) {
            // Only the last header block counts (a 100 Continue would come first).
            let block = text.components(separatedBy: "\r\n\r\n").last(where: { !$0.isEmpty }) ?? ""
            for line in block.components(separatedBy: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let responseBody = FileManager.default.contents(atPath: bodyFile).map { Array($0) } ?? []
        return CurlResult(exitCode: result.status, status: Int(result.stdout) ?? 0, headers: headers, body: responseBody,
                          stderr: result.stderr,
                          seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
