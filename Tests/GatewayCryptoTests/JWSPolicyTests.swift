// The gateway's JWS: round trip, header contents, and every refusal the policy promises.
import GatewayTestSupport
import Foundation
import GatewayCrypto
import GatewayJSON
import Testing

@Suite struct JWSPolicyTests {
    static let message: JSON = [
        "messageId": "6f1c1b9e-3f7a-4d5e-9a55-0c1d2e3f4a5b", "type": "alert", "sender": "PL-KGP",
        "recipients": ["EU-EUROPOL"], "priority": "immediate", "subject": "Zażółć gęślą jaźń",
        "body": ["count": 3, "ratio": 0.5],
    ]

    /// Makes a compact JWS with an arbitrary protected header, signed by `key` with `algorithm`.
    static func forge(_ header: JSON, payload: [UInt8] = Array("{\"a\":1}".utf8), key: PrivateKey,
                      algorithm: JWSAlgorithm) throws -> JWS {
        let h = Base64URL.encode(try header.canonicalBytes()), p = Base64URL.encode(payload)
        let signature = try key.signature(for: Array("\(h).\(p)".utf8), algorithm: algorithm)
        return JWS(protectedHeaderBase64URL: h, payloadBase64URL: p, signatureBase64URL: Base64URL.encode(signature))
    }

    @Test("one signer on four threads across signing seconds: every signature verifies over its own payload", arguments: [
        KeyType.ec(.p256), .ec(.p384), .rsa(bits: 2048), .ed25519,
    ])
    func concurrentSigning(type: KeyType) throws {
        let key = try PrivateKey.generate(type)
        let signer = try JWSSigner(key: key)
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var items: [(Int, [UInt8])] = []
            func append(_ item: (Int, [UInt8])) { lock.withLock { items.append(item) } }
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for i in 0..<100 {
                let n = thread * 100 + i
                // Ten signing seconds, visited in turn: the per-second header (and what it
                // has already hashed) changes under the threads' feet.
                let when = Date(timeIntervalSince1970: 1_767_225_600 + Double(n % 10))
                let jws = try! signer.sign(payload: Array("{\"n\":\(n)}".utf8), at: when)
                results.append((n, jws.flattenedJSON))
            }
        }
        let all = results.lock.withLock { results.items }
        #expect(all.count == 400)
        for (n, bytes) in all {
            let verified = try JWSVerifier().verify(bytes, key: key.publicKey)
            #expect(verified.payload == Array("{\"n\":\(n)}".utf8))
            #expect(verified.signingTime == Date(timeIntervalSince1970: 1_767_225_600 + Double(n % 10)))
        }
    }

    @Test("sign then verify for every algorithm, both serialisations", arguments: [
        KeyType.ec(.p256), .ec(.p384), .rsa(bits: 2048), .ed25519,
    ])
    func roundTrip(type: KeyType) throws {
        let key = try PrivateKey.generate(type)
        let signer = try JWSSigner(key: key)
        let when = Date(timeIntervalSince1970: 1_767_225_600)
        let jws = try signer.sign(Self.message, at: when)
        // The flattened form is written directly: it must be the JCS of its members.
        #expect(jws.flattenedJSON == (try jws.flattenedJSONValue.canonicalBytes()))
        for bytes in [jws.flattenedJSON, Array(jws.compact.utf8)] {
            let verified = try JWSVerifier().verify(bytes, key: key.publicKey)
            #expect(verified.payload == (try Self.message.canonicalBytes()))
            #expect(verified.algorithm == JWSAlgorithm.for(type))
            #expect(verified.signingTime == when)
            #expect(try verified.payloadJSON() == Self.message)
        }
        for part in Tamper.Part.allCases {
            for changed in Tamper.variants(of: jws, part: part) {
                #expect(throws: JWSError.self) { try JWSVerifier().verify(changed, key: key.publicKey) }
            }
        }
    }

    @Test("the gateway header: alg, typ, x5c, x5t#S256, iat, and nothing unprotected")
    func gatewayHeader() throws {
        let signer = try DevPKI.signer("gateway/signing")
        let jws = try signer.sign(Self.message, at: Date(timeIntervalSince1970: 1_767_225_600))
        let header = try JSON.parse(Base64URL.decode(jws.protectedHeaderBase64URL)!)
        #expect(header["alg"] == "ES256")
        #expect(header["typ"] == "jose+json")
        #expect(header["iat"] == 1_767_225_600)
        let chain = try DevPKI.certificates("gateway/signing-chain.pem")
        #expect(header["x5c"] == .array(chain.map { .string(Base64URL.encodeStandard($0.derBytes)) }))
        #expect(header["x5t#S256"]?.stringValue == chain[0].x5tS256)
        #expect(header["crit"] == nil)
        // The wire form is exactly three members, JCS order.
        let wire = try JSON.parse(jws.flattenedJSON)
        #expect(wire.objectValue.map { Set($0.keys) } == ["payload", "protected", "signature"])
        #expect(try wire.canonicalBytes() == jws.flattenedJSON)
        let verified = try JWSVerifier().verify(jws.flattenedJSON, trustStore: DevPKI.trustStore())
        #expect(verified.signerSubject == "CN=PL-GW signing,O=PL Gateway Development,C=PL")
        #expect(verified.chain?.certificates.count == 3)
    }

    @Test("a replica signs as the original: same header, same key, its own key object", arguments: [false, true])
    func replica(jades: Bool) throws {
        let original = try DevPKI.signer("gateway/signing")
        let configured = try JWSSigner(key: original.key, chain: original.chain, jadesSigningTime: jades)
        let replica = try configured.replica()
        #expect(replica !== configured)
        #expect(replica.key !== configured.key)
        #expect(replica.key.publicKey.matches(configured.key.publicKey))
        #expect(replica.algorithm == configured.algorithm && replica.type == configured.type && replica.jadesSigningTime == jades)
        let when = Date(timeIntervalSince1970: 1_767_225_600)
        let a = try configured.sign(Self.message, at: when)
        let b = try replica.sign(Self.message, at: when)
        // ECDSA signatures differ each time; header and payload are the same bytes.
        #expect(a.protectedHeaderBase64URL == b.protectedHeaderBase64URL)
        #expect(a.payloadBase64URL == b.payloadBase64URL)
        let verified = try JWSVerifier().verify(b.flattenedJSON, trustStore: DevPKI.trustStore())
        #expect(verified.payload == (try Self.message.canonicalBytes()))
        #expect(verified.signerSubject == "CN=PL-GW signing,O=PL Gateway Development,C=PL")
    }

    @Test("JAdES sigT is written as a critical header and read back as the signing time")
    func jadesSigningTime() throws {
        let key = try PrivateKey.generate(.ec(.p256))
        let jws = try JWSSigner(key: key, jadesSigningTime: true).sign(Self.message, at: Date(timeIntervalSince1970: 1_767_225_601))
        let header = try JSON.parse(Base64URL.decode(jws.protectedHeaderBase64URL)!)
        #expect(header["sigT"] == "2026-01-01T00:00:01Z")
        #expect(header["crit"] == ["sigT"])
        let verified = try JWSVerifier().verify(jws, key: key.publicKey)
        #expect(verified.signingTime == Date(timeIntervalSince1970: 1_767_225_601))
        // A verifier that does not understand sigT must refuse it, as crit demands.
        let strict = JWSVerifier(policy: .init(understoodCriticalHeaders: []))
        let error = try #require(throws: JWSError.self) { try strict.verify(jws, key: key.publicKey) }
        #expect(error.reason == .unknownCriticalHeader)
    }

    @Test("hostile signing times are read or refused, never trapped on: a long sigT fraction, an iat past year 9999")
    func hostileSigningTimes() throws {
        let key = try PrivateKey.generate(.ec(.p256))
        let signer = try JWSSigner(key: key)
        func signed(_ header: String) throws -> [UInt8] {
            let h = Base64URL.encode(Array(header.utf8)), p = Base64URL.encode(Array("{}".utf8))
            let signature = try signer.signature(over: Array("\(h).\(p)".utf8))
            return Array("\(h).\(p).\(Base64URL.encode(signature))".utf8)
        }
        let long = try JWSVerifier().verify(try signed(#"{"alg":"ES256","crit":["sigT"],"sigT":"2026-01-01T00:00:00.99999999999999999999999Z"}"#), key: key.publicKey)
        let seconds = try #require(long.signingTime?.timeIntervalSince1970)
        #expect(seconds > 1_767_225_600.99 && seconds <= 1_767_225_601)
        for iat in ["1e300", "253402300800", "-1"] {
            let error = try #require(throws: JWSError.self, "iat \(iat)") { try JWSVerifier().verify(try signed(#"{"alg":"ES256","iat":\#(iat)}"#), key: key.publicKey) }
            #expect(error.reason == .malformed)
        }
        #expect(try JWSVerifier().verify(try signed(#"{"alg":"ES256","iat":253402300799}"#), key: key.publicKey).signingTime != nil)
        // A chain checked as of a time out of any range is refused.
        let chain = try DevPKI.certificates("gateway/signing-chain.pem")
        #expect(throws: ChainVerificationError.self) {
            try DevPKI.trustStore(crl: false).verify(leaf: chain[0], intermediates: [chain[1]], at: Date(timeIntervalSince1970: 1e300))
        }
    }

    @Test("alg none is refused")
    func algNone() throws {
        let key = try PrivateKey.generate(.ec(.p256))
        let h = Base64URL.encode(Array("{\"alg\":\"none\"}".utf8)), p = Base64URL.encode(Array("{}".utf8))
        for text in ["\(h).\(p).", "\(h).\(p).AAAA"] {
            let error = try #require(throws: JWSError.self) { try JWSVerifier().verify(Array(text.utf8), key: key.publicKey) }
            #expect(error.reason == .algorithmNone || error.reason == .malformed)
        }
        let withSignature = try #require(throws: JWSError.self) {
            try JWSVerifier().verify(Array("\(h).\(p).AAAA".utf8), key: key.publicKey)
        }
        #expect(withSignature.reason == .algorithmNone)
    }

    @Test("HS256 is refused, even when its MAC key is the verifier's public key bytes")
    func hmacRefused() throws {
        let key = try PrivateKey.generate(.rsa(bits: 2048))
        // The classic confusion attack: HMAC keyed with the public key's PEM.
        let h = Base64URL.encode(Array("{\"alg\":\"HS256\"}".utf8)), p = Base64URL.encode(Array("{}".utf8))
        let text = "\(h).\(p).\(Base64URL.encode(SHA256.hash(Array(key.publicKey.pemString.utf8))))"
        let error = try #require(throws: JWSError.self) { try JWSVerifier().verify(Array(text.utf8), key: key.publicKey) }
        #expect(error.reason == .hmacRefused)
    }

    @Test("an alg that does not match the key type is refused", arguments: [
        (KeyType.ec(.p256), JWSAlgorithm.es384), (.ec(.p384), .es256), (.ec(.p256), .ps256), (.rsa(bits: 2048), .es256),
        (.ed25519, .es256), (.ec(.p256), .edDSA),
    ])
    func algorithmKeyMismatch(type: KeyType, claimed: JWSAlgorithm) throws {
        let key = try PrivateKey.generate(type)
        // A correctly signed JWS whose header claims another algorithm.
        let real = try JWSSigner(key: key).sign(payload: Array("{}".utf8))
        let h = Base64URL.encode(try JSON.object(["alg": .string(claimed.rawValue)]).canonicalBytes())
        let forged = JWS(protectedHeaderBase64URL: h, payloadBase64URL: real.payloadBase64URL, signatureBase64URL: real.signatureBase64URL)
        let error = try #require(throws: JWSError.self) { try JWSVerifier().verify(forged, key: key.publicKey) }
        #expect(error.reason == .algorithmKeyMismatch)
        // And the signer refuses to make one.
        #expect(throws: JWSError.self) { try JWSSigner(key: key, algorithm: claimed) }
    }

    @Test("an unknown critical header is refused; so are malformed crit values")
    func unknownCrit() throws {
        let key = try PrivateKey.generate(.ec(.p256))
        let unknown = try Self.forge(["alg": "ES256", "crit": ["exp"], "exp": 1], key: key, algorithm: .es256)
        let error = try #require(throws: JWSError.self) { try JWSVerifier().verify(unknown, key: key.publicKey) }
        #expect(error.reason == .unknownCriticalHeader)
        #expect(error.message.contains("exp"))
        for header: JSON in [["alg": "ES256", "crit": []], ["alg": "ES256", "crit": ["alg"]], ["alg": "ES256", "crit": "sigT"],
                             ["alg": "ES256", "crit": ["sigT"]], ["alg": "ES256", "crit": ["b64"], "b64": false]] {
            let jws = try Self.forge(header, key: key, algorithm: .es256)
            #expect(throws: JWSError.self) { try JWSVerifier().verify(jws, key: key.publicKey) }
        }
        // Control: the same construction without crit verifies, so the refusals above are about crit.
        let plain = try Self.forge(["alg": "ES256", "exp": 1], key: key, algorithm: .es256)
        #expect(throws: Never.self) { try JWSVerifier().verify(plain, key: key.publicKey) }
    }

    @Test("duplicate header names, stray members and shadowing unprotected headers are refused")
    func strictParsing() throws {
        let key = try PrivateKey.generate(.ec(.p256))
        let duplicateHeader = Base64URL.encode(Array("{\"alg\":\"ES256\",\"alg\":\"ES256\"}".utf8))
        let p = Base64URL.encode(Array("{}".utf8))
        let signature = try key.signature(for: Array("\(duplicateHeader).\(p)".utf8), algorithm: .es256)
        let duplicate = "\(duplicateHeader).\(p).\(Base64URL.encode(signature))"
        #expect(throws: JWSError.self) { try JWSVerifier().verify(Array(duplicate.utf8), key: key.publicKey) }

        let good = try JWSSigner(key: key).sign(payload: Array("{}".utf8))
        let variants = [
            "{\"payload\":\"\(good.payloadBase64URL)\",\"payload\":\"\(good.payloadBase64URL)\",\"protected\":\"\(good.protectedHeaderBase64URL)\",\"signature\":\"\(good.signatureBase64URL)\"}",
            "{\"payload\":\"\(good.payloadBase64URL)\",\"protected\":\"\(good.protectedHeaderBase64URL)\",\"signature\":\"\(good.signatureBase64URL)\",\"extra\":1}",
            "{\"payload\":\"\(good.payloadBase64URL)\",\"protected\":\"\(good.protectedHeaderBase64URL)\",\"signature\":\"\(good.signatureBase64URL)\",\"header\":{\"alg\":\"ES256\"}}",
            "{\"payload\":\"\(good.payloadBase64URL)\",\"protected\":\"\(good.protectedHeaderBase64URL)\",\"signature\":\"\(good.signatureBase64URL)\",\"header\":{\"crit\":[\"x\"]}}",
            "\(good.compact).x",
            "\(good.protectedHeaderBase64URL)..\(good.signatureBase64URL)",
        ]
        for text in variants {
            #expect(throws: JWSError.self, "\(text.prefix(60))") { try JWSVerifier().verify(Array(text.utf8), key: key.publicKey) }
        }
        // Control: the untouched flattened form (with an innocuous unprotected kid) verifies.
        let withKid = JWS(protectedHeaderBase64URL: good.protectedHeaderBase64URL, payloadBase64URL: good.payloadBase64URL,
                          signatureBase64URL: good.signatureBase64URL, unprotectedHeader: ["kid": "k1"])
        #expect(throws: Never.self) { try JWSVerifier().verify(withKid.flattenedJSON, key: key.publicKey) }
    }

    @Test("ECDSA signatures of the wrong length are refused")
    func ecdsaLengths() throws {
        let key = try PrivateKey.generate(.ec(.p256))
        let jws = try JWSSigner(key: key).sign(payload: Array("{}".utf8))
        let raw = Base64URL.decode(jws.signatureBase64URL)!
        #expect(raw.count == 64)
        for wrong in [Array(raw.dropLast()), raw + [0], [0] + raw, Array(raw.prefix(32))] {
            let changed = JWS(protectedHeaderBase64URL: jws.protectedHeaderBase64URL, payloadBase64URL: jws.payloadBase64URL,
                              signatureBase64URL: Base64URL.encode(wrong))
            let error = try #require(throws: JWSError.self) { try JWSVerifier().verify(changed, key: key.publicKey) }
            #expect(error.reason == .badSignature)
        }
        // A DER signature (what OpenSSL produces natively) is not a JWS signature.
        #expect(!key.publicKey.isValidSignature([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], for: [1], algorithm: .es256))
    }

    @Test("a verifier policy can narrow the algorithms")
    func policyNarrowing() throws {
        let key = try PrivateKey.generate(.ed25519)
        let jws = try JWSSigner(key: key).sign(payload: Array("{}".utf8))
        let onlyES256 = JWSVerifier(policy: .init(allowedAlgorithms: [.es256]))
        let error = try #require(throws: JWSError.self) { try onlyES256.verify(jws, key: key.publicKey) }
        #expect(error.reason == .algorithmNotAllowed)
    }
}
