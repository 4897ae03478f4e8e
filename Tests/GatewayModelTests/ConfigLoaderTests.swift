import Foundation
import GatewayModel
import GatewayTestSupport
import Testing

@Suite("configuration")
struct ConfigLoaderTests {
    static let valid = """
        gateway:
          id: PL-GW
          units: [PL-KGP, PL-CBA]
        spool:
          directory: spool
          maxFileSize: 10MB
          rescanInterval: 2s
        queue:
          path: queue/queue.sqlite
          retention: 30d
        signing:
          key: keys/signing.key
          chain: keys/signing-chain.pem
        tls:
          clientKey: keys/client.key
          clientCertificate: keys/client.pem
        retry:
          initialBackoff: 500ms
          maxBackoff: 10m
        endpoints:
          europol:
            url: https://127.0.0.1:8443/messages
            ca: keys/ca.pem
            classificationCeiling: SECRET UE/EU SECRET
            receiptTrustAnchors: keys/ca.pem
            concurrency: 4
            rateLimit: 100
            breaker: { failureThreshold: 3, openFor: 10s }
        routes:
          EU-EUROPOL: europol
        """

    /// Writes `text` as gateway.yml in a fresh folder with the files it names.
    func write(_ text: String, keyMode: Int = 0o600) throws -> String {
        let dir = try TestPaths.temporaryDirectory("config")
        for sub in ["spool", "queue", "keys"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        for file in ["signing.key", "signing-chain.pem", "client.key", "client.pem", "ca.pem"] {
            let path = dir.appendingPathComponent("keys/\(file)").path
            _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
            chmod(path, mode_t(file.hasSuffix(".key") ? keyMode : 0o644))
        }
        let path = dir.appendingPathComponent("gateway.yml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a reload names every changed key it does not apply (read once at start), and none of those it applies")
    func restartOnlyKeys() throws {
        let config = try ConfigLoader.load(path: try write(Self.valid))
        var next = config
        next.routes["EU-FRONTEX"] = "europol"
        next.queue.retention = 10
        next.queue.minFreeDisk = 1
        next.retry.maxBackoff = 60
        next.endpoints["europol"]?.concurrency = 8
        // Applied to the running signing certificate's revocation check.
        next.signing.crl = "/crl.pem"
        next.signing.trustAnchors = "/anchors.pem"
        #expect(config.restartOnlyChanges(in: next).isEmpty, "all of these are applied by a reload")
        next.gatewayId = "PL-GX"
        next.units = ["PL-KGP"]
        next.spool.workers += 1
        next.queue.path = "/elsewhere.sqlite"
        next.queue.checkpointInterval += 1
        next.signing.chain = "/other-chain.pem"
        next.tls.clientKey = "/other.key"
        next.certificateWarningDays = 7
        next.logLevel = "debug"
        #expect(config.restartOnlyChanges(in: next) == ["gateway.id", "gateway.units", "spool", "queue.path", "queue.checkpointInterval",
                                                        "signing", "tls", "certificates.warnDays", "log.level"])
    }

    @Test("a valid file loads with units, durations, sizes and paths resolved")
    func valid() throws {
        let path = try write(Self.valid)
        let config = try ConfigLoader.load(path: path)
        #expect(config.gatewayId == "PL-GW")
        #expect(config.units == ["PL-KGP", "PL-CBA"])
        #expect(config.spool.maxFileSize == 10_000_000)
        #expect(config.spool.rescanInterval == 2)
        #expect(config.retry.initialBackoff == 0.5)
        #expect(config.retry.maxBackoff == 600)
        #expect(config.queue.retention == 30 * 86_400)
        let europol = try #require(config.endpoints["europol"])
        #expect(europol.classificationCeiling == .secret)
        #expect(europol.rateLimit == 100)
        #expect(europol.breakerFailureThreshold == 3)
        #expect(europol.ca.hasPrefix("/") && europol.ca.hasSuffix("/keys/ca.pem"))
        #expect(config.routes == ["EU-EUROPOL": "europol"])
        #expect(europol.http2 == nil, "unset: the transport decides by its libcurl (docs/transport.md)")
        #expect(config.queue.minFreeDisk == 100_000_000 && config.queue.minFreeInodes == 10_000, "the backpressure defaults")
    }

    @Test("the backpressure thresholds: free disk as a size, free inodes as a count (0 switches the inode check off)")
    func backpressureThresholds() throws {
        let set = Self.valid.replacingOccurrences(of: "  retention: 30d", with: "  retention: 30d\n  minFreeDisk: 2GB\n  minFreeInodes: 0")
        let config = try ConfigLoader.load(path: try write(set))
        #expect(config.queue.minFreeDisk == 2_000_000_000 && config.queue.minFreeInodes == 0)
        let bad = Self.valid.replacingOccurrences(of: "  retention: 30d", with: "  retention: 30d\n  minFreeInodes: -5")
        let message = try problems(bad)
        #expect(message.contains("queue.minFreeInodes"), "\(message)")
    }

    @Test("an endpoint can be kept on HTTP/1.1; http2 takes a boolean only")
    func http2Switch() throws {
        let off = Self.valid.replacingOccurrences(of: "    concurrency: 4", with: "    concurrency: 4\n    http2: false")
        #expect(try ConfigLoader.load(path: try write(off)).endpoints["europol"]?.http2 == false)
        let on = Self.valid.replacingOccurrences(of: "    concurrency: 4", with: "    concurrency: 4\n    http2: true")
        #expect(try ConfigLoader.load(path: try write(on)).endpoints["europol"]?.http2 == true)
        let bad = Self.valid.replacingOccurrences(of: "    concurrency: 4", with: "    concurrency: 4\n    http2: sometimes")
        #expect(try problems(bad).contains("endpoints.europol.http2"))
    }

    @Test("pinnedKey takes one pin or several joined by ';' (a key rotation), each in curl's sha256// form")
    func pins() throws {
        let a = "sha256//" + String(repeating: "A", count: 43) + "=", b = "sha256//" + String(repeating: "Q", count: 43) + "="
        let two = Self.valid.replacingOccurrences(of: "    concurrency: 4", with: "    concurrency: 4\n    pinnedKey: \"\(a);\(b)\"")
        #expect(try ConfigLoader.load(path: try write(two)).endpoints["europol"]?.pinnedKey == "\(a);\(b)")
        for pins in ["\(a);md5//abc", "sha256//", "\(a); \(b)", "\(a);", "sha256//AAAA="] {
            let bad = Self.valid.replacingOccurrences(of: "    concurrency: 4", with: "    concurrency: 4\n    pinnedKey: \"\(pins)\"")
            #expect(try problems(bad).contains("endpoints.europol.pinnedKey"), "\(pins)")
        }
    }

    func problems(_ text: String, keyMode: Int = 0o600) throws -> String {
        let path = try write(text, keyMode: keyMode)
        do {
            _ = try ConfigLoader.load(path: path)
            Issue.record("accepted a bad config")
            return ""
        } catch {
            #expect(error.description.contains(path))
            return error.description
        }
    }

    @Test("errors name the file, the line, the key and the problem")
    func namedErrors() throws {
        let text = Self.valid.replacingOccurrences(of: "url: https://127.0.0.1:8443/messages", with: "url: http://127.0.0.1:8443/messages")
        let message = try problems(text)
        #expect(message.contains(":22: endpoints.europol.url: \"http://127.0.0.1:8443/messages\" must be an https:// URL"), "\(message)")
    }

    @Test("TLS verification cannot be switched off")
    func noInsecure() throws {
        let text = Self.valid.replacingOccurrences(of: "    concurrency: 4", with: "    concurrency: 4\n    verifyTLS: false")
        #expect(try problems(text).contains("TLS verification cannot be switched off"))
    }

    @Test("private keys readable by others are refused with the fix")
    func keyPermissions() throws {
        let message = try problems(Self.valid, keyMode: 0o644)
        #expect(message.contains("signing.key: private key"), "\(message)")
        #expect(message.contains("chmod 600"))
    }

    @Test("every problem is reported, not only the first")
    func allProblems() throws {
        var text = Self.valid.replacingOccurrences(of: "EU-EUROPOL: europol", with: "EU-EUROPOL: europl")
        text = text.replacingOccurrences(of: "classificationCeiling: SECRET UE/EU SECRET", with: "classificationCeiling: TOP")
        text = text.replacingOccurrences(of: "rescanInterval: 2s", with: "rescanInterval: soon\n  colour: blue")
        let message = try problems(text)
        #expect(message.contains("routes.EU-EUROPOL: names endpoint \"europl\", which is not defined (defined: europol)"), "\(message)")
        #expect(message.contains("classificationCeiling: \"TOP\" is not a classification"))
        #expect(message.contains("spool.rescanInterval: must be a duration"))
        #expect(message.contains("spool.colour: unknown key"))
    }

    @Test("durations and sizes too large for the gateway's 64-bit times and counts are refused with the key, not a crash")
    func hugeQuantities() throws {
        var text = Self.valid.replacingOccurrences(of: "retention: 30d", with: "retention: 1e18\n  maxLifetime: 100000000d")
        text = text.replacingOccurrences(of: "maxFileSize: 10MB", with: "maxFileSize: 1e30GB")
        let message = try problems(text)
        #expect(message.contains("queue.retention: must be at most 100 years"), "\(message)")
        #expect(message.contains("queue.maxLifetime: must be at most 100 years"), "\(message)")
        #expect(message.contains("spool.maxFileSize: must be a size"), "\(message)")
        #expect(Quantity.bytes("1e30GB") == nil && Quantity.bytes("9GB") == 9_000_000_000)
        // A century is taken.
        let century = Self.valid.replacingOccurrences(of: "retention: 30d", with: "retention: 36525d")
        #expect(try ConfigLoader.load(path: try write(century)).queue.retention == 36_525 * 86_400)
    }

    @Test("a route to a unit of this gateway, or to the gateway itself, is refused with the key")
    func routesToHome() throws {
        let text = Self.valid.replacingOccurrences(of: "  EU-EUROPOL: europol", with: "  EU-EUROPOL: europol\n  PL-CBA: europol\n  PL-GW: europol")
        let message = try problems(text)
        #expect(message.contains("routes.PL-CBA: \"PL-CBA\" is a unit of this gateway"), "\(message)")
        #expect(message.contains("routes.PL-GW: \"PL-GW\" is this gateway"), "\(message)")
    }

    @Test("not YAML, missing file, empty file")
    func unreadable() throws {
        #expect(try problems("gateway: [unclosed").contains("not valid YAML"))
        #expect(try problems("").contains("empty"))
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/gateway.yml") }
    }

    @Test("quantities")
    func quantities() {
        #expect(Quantity.seconds("250ms") == 0.25)
        #expect(Quantity.seconds("3m") == 180)
        #expect(Quantity.seconds("1.5h") == 5_400)
        #expect(Quantity.seconds("x") == nil)
        #expect(Quantity.bytes("50MB") == 50_000_000)
        #expect(Quantity.bytes("1KiB") == 1_024)
        #expect(Quantity.bytes("12") == 12)
        #expect(Quantity.bytes("-1MB") == nil)
    }
}

@Test("YAML scalars follow the 1.2 core schema")
func yamlScalars() throws {
    let d = try YAMLDocument(text: "a: 4\nb: 1.5\nc: '7'\nd: NO\ne: yes\nf: true\ng: ~\nh: 10s\n")
    #expect(d.value == ["a": 4, "b": 1.5, "c": "7", "d": "NO", "e": "yes", "f": true, "g": nil, "h": "10s"])
    #expect(d.lines["/h"] == 8)
}

@Test("RFC 3339 parsing and formatting")
func rfc3339() {
    #expect(RFC3339.millis("1970-01-01T00:00:00Z") == 0)
    #expect(RFC3339.millis("2026-11-29T12:00:00.5Z") == 1_795_953_600_500)
    #expect(RFC3339.millis("2026-11-29T13:00:00+01:00") == 1_795_953_600_000)
    #expect(RFC3339.millis("2024-02-29T00:00:00Z") != nil)
    #expect(RFC3339.millis("2023-02-29T00:00:00Z") == nil)
    #expect(RFC3339.millis("2026-11-29") == nil)
    #expect(RFC3339.millis("2026-11-29T25:00:00Z") == nil)
    #expect(RFC3339.millis("2026-11-29T12:00:00") == nil)
    #expect(RFC3339.format(millis: 1_795_953_600_500) == "2026-11-29T12:00:00.500Z")
    for ms: Int64 in [0, 951_782_400_000, 4_102_444_800_123] {
        #expect(RFC3339.millis(RFC3339.format(millis: ms)) == ms)
    }
}

@Test("outside text made printable: controls escaped, cut where asked; several lines keep their breaks")
func printableText() {
    #expect(Printable.line("plain text, zażółć") == "plain text, zażółć")
    #expect(Printable.line("a\r\nb\tc\u{1B}[0m\u{7F}\u{9B}\u{2028}") == #"a\r\nb\tc\u001b[0m\u007f\u009b\u2028"#)
    #expect(Printable.line(String(repeating: "y", count: 10), limit: 4) == "yyyy…")
    #expect(Printable.line("yyyy", limit: 4) == "yyyy")
    #expect(Printable.lines("one\n\ttwo\u{1B}]0;title\u{7}") == "one\n\ttwo\\u001b]0;title\\u0007")
}
