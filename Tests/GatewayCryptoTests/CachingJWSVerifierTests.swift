// The chain cache must save work without ever accepting what the full path refuses.
import Foundation
import GatewayCrypto
import GatewayJSON
import GatewayTestSupport
import Testing

@Suite("CachingJWSVerifier: chains remembered, nothing else")
struct CachingJWSVerifierTests {
    static let payload = Array("{\"n\":1}".utf8)

    @Test("a chain that verified is remembered: same result as the full path, one signature check")
    func remembers() throws {
        let signer = try DevPKI.signer("gateway/signing")
        let cache = CachingJWSVerifier(trustStore: try DevPKI.trustStore())
        let first = try cache.verify(signer.sign(payload: Self.payload).flattenedJSON)
        #expect(cache.hits == 0)
        for n in 0..<5 {
            let bytes = Array("{\"n\":\(n)}".utf8)
            let verified = try cache.verify(signer.sign(payload: bytes).flattenedJSON)
            #expect(verified.payload == bytes)
            #expect(verified.signerSubject == first.signerSubject)
            #expect(verified.chain?.certificates.count == 3)
        }
        #expect(cache.hits == 5)
        #expect(first.signerSubject == "CN=PL-GW signing,O=PL Gateway Development,C=PL")
    }

    @Test("with the chain cached, a bad signature is still refused")
    func badSignatureAfterHit() throws {
        let signer = try DevPKI.signer("gateway/signing")
        let cache = CachingJWSVerifier(trustStore: try DevPKI.trustStore())
        _ = try cache.verify(signer.sign(payload: Self.payload))
        let jws = try signer.sign(payload: Self.payload)
        for changed in Tamper.variants(of: jws, part: .signature) + Tamper.variants(of: jws, part: .payload) {
            #expect(throws: JWSError.self) { try cache.verify(changed) }
        }
    }

    @Test("signers refused by the full path are refused after a good chain was cached", arguments: [
        "bad/revoked", "bad/expired", "bad/wrong-ca", "bad/wrong-usage",
    ])
    func otherChainsStillRefused(base: String) throws {
        let cache = CachingJWSVerifier(trustStore: try DevPKI.trustStore())
        _ = try cache.verify(DevPKI.signer("gateway/signing").sign(payload: Self.payload))
        let bad = try DevPKI.signer(base).sign(payload: Self.payload)
        let error = #expect(throws: JWSError.self) { try cache.verify(bad) }
        #expect(error?.reason == .untrustedCertificate)
        // The same refusal as without any cache.
        #expect(throws: JWSError.self) { try JWSVerifier().verify(bad, trustStore: DevPKI.trustStore()) }
    }

    @Test("the cached chain with another key's signature, a wrong thumbprint or an unknown crit is refused")
    func headerRulesOnHit() throws {
        let signer = try DevPKI.signer("gateway/signing")
        let cache = CachingJWSVerifier(trustStore: try DevPKI.trustStore())
        _ = try cache.verify(signer.sign(payload: Self.payload))
        let header = try #require(JSON.parse(Base64URL.decode(signer.sign(payload: Self.payload).protectedHeaderBase64URL)!).objectValue)
        // Same x5c, signed by a key that is not the leaf's.
        let stranger = try PrivateKey.generate(.ec(.p256))
        let forged = try JWSPolicyTests.forge(.object(header), key: stranger, algorithm: .es256)
        #expect(cache.hits == 0)
        #expect((#expect(throws: JWSError.self) { try cache.verify(forged) })?.reason == .badSignature)
        // Same x5c, thumbprint of another certificate: a cache miss, refused by the full path.
        var wrongThumb = header
        wrongThumb["x5t#S256"] = .string(String(repeating: "A", count: 43))
        let thumbed = try JWSPolicyTests.forge(.object(wrongThumb), key: signer.key, algorithm: .es256)
        #expect((#expect(throws: JWSError.self) { try cache.verify(thumbed) })?.reason == .certificateMismatch)
        // Same x5c and thumbprint, an unknown critical header: refused before any key is used.
        var critical = header
        critical["crit"] = ["x-unknown"]
        critical["x-unknown"] = true
        let crit = try JWSPolicyTests.forge(.object(critical), key: signer.key, algorithm: .es256)
        #expect((#expect(throws: JWSError.self) { try cache.verify(crit) })?.reason == .unknownCriticalHeader)
    }

    @Test("headers whose x5c and thumbprint strings concatenate to a cached chain's miss the cache and are refused")
    func noKeyCollisions() throws {
        let signer = try DevPKI.signer("gateway/signing")
        let cache = CachingJWSVerifier(trustStore: try DevPKI.trustStore())
        let good = try signer.sign(payload: Self.payload)
        _ = try cache.verify(good)
        let header = try #require(JSON.parse(Base64URL.decode(good.protectedHeaderBase64URL)!).objectValue)
        let certificates = header["x5c"]?.arrayValue ?? []
        let x5c = certificates.compactMap { $0.stringValue }
        let x5t = header["x5t#S256"]?.stringValue ?? ""
        #expect(!x5t.isEmpty)
        #expect(x5c.count == 2)
        // [L], thumbprint "I,T": the same characters as [L, I] + T once joined with commas.
        var shifted = header
        shifted["x5c"] = .array([.string(x5c[0])])
        shifted["x5t#S256"] = .string(x5c[1] + "," + x5t)
        let a = try JWSPolicyTests.forge(.object(shifted), key: signer.key, algorithm: .es256)
        #expect((#expect(throws: JWSError.self) { try cache.verify(a) })?.reason == .certificateMismatch)
        // ["L,I"], thumbprint T.
        var merged = header
        merged["x5c"] = .array([.string(x5c[0] + "," + x5c[1])])
        let b = try JWSPolicyTests.forge(.object(merged), key: signer.key, algorithm: .es256)
        #expect((#expect(throws: JWSError.self) { try cache.verify(b) })?.reason == .malformed)
        #expect(cache.hits == 0)
        // The genuine header still hits.
        _ = try cache.verify(signer.sign(payload: Self.payload))
        #expect(cache.hits == 1)
    }

    @Test("an entry is used only within its lifetime")
    func lifetime() throws {
        let signer = try DevPKI.signer("gateway/signing")
        let cache = CachingJWSVerifier(trustStore: try DevPKI.trustStore(), lifetime: 60)
        let now = Date()
        _ = try cache.verify(signer.sign(payload: Self.payload), at: now)
        _ = try cache.verify(signer.sign(payload: Self.payload), at: now.addingTimeInterval(30))
        #expect(cache.hits == 1)
        // Past the lifetime: the full path again (and remembered anew).
        _ = try cache.verify(signer.sign(payload: Self.payload), at: now.addingTimeInterval(61))
        #expect(cache.hits == 1)
        _ = try cache.verify(signer.sign(payload: Self.payload), at: now.addingTimeInterval(62))
        #expect(cache.hits == 2)
        // Never past the leaf's notAfter: verified as of then, the full path refuses it.
        let leaf = try #require(DevPKI.certificates("gateway/signing-chain.pem").first)
        let late = leaf.notAfter.addingTimeInterval(1)
        #expect((#expect(throws: JWSError.self) { try cache.verify(signer.sign(payload: Self.payload), at: late) })?.reason == .untrustedCertificate)
    }

    @Test("an entry answers only for times from its verification on: a time before the leaf was valid takes the full path and is refused")
    func notBeforeItsVerification() throws {
        let signer = try DevPKI.signer("gateway/signing")
        let cache = CachingJWSVerifier(trustStore: try DevPKI.trustStore(), lifetime: 60)
        let leaf = try #require(DevPKI.certificates("gateway/signing-chain.pem").first)
        _ = try cache.verify(signer.sign(payload: Self.payload), at: Date())
        let early = leaf.notBefore.addingTimeInterval(-1)
        #expect((#expect(throws: JWSError.self) { try cache.verify(signer.sign(payload: Self.payload), at: early) })?.reason == .untrustedCertificate)
        #expect(cache.hits == 0)
    }

    @Test("an entry never outlives a certificate of its chain: an intermediate that expires before the leaf bounds it")
    func boundedByEveryCertificate() throws {
        // A chain of its own: root (ten years) → intermediate (two days) → leaf (700 days).
        let dir = try TestPaths.temporaryDirectory("short-intermediate")
        let script = """
            set -e
            cd '\(dir.path)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }
            printf '[ca]\\nbasicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n[leaf]\\nbasicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n' > ext.cnf
            key root.key
            openssl req -new -x509 -key root.key -subj /CN=T-root -days 3650 -sha256 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out root.pem
            key int.key
            openssl req -new -key int.key -subj /CN=T-intermediate -out int.csr
            openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 2 -days 2 -sha256 -extfile ext.cnf -extensions ca -out int.pem 2>/dev/null
            key leaf.key
            openssl req -new -key leaf.key -subj /CN=T-leaf -out leaf.csr
            openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -set_serial 3 -days 700 -sha256 -extfile ext.cnf -extensions leaf -out leaf.pem 2>/dev/null
            cat leaf.pem int.pem > chain.pem
            """
        let made = try Subprocess.run("/bin/bash", ["-c", script])
        try #require(made.status == 0, "\(made.stderr)")
        let chain = try Certificate.load(path: dir.appendingPathComponent("chain.pem").path)
        #expect(chain[1].notAfter < chain[0].notAfter, "the intermediate expires first")
        let signer = try JWSSigner(key: try PrivateKey.load(path: dir.appendingPathComponent("leaf.key").path), chain: chain)
        let trust = try TrustStore.load(anchorsPath: dir.appendingPathComponent("root.pem").path)
        // A lifetime that would reach past the intermediate's expiry.
        let cache = CachingJWSVerifier(trustStore: trust, lifetime: 5 * 86_400)
        _ = try cache.verify(signer.sign(payload: Self.payload), at: Date())
        _ = try cache.verify(signer.sign(payload: Self.payload), at: Date().addingTimeInterval(60))
        #expect(cache.hits == 1, "the chain is remembered")
        let after = chain[1].notAfter.addingTimeInterval(60)
        #expect((#expect(throws: JWSError.self) { try cache.verify(signer.sign(payload: Self.payload), at: after) })?.reason == .untrustedCertificate)
        #expect(cache.hits == 1, "past the intermediate's expiry the full path answered")
    }
}
