// NAME
//   SigningGate: whether the gateway's signing certificate may sign now.
//
// DESCRIPTION
//   gatewayd does not start with a signing certificate that is expired, not yet valid or
//   (with signing.crl) revoked. The gate keeps that true while it runs: every signature the
//   daemon makes (messages, accepted and other reports, audit checkpoints) asks it first,
//   and is refused, with the reason, once any certificate of the signing chain (the trust
//   anchor it was verified to included) is outside its validity, or once signing.crl (read
//   again whenever the file changes on disk, or named anew by a reload) revokes it.
//   A signature made anyway would be no proof: an agency would refuse the message, and a
//   unit could not rely on its report. The daemon pauses pickup meanwhile (files stay in
//   the outboxes) and reports stay owed; a restart with a usable key resumes them.
//
//   Only a check that decides changes the verdict: one that finds the certificate revoked
//   closes the gate; one that verifies it reopens it only when a reload asked for it (an
//   operator's decision; a CRL file replaced by one that no longer lists it, an older copy
//   from a mirror say, does not). A check that cannot decide (anchors of another CA, named
//   by a reload ahead of a key rotation; a CRL of another issuer; no anchors) leaves the
//   last verdict standing, so that a revoked certificate is never reopened by files that
//   do not vouch for it.

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
    /// then, and the verdict in force.
    public struct Revocation: Sendable, Equatable {
        public let anchorsPath: String?
        public let crlPath: String?
        let stamps: [[Int64]?]
        /// Why the certificate may not sign (revoked), nil when it may: the last decided verdict.
        public let problem: String?
        /// The certificate that expires first in the chain the last good check built (the
        /// trust anchor included, which the configured chain may leave out).
        let firstExpiring: Expiring?
        /// Why this check could not decide (the verdict before it stands); nil when it decided.
        public let undecided: String?
        /// When the check was made.
        let checkedAt: Date

        func keepingVerdict(of previous: Revocation) -> Revocation {
            Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps, problem: previous.problem,
                       firstExpiring: previous.firstExpiring, undecided: undecided, checkedAt: checkedAt)
        }
    }

    struct Expiring: Sendable, Equatable {
        let subject: String
        let notAfter: Date
    }

    private let chain: [Certificate]
    /// The times all certificates of the configured chain are valid between.
    public let notBefore: Date
    public let notAfter: Date
    private let revocation: Locked<Revocation>

    /// Checks the chain against the anchors and CRL now; throws when they cannot be read.
    public init(chain: [Certificate], anchorsPath: String?, crlPath: String?, at date: Date = Date()) throws {
        self.chain = chain
        notBefore = chain.map(\.notBefore).max() ?? .distantFuture
        notAfter = chain.map(\.notAfter).min() ?? .distantPast
        revocation = Locked(try Self.check(chain, anchorsPath: anchorsPath, crlPath: crlPath, at: date, previous: nil, mayReopen: true))
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
        let state = revocation.withLock { $0 }
        if let anchor = state.firstExpiring, date >= anchor.notAfter {
            return "the trust anchor of the signing chain \(anchor.subject) expired on \(RFC3339.format(millis: anchor.notAfter.millis))"
        }
        return state.problem
    }

    /// Throws SigningUnavailable when the certificate may not sign at `date`.
    public func check(at date: Date) throws {
        if let problem = problem(at: date) { throw SigningUnavailable(reason: problem) }
    }

    public var current: Revocation { revocation.withLock { $0 } }

    /// The check against these files as they are now (nothing changes until `adopt`).
    public func evaluate(anchorsPath: String?, crlPath: String?, at date: Date = Date()) throws -> Revocation {
        try Self.check(chain, anchorsPath: anchorsPath, crlPath: crlPath, at: date, previous: current, mayReopen: true)
    }

    /// Takes a check made by `evaluate` (a reload's): its files from now on, and its verdict
    /// if it decided one (else the verdict in force now stands, whatever changed meanwhile).
    /// The same files read again since by the housekeeping (changed on disk during the
    /// reload) are newer than the reload's look at them: that state stays.
    public func adopt(_ next: Revocation) {
        revocation.withLock { state in
            if state.anchorsPath == next.anchorsPath && state.crlPath == next.crlPath
                && state.stamps != next.stamps && state.checkedAt > next.checkedAt {
                // The newer look stays; the reload's verdict still counts when that look
                // decided none (a file it could not decide, or that may not reopen).
                if state.undecided != nil && next.undecided == nil {
                    state = Revocation(anchorsPath: state.anchorsPath, crlPath: state.crlPath, stamps: state.stamps, problem: next.problem,
                                       firstExpiring: next.firstExpiring, undecided: state.undecided, checkedAt: state.checkedAt)
                }
                return
            }
            state = next.undecided == nil ? next : next.keepingVerdict(of: state)
        }
    }

    /// The files read again when either changed on disk since they were read: the new
    /// check (adopted), or the error reading them gave (the previous check stays, marked
    /// with the files' new state, so that a file still being written is read at the next
    /// look once it changes again). nil: nothing changed, or a reload adopted other files
    /// meanwhile (they are looked at next time).
    public func refreshed(at date: Date = Date()) -> Swift.Result<Revocation, SigningFilesUnreadable>? {
        let last = current
        let now = [last.anchorsPath, last.crlPath].map { $0.flatMap(ReceiptCheck.stamp) }
        // Also when the chain last built expires (an anchor renewed in the same file since,
        // under the same name, may carry it on: built again now).
        let chainExpired = last.firstExpiring.map { date >= $0.notAfter && last.checkedAt < $0.notAfter } ?? false
        guard now != last.stamps || chainExpired else { return nil }
        let next: Revocation
        let outcome: Swift.Result<Revocation, SigningFilesUnreadable>
        do {
            next = try Self.check(chain, anchorsPath: last.anchorsPath, crlPath: last.crlPath, at: date, previous: last, mayReopen: false)
            outcome = .success(next)
        } catch {
            next = Revocation(anchorsPath: last.anchorsPath, crlPath: last.crlPath, stamps: now, problem: last.problem,
                              firstExpiring: last.firstExpiring, undecided: "\(error)", checkedAt: date)
            outcome = .failure(SigningFilesUnreadable(description: "\(error)"))
        }
        // Only over the state it was read from: a reload's adopt in between wins.
        let taken = revocation.withLock { state -> Bool in
            guard state == last else { return false }
            state = next
            return true
        }
        return taken ? outcome : nil
    }

    /// - Parameter mayReopen: whether a check that verifies the certificate may replace a
    ///   verdict that it is revoked (a reload's, not a file replaced on disk).
    private static func check(_ chain: [Certificate], anchorsPath: String?, crlPath: String?, at date: Date, previous: Revocation?,
                              mayReopen: Bool) throws -> Revocation {
        // The state of the files before they are read: a change during the read is seen
        // at the next look.
        let stamps = [anchorsPath, crlPath].map { $0.flatMap(ReceiptCheck.stamp) }
        guard let anchorsPath, let leaf = chain.first else {
            // Nothing to check against: the verdict stands (a certificate found revoked stays
            // so, and a chain that expires closes it). Not worth a word when there never
            // were anchors.
            let hadAnchors = previous.map { $0.anchorsPath != nil || $0.problem != nil } ?? false
            return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps, problem: previous?.problem,
                              firstExpiring: previous?.firstExpiring,
                              undecided: hadAnchors ? "no signing.trustAnchors to check the signing certificate against" : nil,
                              checkedAt: date)
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
            let built = try store.verify(leaf: leaf, intermediates: Array(chain.dropFirst()), at: within, usage: .signing, freshCRLs: false)
            let first = built.certificates.min { $0.notAfter < $1.notAfter }.map { Expiring(subject: $0.subject, notAfter: $0.notAfter) }
            if let revoked = previous?.problem, !mayReopen {
                return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps, problem: revoked, firstExpiring: first,
                                  undecided: "a CRL that no longer lists the certificate does not reopen it; a reload that verifies it does",
                                  checkedAt: date)
            }
            return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps, problem: nil, firstExpiring: first,
                              undecided: nil, checkedAt: date)
        } catch where error.reason == .revoked {
            return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps,
                              problem: "the signing certificate \(leaf.subject) is revoked by signing.crl (\(error))",
                              firstExpiring: previous?.firstExpiring, undecided: nil, checkedAt: date)
        } catch {
            // Anchors of another CA (a key rotation a restart applies), a CRL of another
            // issuer, an anchor expired: not a verdict on the running certificate.
            return Revocation(anchorsPath: anchorsPath, crlPath: crlPath, stamps: stamps, problem: previous?.problem,
                              firstExpiring: previous?.firstExpiring, undecided: "\(error)", checkedAt: date)
        }
    }
}

public struct SigningFilesUnreadable: Error, Sendable, CustomStringConvertible {
    public let description: String
}
