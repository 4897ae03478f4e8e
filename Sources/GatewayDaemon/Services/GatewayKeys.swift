// NAME
//   GatewayKeys: the gateway's signing identity, loaded from the configuration, and its
//   adapters to the daemon's seams (messages, reports, audit checkpoints).
//
// SECURITY
//   The signing key file must be readable by its owner only, and owned by the gateway's
//   user or root (PrivateKey.load refuses otherwise). The signing certificate must be valid
//   now and usable for signatures; the daemon does not start with one that is expired or
//   not yet valid, nor (with signing.crl) with one that is revoked.

import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayModel
import GatewayStore

public struct GatewayKeysError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

public struct GatewayKeys: Sendable {
    public let signer: JWSSigner
    public let chain: [Certificate]
    public let trust: TrustStore?
    /// Asked before every signature (SigningGate).
    public let gate: SigningGate
    /// Why a start with these files would be refused (loaded for a reload only; nil at start,
    /// where it is thrown).
    public let startProblem: String?

    /// The TLS client identity, read once: the key with the checks private keys get
    /// (owner-only mode, owner, a regular file, read from the descriptor that was checked),
    /// the certificate chain as it was read, the key matched with its first certificate.
    /// Handed to libcurl as bytes, so that it never reads the files itself at each
    /// connection (a key and a certificate replaced one after the other would pair wrongly).
    /// PEM both.
    public static func clientTLSIdentity(_ config: GatewayConfig) throws -> (key: [UInt8], chain: [UInt8]) {
        let key: PrivateKey
        do { key = try PrivateKey.load(path: config.tls.clientKey) } catch {
            throw GatewayKeysError(description: "tls.clientKey: \(error)")
        }
        guard let chainBytes = FileManager.default.contents(atPath: config.tls.clientCertificate), chainBytes.count <= 1 << 20 else {
            throw GatewayKeysError(description: "tls.clientCertificate: cannot read \(config.tls.clientCertificate) (or it is over 1 MB)")
        }
        let leaf: Certificate
        do {
            guard let first = try Certificate.loadAll(pem: [UInt8](chainBytes)).first else {
                throw GatewayKeysError(description: "tls.clientCertificate: \(config.tls.clientCertificate) holds no certificate")
            }
            leaf = first
        } catch let error as GatewayKeysError { throw error } catch {
            throw GatewayKeysError(description: "tls.clientCertificate: \(config.tls.clientCertificate): \(error)")
        }
        guard let certified = try? leaf.publicKey(), certified.matches(key.publicKey) else {
            throw GatewayKeysError(description: "tls.clientKey \(config.tls.clientKey) does not belong to the certificate in tls.clientCertificate (\(leaf.subject))")
        }
        return (Array(key.pemRepresentation.utf8), [UInt8](chainBytes))
    }

    /// Each endpoint's `crl` file as libcurl will read it: PEM, CRLs that parse. Checked at
    /// start and reload, so that a wrong file is said then, not found by every handshake.
    public static func checkEndpointCRLs(_ config: GatewayConfig) throws {
        for (name, endpoint) in config.endpoints.sorted(by: { $0.key < $1.key }) {
            guard let path = endpoint.crl else { continue }
            guard let bytes = FileManager.default.contents(atPath: path),
                  String(decoding: bytes.prefix(1 << 16), as: UTF8.self).contains("-----BEGIN X509 CRL-----") else {
                throw GatewayKeysError(description: "endpoints.\(name).crl: \(path) is not a PEM file (libcurl reads CRLs as PEM only)")
            }
            do {
                if try CertificateRevocationList.loadAll(pem: [UInt8](bytes)).isEmpty {
                    throw GatewayKeysError(description: "endpoints.\(name).crl: \(path) holds no CRL")
                }
            } catch let error as GatewayKeysError { throw error } catch {
                throw GatewayKeysError(description: "endpoints.\(name).crl: \(path): \(error)")
            }
        }
    }

    /// - Parameter requireUsable: false for a reload, which applies none of the signing
    ///   identity (a restart does) but must not be refused because of it: an identity that
    ///   a restart would refuse (expired, revoked, not under the anchors) loads, with
    ///   `startProblem` saying why, and its gate says why it may not sign.
    public static func load(_ config: GatewayConfig, at date: Date = Date(), requireUsable: Bool = true) throws -> GatewayKeys {
        let key: PrivateKey
        do {
            key = try PrivateKey.load(path: config.signing.key)
        } catch {
            throw GatewayKeysError(description: "signing.key: \(error)")
        }
        let chain: [Certificate]
        do {
            chain = try Certificate.load(path: config.signing.chain)
        } catch {
            throw GatewayKeysError(description: "signing.chain: \(error)")
        }
        guard let leaf = chain.first else { throw GatewayKeysError(description: "signing.chain: \(config.signing.chain) holds no certificate") }
        var startProblem: String?
        func problem(_ text: String) throws {
            if requireUsable { throw GatewayKeysError(description: text) }
            startProblem = startProblem ?? text
        }
        if leaf.notAfter < date { try problem("signing.chain: the signing certificate \(leaf.subject) expired on \(leaf.notAfter)") }
        if leaf.notBefore > date { try problem("signing.chain: the signing certificate \(leaf.subject) is not valid before \(leaf.notBefore)") }
        var trust: TrustStore? = nil
        if let anchors = config.signing.trustAnchors {
            let store: TrustStore
            do {
                store = try TrustStore.load(anchorsPath: anchors, crlPaths: config.signing.crl.map { [$0] } ?? [])
            } catch {
                throw GatewayKeysError(description: "signing: the signing certificate does not verify against signing.trustAnchors: \(error)")
            }
            // Revoked: refused. A CRL past its next update does not stop the daemon (the
            // certificate's revocation is still checked against it).
            if let error = verificationError(store, leaf: leaf, chain: chain, at: date) {
                try problem("signing: the signing certificate does not verify against signing.trustAnchors: \(error)")
            }
            trust = store
        }
        let gate: SigningGate
        do {
            gate = try SigningGate(chain: chain, anchorsPath: config.signing.trustAnchors, crlPath: config.signing.crl, at: date)
        } catch {
            throw GatewayKeysError(description: "signing: \(error)")
        }
        if let outside = gate.problem(at: date) {
            // An intermediate outside its validity (the leaf's own is said above).
            try problem("signing.chain: \(outside)")
        }
        let algorithm = JWSAlgorithm(rawValue: config.signing.algorithm)
        do {
            let signer = try JWSSigner(key: key, chain: chain, algorithm: algorithm)
            return GatewayKeys(signer: signer, chain: chain, trust: trust, gate: gate, startProblem: startProblem)
        } catch {
            throw GatewayKeysError(description: "signing: \(error)")
        }
    }

    private static func verificationError(_ store: TrustStore, leaf: Certificate, chain: [Certificate], at date: Date) -> ChainVerificationError? {
        do {
            _ = try store.verify(leaf: leaf, intermediates: Array(chain.dropFirst()), at: date, usage: .signing, freshCRLs: false)
            return nil
        } catch {
            return error
        }
    }

    /// What the signatures are made with, to compare with files read again: the chain (the
    /// key must belong to its first certificate, or the keys do not load).
    public var signingMaterial: [[UInt8]] { chain.map(\.derBytes) }

    /// A digest of key material (each part hashed, then the list), to tell whether files
    /// read again hold what is in use; never logged.
    public static func fingerprint(of parts: [[UInt8]]) -> String {
        SHA256.hex(parts.flatMap { SHA256.hash($0) })
    }

    /// Messages and reports: JWS in flattened JSON serialisation, x5c included.
    public var messageSigner: JWSGatewaySigner { JWSGatewaySigner(signer: signer, gate: gate) }

    /// Checkpoints are verified against the anchors when configured, else against the
    /// signing certificate's key.
    public var auditVerifier: JWSAuditVerifier {
        JWSAuditVerifier(trust: trust, key: try? chain.first?.publicKey(), signerSubject: chain.first?.subject)
    }
}

public struct JWSGatewaySigner: GatewaySigning, AuditSigner {
    public let signer: JWSSigner
    /// Asked before each signature: none is made with a certificate that may not sign then.
    public let gate: SigningGate?

    public init(signer: JWSSigner, gate: SigningGate? = nil) {
        self.signer = signer
        self.gate = gate
    }

    public func sign(payload: [UInt8]) throws -> [UInt8] {
        let now = Date()
        try gate?.check(at: now)
        return try signer.sign(payload: payload, at: now).flattenedJSON
    }

    public func replica() throws -> any GatewaySigning {
        JWSGatewaySigner(signer: try signer.replica(), gate: gate)
    }

    public var unavailable: String? { gate?.problem(at: Date()) }

    /// AuditSigner: a compact JWS (one text column in the checkpoint table).
    public func sign(_ payload: [UInt8], at: Millis) throws -> String {
        let date = Date(timeIntervalSince1970: Double(at) / 1000)
        try gate?.check(at: date)
        return try signer.sign(payload: payload, at: date).compact
    }
}

public struct JWSAuditVerifier: AuditVerifier {
    let trust: TrustStore?
    let key: PublicKey?
    /// The gateway's signing certificate's subject: with anchors, a checkpoint must be signed
    /// by a certificate of this subject (any other certificate under the anchors, a TLS
    /// certificate or an agency's, is not the gateway's signer). Kept across a renewal.
    let signerSubject: String?

    public init(trust: TrustStore?, key: PublicKey?, signerSubject: String? = nil) {
        self.trust = trust
        self.key = key
        self.signerSubject = signerSubject
    }

    public func verify(_ signature: String) throws -> [UInt8] {
        let bytes = Array(signature.utf8)
        if let trust {
            // Checkpoints are verified as of now, but an expired old signing certificate
            // must not invalidate history: verify at the signing time the JWS carries.
            // The time used is the signed `iat`: the verification fails if it was altered.
            let jws = try JWS.parse(bytes)
            let header = Base64URL.decode(jws.protectedHeaderBase64URL).flatMap { try? JSON.parse($0) }
            guard let iat = header?["iat"]?.doubleValue, iat.isFinite, iat >= 0, iat <= JWSVerifier.maxNumericDate else {
                throw GatewayKeysError(description: "checkpoint signature: no signing time (iat) within 1970-9999")
            }
            // The gateway's own checkpoints: as of their signing time, revocation against the
            // CRLs as they are now (see TrustStore.verify).
            let verified = try JWSVerifier().verify(jws, trustStore: trust, at: Date(timeIntervalSince1970: iat), freshCRLs: false)
            if let signerSubject, let leaf = verified.chain?.leaf, leaf.subject != signerSubject {
                throw GatewayKeysError(description: "checkpoint signed by \(leaf.subject), not the gateway's signing certificate (\(signerSubject))")
            }
            // Signed when it says: the signing time is the checkpoint's own (a key valid at
            // another time cannot sign it with a time of its choosing).
            if let at = (try? JSON.parse(verified.payload))?["at"]?.doubleValue, abs(at / 1000 - iat) > 5 {
                throw GatewayKeysError(description: "checkpoint signed at \(Int(iat)), not at its own time \(Int(at / 1000))")
            }
            return verified.payload
        }
        guard let key else { throw GatewayKeysError(description: "no key to verify audit checkpoints with") }
        return try JWSVerifier().verify(bytes, key: key).payload
    }
}
