// NAME
//   SigningGate: whether the gateway's signing certificate may sign now.
//
// DESCRIPTION
//   gatewayd does not start with a signing certificate that is expired, not yet valid or
//   (with signing.crl) revoked. The gate keeps that true while it runs: every signature the
//   daemon makes (messages, accepted and other reports, audit checkpoints) asks it first,
//   and is refused, with the reason, once any certificate of the signing chain is outside
//   its validity, or once signing.crl (read again whenever the file changes on disk, or
//   named anew by a reload) revokes it.
//   A signature made anyway would be no proof: an agency would refuse the message, and a
//   unit could not rely on its report. The daemon pauses pickup meanwhile (files stay in
//   the outboxes) and reports stay owed; a restart with a usable key resumes them.

import Foundation
import GatewayCrypto
import GatewayModel
import GatewayStore

/// A signature refused by the gate; `reason` says why, for a person to act on.
public struct SigningUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

public final class SigningGate: @unchecked Sendable {
    /// The revocation side as last read: the files it was read from, their state on disk
    /// then, and what the check found (nil: not revoked).
    public struct Revocation: Sendable, Equatable {
        public let anchorsPath: String?
        public let crlPath: String?
        let stamps: [[Int64]?]
        public let problem: String?
    }

    private let chain: [Certificate]
    /// The times all certificates of the chain are valid between.
    public let notBefore: Date
    public let notAfter: Date
    private let revocation: Locked<Revocation>

    /// Checks the chain against the anchors and CRL now; throws when they cannot be read.
    public init(chain: [Certificate], anchorsPath: String?, crlPath: String?, at date: Date = Date()) throws {
        self.chain = chain
        notBefore = chain.map(\.notBefore).max() ?? .distantFuture
        notAfter = chain.map(\.notAfter).min() ?? .distantPast
        revocation = Locked(try Self.check(chain, anchorsPath: anchorsPath, crlPath: crlPath, at: date))
    }

    /// Why the certificate may not sign at `date`, or nil when it may.
    public func problem(at date: Date) -> String? {
        if date >= notAfter, let c = chain.first(where: { $0.notAfter == notAfter }) {
            let which = c === chain.first ? "the signing certificate" : "a certificate of the signing chain"
            return "\(which) \(c.subject) expired on \(RFC3339.format(millis: notAfter.millis))"
        }
        if date < notBefore, let c = chain.first(where: { $0.notBefore == notBefore }) {
            let which = c === chain.first ? "the signing certificate" : "a certificate of the signing chain"
            return "\(which) \(c.subject) is not valid before \(RFC3339.format(millis: notBefore.millis))"
        }
        return revocation.withLock { $0.problem }
    }

    /// Throws SigningUnavailable when the certificate may not sign at `date`.
    public func check(at date: Date) throws {
        if let problem = problem(at: date) { throw SigningUnavailable(reason: problem) }
    }

    public var current: Revocation { revocation.withLock { $0 } }

    /// The check against these files as they are now (nothing changes until `adopt`).
    public func evaluate(anchorsPath: String?, crlPath: String?, at date: Date = Date()) throws -> Revocation {
        try Self.check(chain, anchorsPath: anchorsPath, crlPath: crlPath, at: date)
    }

    public func adopt(_ next: Revocation) {
        revocation.withLock { $0 = next }
    }

    /// The files read again when either changed on disk since they were read: the new
    /// check (adopted), or the error reading them gave (the previous check stays, marked
    /// with the files' new state, so that a file still being written is read at the next
    /// look once it changes again). nil: nothing changed.
    public func refreshed(at date: Date = Date()) -> Swift.Result<Revocation, SigningFilesUnreadable>? {
        let last = current
        let paths = [last.anchorsPath, last.crlPath]
        let now = paths.map { $0.flatMap(ReceiptCheck.stamp) }
        guard now != last.stamps else { return nil }
        do {
            let next = try Self.check(chain, anchorsPath: last.anchorsPath, crlPath: last.crlPath, at: date)
            adopt(next)
            return .success(next)
        } catch {
            adopt(Revocation(anchorsPath: last.anchorsPath, crlPath: last.crlPath, stamps: now, problem: last.problem))
            return .failure(SigningFilesUnreadable(description: "\(error)"))
        }
    }

    private static func check(_ chain: [Certificate], anchorsPath: String?, crlPath: String?, at date: Date) throws -> Revocation {
        // The state of the files before they are read: a change during the read is seen
        // at the next look.
        let stamps = [anchorsPath, crlPath].map { $0.flatMap(ReceiptCheck.stamp) }
        guard let anchorsPath, let leaf = chain.first else {
            return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps, problem: nil)
        }
        let store: TrustStore
        do {
            store = try TrustStore.load(anchorsPath: anchorsPath, crlPaths: crlPath.map { [$0] } ?? [])
        } catch {
            throw SigningFilesUnreadable(description: "signing.trustAnchors or signing.crl: \(error)")
        }
        // Checked within the chain's validity (expiry is the gate's own check above); a CRL
        // past its next update still revokes what it lists.
        let within = min(max(date, chain.map(\.notBefore).max() ?? date), (chain.map(\.notAfter).min() ?? date).addingTimeInterval(-1))
        do {
            _ = try store.verify(leaf: leaf, intermediates: Array(chain.dropFirst()), at: within, usage: .signing, freshCRLs: false)
        } catch where error.reason == .revoked {
            return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps,
                              problem: "the signing certificate \(leaf.subject) is revoked by signing.crl (\(error))")
        } catch {
            // Any other verdict (anchors of another CA, named by a reload for a key rotation
            // that a restart applies) says nothing against the running certificate: the start
            // checked it against the anchors it was configured with.
        }
        return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps, problem: nil)
    }
}

public struct SigningFilesUnreadable: Error, Sendable, CustomStringConvertible {
    public let description: String
}
