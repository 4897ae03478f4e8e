// SigningGate: no signature with a signing certificate outside its validity or revoked.
import Foundation
import GatewayCrypto
import GatewayDaemon
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("signing gate")
struct SigningGateTests {
    @Test("outside the chain's validity the gate says why and the signer refuses, for messages and checkpoints alike; within it, both sign")
    func validity() throws {
        let chain = try DevPKI.certificates("gateway/signing-chain.pem")
        let gate = try SigningGate(chain: chain, anchorsPath: nil, crlPath: nil)
        #expect(gate.notAfter == chain.map(\.notAfter).min())
        #expect(gate.notBefore == chain.map(\.notBefore).max())
        #expect(gate.problem(at: Date()) == nil)
        let expired = try #require(gate.problem(at: gate.notAfter))
        #expect(expired.contains("expired on") && expired.contains(chain[0].subject), "\(expired)")
        let early = try #require(gate.problem(at: gate.notBefore.addingTimeInterval(-1)))
        #expect(early.contains("is not valid before"), "\(early)")

        let signer = JWSGatewaySigner(signer: try DevPKI.signer("gateway/signing"), gate: gate)
        #expect(throws: SigningUnavailable.self) { try signer.sign(Array("{}".utf8), at: gate.notAfter.millis + 1_000) }
        #expect(throws: SigningUnavailable.self) { try signer.sign(Array("{}".utf8), at: gate.notBefore.millis - 1_000) }
        let checkpoint = try signer.sign(Array("{}".utf8), at: Date().millis)
        #expect(checkpoint.split(separator: ".").count == 3)
        #expect(try !signer.sign(payload: Array("{}".utf8)).isEmpty)
        // A replica (one per worker) asks the same gate.
        let replica = try signer.replica()
        #expect(try !replica.sign(payload: Array("{}".utf8)).isEmpty)
        #expect((replica as? JWSGatewaySigner)?.gate === gate)
    }

    @Test("revocation: a CRL that lists the certificate closes the gate; anchors alone, or anchors of another CA (a key rotation a restart applies), do not")
    func revocation() throws {
        let chain = try DevPKI.certificates("bad/revoked-chain.pem")
        let anchors = try DevPKI.path("trust/gateway-signing.pem")
        let revoked = try SigningGate(chain: chain, anchorsPath: anchors, crlPath: DevPKI.path("ca/crls.pem"))
        // The chain built again once its first certificate expires (an anchor renewed in
        // the same file may carry it on), once, not at every look.
        let open = try SigningGate(chain: chain, anchorsPath: anchors, crlPath: nil)
        let first = try #require(chain.map(\.notAfter).min())
        guard case .success? = open.refreshed(at: first.addingTimeInterval(1)) else { Issue.record("not built again at its expiry"); return }
        #expect(open.refreshed(at: first.addingTimeInterval(2)) == nil)
        let problem = try #require(revoked.problem(at: Date()))
        #expect(problem.contains("revoked by signing.crl") && problem.contains(chain[0].subject), "\(problem)")
        let signer = JWSGatewaySigner(signer: try JWSSigner(key: DevPKI.key("bad/revoked.key"), chain: chain), gate: revoked)
        #expect(throws: SigningUnavailable.self) { try signer.sign(payload: Array("{}".utf8)) }

        #expect(try SigningGate(chain: chain, anchorsPath: anchors, crlPath: nil).problem(at: Date()) == nil)
        #expect(try SigningGate(chain: chain, anchorsPath: DevPKI.path("ca/wrong-root-ca.pem"), crlPath: nil).problem(at: Date()) == nil)
        // The root's CRL alone does not decide the issuing CA's certificates: no verdict, and
        // a gate that has none against it stays open.
        let rootOnly = try SigningGate(chain: chain, anchorsPath: anchors, crlPath: DevPKI.path("ca/root-ca.crl.pem"))
        #expect(rootOnly.problem(at: Date()) == nil && rootOnly.current.undecided != nil)
        // A file that cannot be read is an error, not an open gate.
        #expect(throws: SigningFilesUnreadable.self) { try SigningGate(chain: chain, anchorsPath: anchors, crlPath: "/nonexistent/crl.pem") }

        // Once revoked, only a check that verifies reopens it: anchors of another CA (a reload
        // ahead of a key rotation), a CRL that cannot decide, or no anchors keep it closed.
        let otherAnchors = try DevPKI.path("ca/wrong-root-ca.pem")
        for (a, c) in [(otherAnchors, nil), (anchors, try DevPKI.path("ca/root-ca.crl.pem")), (nil, nil)] as [(String?, String?)] {
            let check = try revoked.evaluate(anchorsPath: a, crlPath: c)
            #expect(check.undecided != nil && check.problem == problem, "\(String(describing: a)) \(String(describing: c))")
            revoked.adopt(check)
            #expect(revoked.problem(at: Date()) == problem)
        }
        // The CRL dropped by the operator: the anchors alone verify it, and it may sign.
        let dropped = try revoked.evaluate(anchorsPath: anchors, crlPath: nil)
        #expect(dropped.undecided == nil && dropped.problem == nil)
        revoked.adopt(dropped)
        #expect(revoked.problem(at: Date()) == nil)
        // And the CRL named again: closed.
        revoked.adopt(try revoked.evaluate(anchorsPath: anchors, crlPath: DevPKI.path("ca/crls.pem")))
        #expect(revoked.problem(at: Date()) == problem)

        // Adopting a check made against other files (a reload), and reading the files again
        // once they change on disk.
        let gate = try SigningGate(chain: chain, anchorsPath: anchors, crlPath: nil)
        let dir = try TestPaths.temporaryDirectory("signing-gate")
        let crl = dir.appendingPathComponent("crl.pem")
        try Data(contentsOf: URL(fileURLWithPath: DevPKI.path("ca/root-ca.crl.pem"))).write(to: crl)
        gate.adopt(try gate.evaluate(anchorsPath: anchors, crlPath: crl.path))
        #expect(gate.problem(at: Date()) == nil)
        #expect(gate.refreshed() == nil, "nothing changed on disk")
        let fresh = dir.appendingPathComponent("crl.tmp")
        try Data(contentsOf: URL(fileURLWithPath: DevPKI.path("ca/crls.pem"))).write(to: fresh)
        #expect(rename(fresh.path, crl.path) == 0)
        guard case .success(let read)? = gate.refreshed() else { Issue.record("the replaced CRL was not read again"); return }
        #expect(read.problem != nil && gate.problem(at: Date()) == read.problem)
        // A reload's check made before the file changed again, adopted after the housekeeping
        // read the new file: the newer look stays.
        let reloadCheck = try gate.evaluate(anchorsPath: anchors, crlPath: crl.path)
        #expect(reloadCheck.undecided == nil && reloadCheck.problem != nil)
        try Data(contentsOf: URL(fileURLWithPath: DevPKI.path("ca/root-ca.crl.pem"))).write(to: fresh)
        #expect(rename(fresh.path, crl.path) == 0)
        guard case .success(let reread)? = gate.refreshed() else { Issue.record("the replaced CRL was not read again"); return }
        // A CRL that cannot decide: the revocation stands.
        #expect(reread.undecided != nil && reread.problem == read.problem)
        gate.adopt(reloadCheck)
        #expect(gate.current.undecided == reread.undecided, "the reload's older look replaced the newer one")
        #expect(gate.refreshed() == nil)
        // A file that cannot be read now: the check read before stays, and is not read again until it changes.
        try Data("not a CRL".utf8).write(to: crl)
        guard case .failure? = gate.refreshed() else { Issue.record("an unreadable CRL was taken"); return }
        #expect(gate.problem(at: Date()) == read.problem)
        #expect(gate.refreshed() == nil)
    }
}
