import Foundation
import GatewayModel
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("crash safety")
struct CrashTests {
    /// Starts queue-torture on `path`, lets it write for a random moment, SIGKILLs it, and
    /// returns the message ids it reported as committed.
    func runAndKill(_ path: URL, round: Int) throws -> [String] {
        let p = Process()
        p.executableURL = TestPaths.product("queue-torture")
        p.arguments = [path.path, "r\(round)"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(UInt32.random(in: 30_000...250_000))
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            line.hasPrefix("committed ") ? String(line.dropFirst("committed ".count)) : nil
        }
    }

    @Test("SIGKILL at random moments, 50 times: nothing committed is lost, nothing half done")
    func killNine() throws {
        let dir = try TestPaths.temporaryDirectory("crash")
        let path = dir.appendingPathComponent("queue.sqlite")
        var committed: Set<String> = []
        var rounds = 0
        for round in 0..<50 {
            committed.formUnion(try runAndKill(path, round: round))
            rounds += 1
            let store = try QueueStore(path: path.path)
            #expect(try store.integrityCheck() == "ok")
            let audit = try store.verifyAudit(verifier: nil)
            #expect(audit.isValid, "round \(round): \(audit.problems.prefix(3))")
            // Every message reported committed is there, with both of its deliveries.
            var missing: [String] = []
            for id in committed.shuffled().prefix(40) {
                guard let m = try store.message(id, sender: "PL-KGP") else { missing.append(id); continue }
                #expect(m.deliveries.count == 2, "\(id) has \(m.deliveries.count) deliveries")
                #expect(m.audit.first?.event == "accepted")
                // A delivered or failed delivery has its attempt; a deferred one its next time.
                for d in m.deliveries {
                    switch d.summary.state {
                    case .delivered: #expect(d.attempts.count >= 1 && d.receipt != nil)
                    case .failed: #expect(d.attempts.count >= 1)
                    case .deferred: #expect(d.summary.nextAttemptAt != nil)
                    default: break
                    }
                }
            }
            #expect(missing.isEmpty, "round \(round): lost \(missing)")
        }
        #expect(rounds == 50)
        #expect(committed.count > 100, "the writer made progress (\(committed.count) commits)")
        let store = try QueueStore(path: path.path)
        #expect(try store.stats().messages >= committed.count)
        for id in committed.shuffled().prefix(1_000) { #expect(try store.message(id, sender: "PL-KGP") != nil, "lost \(id)") }
    }
}
