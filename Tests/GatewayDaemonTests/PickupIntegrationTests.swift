import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayJSON
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("gatewayd pickup (real binary, temporary spool)", .serialized)
struct PickupIntegrationTests {
    @Test("every message type is picked up by inotify, queued once per recipient, signed, and reported")
    func everyType() throws {
        // A rescan interval longer than the test: whatever is picked up was seen by inotify.
        let fixture = try GatewayFixture(rescan: "10m")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        var dropped: [(name: String, message: JSON)] = []
        for (i, (name, example)) in try Samples.valid().enumerated() {
            let unit = GatewayFixture.units[i % GatewayFixture.units.count]
            let message = Samples.adapt(example, unit: unit,
                                        recipients: i % 3 == 0 ? ["EU-EUROPOL", "EU-FRONTEX", "EU-OLAF"] : nil)
            try fixture.drop(Samples.bytes(message), unit: unit, name: name)
            dropped.append((name, message))
        }
        let types = Set(dropped.compactMap { $0.message["type"]?.stringValue })
        #expect(types.count == 6, "every message type has a valid example: \(types)")
        let done = waitUntil(timeout: 30) {
            dropped.allSatisfy { d in
                let unit = d.message["sender"]!.stringValue!
                return fixture.files(fixture.reports(unit)).contains(d.name.replacingOccurrences(of: ".json", with: ".accepted.json"))
            }
        }
        #expect(done, "not all accepted reports appeared:\n\(daemon.log)")
        for unit in GatewayFixture.units {
            #expect(fixture.files(fixture.outbox(unit)).isEmpty, "outbox of \(unit) not empty")
            #expect(fixture.files(fixture.rejected(unit)).isEmpty, "refused in \(unit): \(fixture.files(fixture.rejected(unit)))")
        }
        #expect(!daemon.log.contains("msg=refused"))

        let store = try QueueStore(path: fixture.queuePath)
        let trust = try TrustStore.load(anchorsPath: DevPKIFixture.path("trust/gateway-signing.pem"))
        for d in dropped {
            let sender = d.message["sender"]!.stringValue!
            let id = d.message["messageId"]!.stringValue!
            let m = try #require(try store.message(id, sender: sender), "\(d.name) not queued")
            let recipients = d.message["recipients"]!.arrayValue!.compactMap(\.stringValue)
            #expect(m.deliveries.map(\.summary.recipient).sorted() == recipients.sorted(), "one delivery per recipient")
            // The stored wire form verifies, to the gateway's chain, over the JCS of what was dropped.
            let verified = try JWSVerifier().verify(m.jws, trustStore: trust)
            #expect(verified.payload == (try d.message.canonicalBytes()))
            #expect(verified.signerSubject?.contains("PL-GW") == true)
            #expect(m.contentDigest == SHA256.hex(try d.message.canonicalBytes()))
            // The accepted report is signed by the gateway and names the message.
            let reportURL = fixture.reports(sender).appendingPathComponent(d.name.replacingOccurrences(of: ".json", with: ".accepted.json"))
            let report = try JWSVerifier().verify([UInt8](Data(contentsOf: reportURL)), trustStore: trust)
            let payload = try JSON.parse(report.payload)
            #expect(payload["kind"] == "accepted")
            #expect(payload["messageId"]?.stringValue == id)
            #expect(payload["digest"]?.stringValue == m.contentDigest)
        }
        // Nothing picked up by the rescan (it never ran).
        #expect(try store.countDeliveries() == dropped.reduce(0) { $0 + $1.message["recipients"]!.arrayValue!.count })
        #expect(try store.verifyAudit(verifier: nil).isValid)
    }

    @Test("a file whose name is not UTF-8 is moved to rejected/ under a readable name with an error file; a file named like its lossy decoding is a message of its own")
    func undecodableName() throws {
        let fixture = try GatewayFixture(rescan: "1s")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        // "bad\xff.json": not UTF-8. Beside it "bad\u{FFFD}.json", what its lossy decoding would name.
        let raw: [UInt8] = Array("bad".utf8) + [0xFF] + Array(".json".utf8)
        let path = Array(fixture.outbox("PL-KGP").path.utf8) + [UInt8(ascii: "/")] + raw + [0]
        let fd = path.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_EXCL, 0o644) } }
        #expect(fd >= 0)
        _ = "{}".withCString { write(fd, $0, 2) }
        close(fd)
        // "odd\u{FFFE}.json": UTF-8, but with a noncharacter, which no report or error file
        // (I-JSON) may carry: refused the same way.
        let odd = Array(fixture.outbox("PL-KGP").path.utf8) + [UInt8(ascii: "/")] + Array("odd".utf8) + [0xEF, 0xBF, 0xBE] + Array(".json".utf8) + [0]
        let ofd = odd.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_EXCL, 0o644) } }
        #expect(ofd >= 0)
        close(ofd)
        // "a" and 31 combining marks: more than a report or error file may carry in a row.
        let marked = Array(fixture.outbox("PL-KGP").path.utf8) + [UInt8(ascii: "/")] + Array(("a" + String(repeating: "\u{0301}", count: 31) + ".json").utf8) + [0]
        let mfd = marked.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_EXCL, 0o644) } }
        #expect(mfd >= 0)
        close(mfd)
        // A temporary name that is not UTF-8 either: the unit may still be writing it; left alone.
        let temporary = Array(fixture.outbox("PL-KGP").path.utf8) + [UInt8(ascii: "/")] + raw + Array(".tmp".utf8) + [0]
        let tfd = temporary.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY | O_EXCL, 0o644) } }
        #expect(tfd >= 0)
        close(tfd)
        let sample = try Samples.valid().first { $0.1["type"] == "alert" }!.1
        try fixture.drop(Samples.bytes(Samples.adapt(sample, unit: "PL-KGP", id: "decoded-name-1")), unit: "PL-KGP", name: "bad\u{FFFD}.json")
        let rejected = fixture.rejected("PL-KGP")
        #expect(waitUntil(timeout: 20) { fixture.files(rejected).contains("bad_.error.json") && fixture.files(rejected).contains("bad_.json") },
                "\(fixture.files(rejected)) \(daemon.log.suffix(1500))")
        let error = try JSON.parse(Data(contentsOf: rejected.appendingPathComponent("bad_.error.json")))
        #expect(error["stage"] == "file" && error["file"] == "bad_.json")
        #expect(error["errors"]?[0]?["message"]?.stringValue?.contains("62 61 64 ff 2e 6a 73 6f 6e") == true, "\(error)")
        #expect(try Data(contentsOf: rejected.appendingPathComponent("bad_.json")) == Data("{}".utf8))
        #expect(waitUntil(timeout: 20) { fixture.files(rejected).contains("odd_.error.json") && fixture.files(rejected).contains("odd_.json") },
                "\(fixture.files(rejected))")
        let oddError = try JSON.parse(Data(contentsOf: rejected.appendingPathComponent("odd_.error.json")))
        #expect(oddError["errors"]?[0]?["message"]?.stringValue?.contains("6f 64 64 ef bf be") == true, "\(oddError)")
        let markedName = "a" + String(repeating: "\u{0301}", count: 30) + "_"
        #expect(waitUntil(timeout: 20) { fixture.files(rejected).contains(markedName + ".error.json") }, "\(fixture.files(rejected).map(\.unicodeScalars.count))")
        let markedError = try JSON.parse(Data(contentsOf: rejected.appendingPathComponent(markedName + ".error.json")))
        #expect(markedError["file"]?.stringValue == markedName + ".json", "the error file reads back, naming the file as moved")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.reports("PL-KGP")).contains("bad\u{FFFD}.accepted.json") },
                "the file really named so is a message of its own: \(fixture.files(fixture.reports("PL-KGP")))")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).count == 1 }, "only the temporary file is left: \(fixture.files(fixture.outbox("PL-KGP")))")
        #expect(fixture.files(rejected).count == 6, "\(fixture.files(rejected))")
        #expect(daemon.process.isRunning)
    }

    @Test("SIGTERM stops cleanly; a second daemon on the same queue is refused; SIGHUP reloads")
    func signalsAndLock() throws {
        let fixture = try GatewayFixture()
        let daemon = try DaemonProcess.start(fixture)
        let second = try DaemonProcess(configPath: fixture.configPath, logURL: fixture.root.appendingPathComponent("second.log"))
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 75)
        #expect(second.log.contains("in use by another gatewayd (pid \(daemon.process.processIdentifier))"), "\(second.log)")
        // Before the reload a CONFIDENTIAL message to Europol is accepted; after a reload
        // that lowers Europol's ceiling, every pickup worker (each works on a replica of the
        // processor) refuses the next ones.
        func alert(_ id: String) throws -> [UInt8] {
            let example = try #require(try Samples.valid().first { $0.1["type"] == "alert" }).1
            let m = Samples.adapt(example, unit: "PL-KGP", id: id, recipients: ["EU-EUROPOL"])
            return Samples.bytes(Samples.set(m, "classification", "CONFIDENTIEL UE/EU CONFIDENTIAL"))
        }
        try fixture.drop(try alert("before-reload"), unit: "PL-KGP", name: "before.json")
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.reports("PL-KGP")).contains("before.accepted.json") }, "\(daemon.log)")
        let good = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        let lowered = good.replacingOccurrences(of: "classificationCeiling: SECRET UE/EU SECRET", with: "classificationCeiling: RESTREINT UE/EU RESTRICTED")
        #expect(lowered != good)
        try lowered.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 10) { daemon.log.contains("configuration reloaded") }, "\(daemon.log)")
        for i in 0..<6 { try fixture.drop(try alert("after-reload-\(i)"), unit: "PL-KGP", name: "after\(i).json") }
        #expect(waitUntil(timeout: 20) { (0..<6).allSatisfy { fixture.files(fixture.rejected("PL-KGP")).contains("after\($0).error.json") } },
                "\(fixture.files(fixture.rejected("PL-KGP")))\n\(daemon.log)")
        let refusal = try JSON.parse([UInt8](Data(contentsOf: fixture.rejected("PL-KGP").appendingPathComponent("after0.error.json"))))
        #expect(refusal["stage"] == "routing")
        // A broken configuration on reload is refused and the running one kept.
        try (good + "\nbogus: 1\n").write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(waitUntil(timeout: 10) { daemon.log.contains("configuration reload refused") }, "\(daemon.log)")
        #expect(daemon.process.isRunning)
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("gatewayd stopped"))
    }

    @Test("a configuration with problems: the daemon refuses to start and says where")
    func badConfig() throws {
        let fixture = try GatewayFixture()
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "https://127.0.0.1:9/messages", with: "http://127.0.0.1:9/messages")
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(configPath: fixture.configPath, logURL: fixture.root.appendingPathComponent("bad.log"))
        d.process.waitUntilExit()
        #expect(d.process.terminationStatus == 78)
        #expect(d.log.contains("gateway.yml:"))
        #expect(d.log.contains("endpoints.europol.url"))
        #expect(d.log.contains("must be an https:// URL"))
    }

    @Test("a TLS client key that does not belong to the client certificate: the daemon refuses to start and says so")
    func mismatchedClientKey() throws {
        let fixture = try GatewayFixture()
        let pki = try DevPKIFixture.directory().path
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "clientKey: \(pki)/gateway/tls-client.key", with: "clientKey: \(pki)/agencies/europol/receipt.key")
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(configPath: fixture.configPath, logURL: fixture.root.appendingPathComponent("mismatch.log"))
        #expect(d.exits(within: 60), "gatewayd kept running: \(d.log)")
        #expect(d.process.terminationStatus != 0)
        #expect(d.log.contains("does not belong to the certificate in tls.clientCertificate"), "\(d.log)")
    }

    @Test("CRL files: an endpoint's that libcurl cannot read refuses the start; a signing CRL past its next update does not")
    func crlFilesAtStart() throws {
        let fixture = try GatewayFixture()
        let pki = try DevPKIFixture.directory().path
        let original = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
        // DER (the trust store would take it; libcurl reads PEM only).
        let der = fixture.root.appendingPathComponent("crl.der")
        let converted = ProcessRunner.run("/usr/bin/env", ["openssl", "crl", "-in", "\(pki)/ca/crls.pem", "-outform", "DER", "-out", der.path])
        #expect(converted.status == 0, "\(converted.stderr)")
        try original.replacingOccurrences(of: "    classificationCeiling:", with: "    crl: \(der.path)\n    classificationCeiling:")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(configPath: fixture.configPath, logURL: fixture.root.appendingPathComponent("der.log"))
        #expect(d.exits(within: 60), "gatewayd kept running: \(d.log)")
        #expect(d.process.terminationStatus != 0)
        #expect(d.log.contains("is not a PEM file"), "\(d.log)")
        // The gateway's own CRL late: it starts (its certificate is still checked against it).
        let late = try DevPKI.issuingCRL(from: -2 * 86_400, until: -3600)
        try original.replacingOccurrences(of: "  trustAnchors: \(pki)/trust/gateway-signing.pem", with: "  trustAnchors: \(pki)/trust/gateway-signing.pem\n  crl: \(late)")
            .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let started = try DaemonProcess.start(fixture)
        #expect(started.stop() == 0)
    }

    @Test("a revoked signing certificate: with signing.crl the daemon refuses to start and says why")
    func revokedSigningCertificate() throws {
        let fixture = try GatewayFixture()
        let pki = try DevPKIFixture.directory().path
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "\(pki)/gateway/signing.key", with: "\(pki)/bad/revoked.key")
            .replacingOccurrences(of: "\(pki)/gateway/signing-chain.pem", with: "\(pki)/bad/revoked-chain.pem")
        // Without CRLs the revocation is not known, and the daemon starts.
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let unknowing = try DaemonProcess.start(fixture)
        #expect(unknowing.stop() == 0)
        let withCRL = text.replacingOccurrences(of: "  trustAnchors: \(pki)/trust/gateway-signing.pem",
                                                with: "  trustAnchors: \(pki)/trust/gateway-signing.pem\n  crl: \(pki)/ca/crls.pem")
        #expect(withCRL != text)
        try withCRL.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(configPath: fixture.configPath, logURL: fixture.root.appendingPathComponent("revoked.log"))
        #expect(d.exits(within: 60), "gatewayd kept running: \(d.log)")
        #expect(d.process.terminationStatus != 0)
        #expect(d.log.contains("revoked"), "\(d.log)")
        // signing.crl needs the anchors it is checked under.
        let orphan = withCRL.replacingOccurrences(of: "  trustAnchors: \(pki)/trust/gateway-signing.pem\n", with: "")
        try orphan.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let o = try DaemonProcess(configPath: fixture.configPath, logURL: fixture.root.appendingPathComponent("orphan.log"))
        #expect(o.exits(within: 60), "gatewayd kept running: \(o.log)")
        #expect(o.process.terminationStatus == 78)
        #expect(o.log.contains("signing.crl: needs signing.trustAnchors"), "\(o.log)")
    }
}

@Suite("configuration schema")
struct ConfigSchemaTests {
    @Test("schemas/config.schema.json accepts the fixture's configuration and names what it refuses")
    func schema() throws {
        let fixture = try GatewayFixture()
        _ = try GatewayConfiguration.load(path: fixture.configPath)
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "    classificationCeiling: SECRET UE/EU SECRET\n", with: "    classificationCeiling: SECRET UE/EU SECRET\n    concurrency: 0\n    pinnedKey: md5//abc\n")
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        do {
            _ = try GatewayConfiguration.load(path: fixture.configPath)
            Issue.record("accepted")
        } catch {
            let message = "\(error)"
            #expect(message.contains("endpoints.europol.concurrency: must be a whole number from 1 to 1024"), "\(message)")
            #expect(message.contains("endpoints.europol.pinnedKey"), "\(message)")
        }
    }
}

@Suite("gatewayd operations", .serialized)
struct OperationsTests {
    @Test("backpressure: pickup pauses while the queue is full, files wait in the outbox, and resumes")
    func backpressure() throws {
        // Endpoints are unreachable, so deliveries stay pending; at most 3 may be pending.
        let fixture = try GatewayFixture(extra: "retry:\n  initialBackoff: 10m\n  maxBackoff: 10m\n")
        let text = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
            .replacingOccurrences(of: "  checkpointInterval: 1s", with: "  checkpointInterval: 1s\n  maxPending: 3")
        try text.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        let sample = try Samples.valid().first { $0.1["type"] == "alert" }!.1
        for i in 0..<3 {
            try fixture.drop(Samples.bytes(Samples.adapt(sample, unit: "PL-KGP", id: "full-0000\(i)", recipients: ["EU-EUROPOL"])), unit: "PL-KGP", name: "a\(i).json")
        }
        #expect(waitUntil(timeout: 20) { daemon.log.contains("pickup paused") }, "\(daemon.log)")
        for i in 3..<8 {
            try fixture.drop(Samples.bytes(Samples.adapt(sample, unit: "PL-KGP", id: "full-0000\(i)", recipients: ["EU-EUROPOL"])), unit: "PL-KGP", name: "a\(i).json")
        }
        usleep(2_500_000)
        #expect(fixture.files(fixture.outbox("PL-KGP")).count == 5, "files wait while paused")
        #expect(fixture.ctl(["cancel", "--state", "queued,deferred", "--yes"]).status == 0)
        #expect(waitUntil(timeout: 20) { fixture.files(fixture.outbox("PL-KGP")).isEmpty }, "\(daemon.log)")
        #expect(daemon.log.contains("pickup resumed"))
        let store = try QueueStore(path: fixture.queuePath)
        #expect(try store.stats().messages == 8, "nothing lost")
    }

    @Test("certificates close to expiry are warned about in the log")
    func certificateWarnings() throws {
        let fixture = try GatewayFixture(extra: "certificates:\n  warnDays: 3650\n")
        let daemon = try DaemonProcess.start(fixture)
        defer { daemon.stop() }
        #expect(waitUntil(timeout: 10) { daemon.log.contains("certificate expires soon") && daemon.log.contains("use=signing") }, "\(daemon.log)")
    }
}
