// Interoperability with an independent implementation: Python's joserfc (on pyca/cryptography).
// Both directions, all four algorithms. The Python side is a small inline script run with
// python3; it reads one JSON document on stdin and writes one on stdout.
import GatewayTestSupport
import Foundation
import GatewayCrypto
import GatewayJSON
import Testing

@Suite struct InteroperabilityTests {
    /// joserfc refuses, by default, headers over 512 bytes (an x5c chain is ~2 KB) and header
    /// names outside its registry (`iat`); a receiving agency using it must lift both.
    static let pythonVerify = #"""
    import base64, hashlib, json, sys, warnings
    warnings.simplefilter("ignore")
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from joserfc import jws
    from joserfc.jwk import import_key
    reg = jws.JWSRegistry(strict_check_header=False, algorithms=["ES256", "ES384", "PS256", "EdDSA"])
    reg.max_header_length = 65536
    results = []
    for case in json.load(sys.stdin):
        try:
            flat = json.loads(case["flattened"])
            header = json.loads(base64.urlsafe_b64decode(flat["protected"] + "=="))
            if case.get("publicKeyPem"):
                key = import_key(case["publicKeyPem"].encode())
            else:
                # Trust nothing from Swift but the JWS: the key comes from the x5c leaf.
                leaf = base64.b64decode(header["x5c"][0])
                thumb = base64.urlsafe_b64encode(hashlib.sha256(leaf).digest()).rstrip(b"=").decode()
                assert header["x5t#S256"] == thumb, "x5t#S256 mismatch"
                cert = x509.load_der_x509_certificate(leaf)
                key = import_key(cert.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            a = jws.deserialize_json(flat, key, registry=reg)
            b = jws.deserialize_compact(case["compact"], key, registry=reg)
            expected = json.dumps(json.loads(case["message"]), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            assert a.payload == expected == b.payload, "payload is not the canonical message"
            assert a.headers()["alg"] == case["alg"]
            results.append({"alg": case["alg"], "ok": True})
        except Exception as e:
            results.append({"alg": case["alg"], "ok": False, "error": repr(e)})
    print(json.dumps(results))
    """#

    static let pythonSign = #"""
    import json, sys, warnings
    warnings.simplefilter("ignore")
    from joserfc import jws
    from joserfc.jwk import ECKey, RSAKey, OKPKey
    reg = jws.JWSRegistry(algorithms=["ES256", "ES384", "PS256", "EdDSA"])
    payload = json.dumps({"messageId": "py-1", "subject": "Łódź → Brussels", "n": 7}, separators=(",", ":"), ensure_ascii=False).encode()
    keys = {"ES256": ECKey.generate_key("P-256"), "ES384": ECKey.generate_key("P-384"),
            "PS256": RSAKey.generate_key(2048), "EdDSA": OKPKey.generate_key("Ed25519")}
    out = []
    for alg, key in keys.items():
        header = {"alg": alg, "typ": "JOSE+JSON"}
        flat = jws.serialize_json({"protected": header}, payload, key, registry=reg)
        compact = jws.serialize_compact(header, payload, key, registry=reg)
        out.append({"alg": alg, "flattened": json.dumps(flat), "compact": compact,
                    "publicKeyPem": key.as_pem(private=False).decode(), "payload": payload.decode()})
    print(json.dumps(out))
    """#

    static let message: JSON = [
        "messageId": "0b4f3c2a-1111-4a4a-8b8b-123456789abc", "type": "information-request", "sender": "PL-CBZC",
        "recipients": ["EU-EUROPOL", "EU-EUROJUST"], "subject": "Prośba o informacje", "priority": "urgent",
        "body": ["question": "Who controls wallet 0xABC?", "count": 12],
    ]

    @Test("JWS made here verify in joserfc (ES256 with the x5c chain; ES384, PS256, EdDSA with keys)")
    func pythonVerifiesOurs() throws {
        var cases: [JSON] = []
        let messageText = try Self.message.canonicalString()
        func add(_ signer: JWSSigner, _ publicKey: PublicKey?) throws {
            let jws = try signer.sign(Self.message)
            var entry: [String: JSON] = [
                "alg": .string(signer.algorithm.rawValue), "flattened": .string(String(decoding: jws.flattenedJSON, as: UTF8.self)),
                "compact": .string(jws.compact), "message": .string(messageText),
            ]
            if let publicKey { entry["publicKeyPem"] = .string(publicKey.pemString) }
            cases.append(.object(entry))
        }
        try add(DevPKI.signer("gateway/signing"), nil)
        for type in [KeyType.ec(.p384), .rsa(bits: 2048), .ed25519] {
            let key = try PrivateKey.generate(type)
            try add(JWSSigner(key: key), key.publicKey)
        }
        let result = try Subprocess.run("/usr/bin/env", ["python3", "-c", Self.pythonVerify], stdin: JSON.array(cases).canonicalBytes())
        try #require(result.status == 0, "python3 failed: \(result.stderr)")
        let outcomes = try JSON.parse(result.stdout).arrayValue ?? []
        #expect(outcomes.count == 4)
        for outcome in outcomes {
            #expect(outcome["ok"] == true, "\(outcome)")
        }
        #expect(Set(outcomes.compactMap { $0["alg"]?.stringValue }) == ["ES256", "ES384", "PS256", "EdDSA"])
    }

    @Test("JWS made by joserfc verify here, flattened and compact, and fail when altered")
    func oursVerifiesPython() throws {
        let result = try Subprocess.run("/usr/bin/env", ["python3", "-c", Self.pythonSign])
        try #require(result.status == 0, "python3 failed: \(result.stderr)")
        let cases = try JSON.parse(result.stdout).arrayValue ?? []
        #expect(cases.count == 4)
        var verifiedAlgorithms: Set<String> = []
        for entry in cases {
            let key = try PublicKey(pem: Array(entry["publicKeyPem"]!.stringValue!.utf8))
            let expected = Array(entry["payload"]!.stringValue!.utf8)
            for text in [entry["flattened"]!.stringValue!, entry["compact"]!.stringValue!] {
                let verified = try JWSVerifier().verify(Array(text.utf8), key: key)
                #expect(verified.payload == expected)
                #expect(verified.algorithm.rawValue == entry["alg"]!.stringValue)
                verifiedAlgorithms.insert(verified.algorithm.rawValue)
                let jws = try JWS.parse(text)
                for part in Tamper.Part.allCases {
                    for changed in Tamper.variants(of: jws, part: part) {
                        #expect(throws: JWSError.self) { try JWSVerifier().verify(changed, key: key) }
                    }
                }
            }
        }
        #expect(verifiedAlgorithms == ["ES256", "ES384", "PS256", "EdDSA"])
    }

    @Test("openssl dgst verifies an ES256 signature over the signing input (DER-converted)")
    func opensslVerifiesOurs() throws {
        let directory = try TestTemp.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey.generate(.ec(.p256))
        let jws = try JWSSigner(key: key).sign(Self.message)
        let raw = Base64URL.decode(jws.signatureBase64URL)!
        // r||s to DER by hand (an independent encoder from OpenSSL's i2d_ECDSA_SIG).
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
            var value = Array(bytes.drop(while: { $0 == 0 }))
            if value.isEmpty || value[0] & 0x80 != 0 { value.insert(0, at: 0) }
            return [0x02, UInt8(value.count)] + value
        }
        let body = integer(raw[0..<32]) + integer(raw[32..<64])
        let der = [0x30, UInt8(body.count)] + body
        let files = ["input": Data(jws.signingInput), "sig.der": Data(der), "pub.pem": Data(key.publicKey.pemString.utf8)]
        for (name, data) in files { try data.write(to: directory.appendingPathComponent(name)) }
        let p = { (name: String) in directory.appendingPathComponent(name).path }
        let ok = try Subprocess.run("/usr/bin/openssl", ["dgst", "-sha256", "-verify", p("pub.pem"), "-signature", p("sig.der"), p("input")])
        #expect(ok.status == 0 && ok.stdout.contains("Verified OK"), "\(ok.stdout) \(ok.stderr)")
        try Data(jws.signingInput + [0x20]).write(to: directory.appendingPathComponent("input"))
        let bad = try Subprocess.run("/usr/bin/openssl", ["dgst", "-sha256", "-verify", p("pub.pem"), "-signature", p("sig.der"), p("input")])
        #expect(bad.status != 0)
    }
}
