// Keys and certificates from the development PKI: loading, facts, and every bad
// certificate refused with its reason.
import GatewayTestSupport
import Foundation
@testable import GatewayCrypto
import GatewayJSON
import Testing

@Suite struct CertificateTests {
    @Test("certificate facts: subject, issuer, usages, validity, fingerprints")
    func facts() throws {
        let chain = try DevPKI.certificates("gateway/signing-chain.pem")
        #expect(chain.count == 2)
        let leaf = chain[0]
        #expect(leaf.subject == "CN=PL-GW signing,O=PL Gateway Development,C=PL")
        #expect(leaf.issuer == chain[1].subject)
        #expect(leaf.keyUsage == .digitalSignature)
        #expect(leaf.extendedKeyUsage == nil)
        #expect(!leaf.isCA && chain[1].isCA)
        #expect(leaf.daysUntilExpiry() >= 728 && leaf.daysUntilExpiry() <= 730)
        #expect(leaf.notBefore < Date() && leaf.notAfter > Date())
        #expect(try leaf.publicKey().type == .ec(.p256))
        // Fingerprints agree with the openssl CLI.
        let path = try DevPKI.path("gateway/signing.pem")
        let fingerprint = try Subprocess.run("/usr/bin/openssl", ["x509", "-in", path, "-noout", "-fingerprint", "-sha256"]).stdout
        #expect(fingerprint.replacingOccurrences(of: ":", with: "").lowercased().contains(leaf.sha256Thumbprint))
        let serial = try Subprocess.run("/usr/bin/openssl", ["x509", "-in", path, "-noout", "-serial"]).stdout
        #expect(serial.trimmingCharacters(in: .whitespacesAndNewlines) == "serial=\(leaf.serialNumber)")
        // SPKI pin, as `openssl x509 -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64`.
        let pin = try Subprocess.run("/bin/bash", ["-c", "openssl x509 -in '\(path)' -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64"]).stdout
        #expect(pin.trimmingCharacters(in: .whitespacesAndNewlines) == leaf.spkiSHA256Base64)
        let pem = try Subprocess.run("/usr/bin/openssl", ["x509", "-in", path, "-noout", "-pubkey"]).stdout
        #expect(try PublicKey(pem: Array(pem.utf8)).spkiSHA256Base64 == leaf.spkiSHA256Base64)
        #expect(leaf.curlPin == "sha256//" + leaf.spkiSHA256Base64)
        #expect(Base64URL.decodeStandard(leaf.spkiSHA256Base64)?.count == 32)

        let tls = try DevPKI.certificates("agencies/europol/tls-server.pem")[0]
        #expect(tls.extendedKeyUsage == .serverAuth)
        let client = try DevPKI.certificates("gateway/tls-client.pem")[0]
        #expect(client.extendedKeyUsage == .clientAuth)
    }

    @Test("DER certificates load and equal their PEM form")
    func der() throws {
        let pem = try DevPKI.certificates("gateway/signing.pem")[0]
        let fromDER = try Certificate(der: pem.derBytes)
        #expect(fromDER.derBytes == pem.derBytes)
        #expect(throws: CryptoError.self) { try Certificate(der: pem.derBytes + [0]) }
        #expect(throws: CryptoError.self) { try Certificate(der: Array(pem.derBytes.dropLast())) }
        #expect(throws: CryptoError.self) { try Certificate.loadAll(pem: Array("not a certificate".utf8)) }
    }

    @Test("good chains verify for their usage")
    func goodChains() throws {
        let store = try DevPKI.trustStore()
        for (base, usage) in [("gateway/signing", CertificateUsage.signing), ("gateway/tls-client", .tlsClient),
                              ("agencies/olaf/tls-server", .tlsServer), ("agencies/cepol/receipt", .signing)] {
            let chain = try DevPKI.certificates("\(base)-chain.pem")
            let verified = try store.verify(leaf: chain[0], intermediates: Array(chain.dropFirst()), usage: usage)
            #expect(verified.certificates.count == 3)
            #expect(verified.anchor.subject == "CN=PL-GW Dev Root CA,O=PL Gateway Development,C=PL")
        }
    }

    @Test("each bad certificate is refused, naming the reason", arguments: [
        ("bad/expired", ChainVerificationError.Reason.expired, "certificate has expired"),
        ("bad/not-yet-valid", .notYetValid, "certificate is not yet valid"),
        ("bad/wrong-ca", .unknownIssuer, "unable to get local issuer certificate"),
        ("bad/revoked", .revoked, "certificate revoked"),
        ("bad/wrong-usage", .wrongKeyUsage, "digital signature"),
    ])
    func badCertificates(base: String, reason: ChainVerificationError.Reason, text: String) throws {
        let store = try DevPKI.trustStore()
        let chain = try DevPKI.certificates("\(base)-chain.pem")
        let error = try #require(throws: ChainVerificationError.self) {
            try store.verify(leaf: chain[0], intermediates: Array(chain.dropFirst()), usage: .signing)
        }
        #expect(error.reason == reason)
        #expect(error.openSSLMessage.contains(text), "\(error)")
        #expect(error.description.contains(reason.rawValue))

        // Signed with that certificate, a JWS is refused for the same reason.
        let jws = try DevPKI.signer(base).sign(["n": 1])
        let refused = try #require(throws: JWSError.self) { try JWSVerifier().verify(jws, trustStore: store) }
        #expect(refused.reason == .untrustedCertificate)
        #expect(refused.chainError?.reason == reason)
    }

    @Test("a TLS certificate (extendedKeyUsage serverAuth or clientAuth only) is no signer, though it chains to the anchors and may sign")
    func tlsCertificatesDoNotSign() throws {
        let store = try DevPKI.trustStore()
        for base in ["agencies/europol/tls-server", "gateway/tls-client"] {
            let chain = try DevPKI.certificates("\(base)-chain.pem")
            #expect(chain[0].keyUsage?.contains(.digitalSignature) == true, "it has the key usage to sign")
            let error = try #require(throws: ChainVerificationError.self, "\(base)") {
                try store.verify(leaf: chain[0], intermediates: [chain[1]], usage: .signing)
            }
            #expect(error.reason == .wrongKeyUsage, "\(error)")
        }
        // The signing certificates (no extendedKeyUsage) sign.
        for base in ["gateway/signing", "agencies/europol/receipt"] {
            let chain = try DevPKI.certificates("\(base)-chain.pem")
            #expect(throws: Never.self) { try store.verify(leaf: chain[0], intermediates: [chain[1]], usage: .signing) }
        }
    }

    @Test("wrong key usage is refused for TLS too; a server certificate is not a client certificate")
    func tlsPurposes() throws {
        let store = try DevPKI.trustStore()
        let wrong = try DevPKI.certificates("bad/wrong-usage-chain.pem")
        let e1 = try #require(throws: ChainVerificationError.self) {
            try store.verify(leaf: wrong[0], intermediates: [wrong[1]], usage: .tlsClient)
        }
        #expect(e1.reason == .wrongKeyUsage)
        let server = try DevPKI.certificates("agencies/frontex/tls-server-chain.pem")
        let e2 = try #require(throws: ChainVerificationError.self) {
            try store.verify(leaf: server[0], intermediates: [server[1]], usage: .tlsClient)
        }
        #expect(e2.reason == .wrongKeyUsage)
    }

    @Test("time is explicit: the expired certificate verified within its validity")
    func verificationTime() throws {
        let store = try DevPKI.trustStore(crl: false)
        let chain = try DevPKI.certificates("bad/expired-chain.pem")
        // Its issuing CA was made today, so at 2020-06-01 the *issuer* is not yet valid.
        let error = try #require(throws: ChainVerificationError.self) {
            try store.verify(leaf: chain[0], intermediates: [chain[1]], at: Date(timeIntervalSince1970: 1_590_969_600))
        }
        #expect(error.reason == .notYetValid)
        #expect(error.depth >= 1)
    }

    @Test("revocation is checked for every CA of the chain, not the leaf alone: without the root's CRL the issuing CA's status is unknown")
    func revocationOfIntermediates() throws {
        let anchors = try DevPKI.path("trust/gateway-signing.pem")
        let good = try DevPKI.certificates("gateway/signing-chain.pem")
        let leafOnly = try TrustStore.load(anchorsPath: anchors, crlPaths: [DevPKI.path("ca/issuing-ca.crl.pem")])
        let error = try #require(throws: ChainVerificationError.self) {
            try leafOnly.verify(leaf: good[0], intermediates: [good[1]], usage: .signing)
        }
        #expect(error.reason == .revocationUnknown && error.depth == 1, "\(error)")
        let both = try TrustStore.load(anchorsPath: anchors, crlPaths: [DevPKI.path("ca/crls.pem")])
        #expect(throws: Never.self) { try both.verify(leaf: good[0], intermediates: [good[1]], usage: .signing) }
    }

    @Test("revocation as of a past time uses the CRLs as they are, whatever their dates; now, they must be current")
    func revocationAtOtherTimes() throws {
        let anchors = try DevPKI.path("trust/gateway-signing.pem")
        let good = try DevPKI.certificates("gateway/signing-chain.pem")
        let revoked = try DevPKI.certificates("bad/revoked-chain.pem")
        // A CRL issued after the time the evidence is checked as of (the dev root is only
        // minutes old, so that time is an hour ahead and the CRL's two hours ahead): "not
        // yet valid" then.
        let fresh = try TrustStore.load(anchorsPath: anchors, crlPaths: [DevPKI.issuingCRL(from: 2 * 3600, until: 86_400)])
        let thenTime = Date().addingTimeInterval(3600)
        let strict = try #require(throws: ChainVerificationError.self) {
            try fresh.verify(leaf: good[0], intermediates: [good[1]], at: thenTime, freshCRLs: true)
        }
        #expect(strict.reason == .revocationUnknown)
        _ = try fresh.verify(leaf: good[0], intermediates: [good[1]], at: thenTime)
        let stillRevoked = try #require(throws: ChainVerificationError.self) {
            try fresh.verify(leaf: revoked[0], intermediates: [revoked[1]], at: thenTime)
        }
        #expect(stillRevoked.reason == .revoked)
        // A CRL past its next update: now it decides nothing; the gateway's own certificate
        // (freshCRLs: false) is still checked against it.
        let late = try TrustStore.load(anchorsPath: anchors, crlPaths: [DevPKI.issuingCRL(from: -2 * 86_400, until: -3600)])
        let unknown = try #require(throws: ChainVerificationError.self) { try late.verify(leaf: good[0], intermediates: [good[1]]) }
        #expect(unknown.reason == .revocationUnknown)
        _ = try late.verify(leaf: good[0], intermediates: [good[1]], freshCRLs: false)
        let revokedLate = try #require(throws: ChainVerificationError.self) {
            try late.verify(leaf: revoked[0], intermediates: [revoked[1]], freshCRLs: false)
        }
        #expect(revokedLate.reason == .revoked)
    }

    @Test("a missing intermediate or the wrong anchor gives unknown issuer")
    func missingIntermediate() throws {
        let chain = try DevPKI.certificates("gateway/signing-chain.pem")
        let store = try DevPKI.trustStore()
        let e1 = try #require(throws: ChainVerificationError.self) { try store.verify(leaf: chain[0]) }
        #expect(e1.reason == .unknownIssuer)
        let wrongAnchor = try TrustStore(anchors: DevPKI.certificates("ca/wrong-root-ca.pem"))
        let e2 = try #require(throws: ChainVerificationError.self) { try wrongAnchor.verify(leaf: chain[0], intermediates: [chain[1]]) }
        #expect(e2.reason == .unknownIssuer)
    }

    @Test("a private key file readable by others is refused, naming the file and the fix")
    func keyFileMode() throws {
        let directory = try TestTemp.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pem = try DevPKI.key("gateway/signing.key").pemRepresentation
        let path = directory.appendingPathComponent("signing.key").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(pem.utf8), attributes: [.posixPermissions: 0o644]))
        let error = try #require(throws: CryptoError.self) { try PrivateKey.load(path: path) }
        #expect(error.kind == .insecureKeyFile)
        #expect(error.message.contains(path) && error.message.contains("chmod 600") && error.message.contains("0644"))
        for mode in [0o640, 0o604, 0o660] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            #expect(throws: CryptoError.self) { try PrivateKey.load(path: path) }
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        #expect(try PrivateKey.load(path: path).type == .ec(.p256))
        // Owned by another user than the reader (or root): refused, naming the fix, root
        // included (the daemon); an operator's tool run as root may read it (gatewayctl).
        if geteuid() == 0 { #expect(chown(path, 4321, 4321) == 0) }
        defer { if geteuid() == 0 { _ = chown(path, 0, 0) } }
        let owner = try #require(FileManager.default.attributesOfItem(atPath: path)[.ownerAccountID] as? NSNumber).uint32Value
        let stranger: uid_t = owner == 4321 ? 4322 : 4321
        let foreign = try #require(throws: CryptoError.self) { try SecureFile.readPrivateKey(path, as: stranger) }
        #expect(foreign.kind == .insecureKeyFile && foreign.message.contains("belongs to user \(owner)") && foreign.message.contains("chown \(stranger)"))
        #expect(try SecureFile.readPrivateKey(path, as: owner).count > 0)
        #expect(throws: CryptoError.self) { try SecureFile.readPrivateKey(path, as: 0, rootReadsAnyOwner: false) }
        #expect(try SecureFile.readPrivateKey(path, as: 0, rootReadsAnyOwner: true).count > 0)
        // A FIFO at the key's path is refused at once (opening it for reading would wait for a writer).
        let fifo = directory.appendingPathComponent("fifo.key").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let notRegular = try #require(throws: CryptoError.self) { try PrivateKey.load(path: fifo) }
        #expect(notRegular.message.contains("not a regular file"))
        // Keys written by the PKI script are 600 already.
        let attributes = try FileManager.default.attributesOfItem(atPath: DevPKI.path("gateway/signing.key"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("key formats: PEM, DER, JWK; unsupported and weak keys are refused")
    func keyFormats() throws {
        let directory = try TestTemp.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func openssl(_ arguments: [String]) throws {
            let result = try Subprocess.run("/usr/bin/openssl", arguments)
            #expect(result.status == 0, "\(result.stderr)")
        }
        let p384 = directory.appendingPathComponent("p384.pem").path, rsa1024 = directory.appendingPathComponent("rsa1024.pem").path
        let p521 = directory.appendingPathComponent("p521.pem").path, ed = directory.appendingPathComponent("ed.der").path
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", p384])
        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", rsa1024])
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", p521])
        try openssl(["genpkey", "-algorithm", "ED25519", "-outform", "DER", "-out", ed])
        for path in [p384, rsa1024, p521, ed] { chmod(path, 0o600) }
        #expect(try PrivateKey.load(path: p384).type == .ec(.p384))
        #expect(try PrivateKey.load(path: ed).type == .ed25519)
        #expect(throws: CryptoError.self) { try PrivateKey.load(path: rsa1024) }
        let weak = try #require(throws: CryptoError.self) { try PrivateKey.load(path: rsa1024) }
        #expect(weak.kind == .weakKey)
        let curve = try #require(throws: CryptoError.self) { try PrivateKey.load(path: p521) }
        #expect(curve.kind == .unsupportedKey)
        let missing = try #require(throws: CryptoError.self) { try PrivateKey.load(path: directory.appendingPathComponent("none").path) }
        #expect(missing.kind == .unreadableFile)
        // Public keys: PEM and DER round trip.
        let key = try PrivateKey.generate(.rsa(bits: 2048))
        #expect(try PublicKey(der: key.publicKey.derBytes).matches(key.publicKey))
        #expect(try PublicKey(pem: Array(key.publicKey.pemString.utf8)).matches(key.publicKey))
        #expect(try PrivateKey(pem: Array(key.pemRepresentation.utf8)).publicKey.matches(key.publicKey))
        // JWK: a point off the curve is refused.
        var jwk = try Vectors.json("jose-rfc7515/A.3.es256.json")["input"]!["key"]!.objectValue!
        jwk["y"] = .string(Tamper.flipByte(jwk["y"]!.stringValue!, at: 5))
        #expect(throws: CryptoError.self) { try PublicKey(jwk: .object(jwk)) }
    }
}

enum TestTemp {
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("gw-crypto-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
