// Certificate: an owned OpenSSL X509, and what an operator needs to know about it.
import COpenSSL
import Foundation
import GatewayJSON

/// An X.509 certificate. Immutable once loaded (`@unchecked Sendable`: OpenSSL 3 X509
/// objects may be read from several threads; the cached extension flags are computed under
/// OpenSSL's own lock).
public final class Certificate: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) {
        self.pointer = pointer
        // Computes and caches the extension flags now, so later reads are pure.
        _ = X509_get_extension_flags(pointer)
    }

    deinit { X509_free(pointer) }

    /// The first certificate of a PEM document.
    public convenience init(pem: [UInt8]) throws(CryptoError) {
        let all = try Certificate.loadAll(pem: pem)
        self.init(owning: X509_dup(all[0].pointer))
    }

    /// A DER certificate; trailing bytes are refused.
    public convenience init(der: [UInt8]) throws(CryptoError) {
        OpenSSLError.clearQueue()
        var consumed = 0
        let cert: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            let result = d2i_X509(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return result
        }
        guard let cert else { throw CryptoError(.malformed, "not a DER certificate", underlying: .capture("d2i_X509")) }
        guard consumed == der.count else {
            X509_free(cert)
            throw CryptoError(.malformed, "DER certificate followed by \(der.count - consumed) stray bytes")
        }
        self.init(owning: cert)
    }

    /// Every certificate of a PEM bundle, in file order. At least one is required.
    public static func loadAll(pem: [UInt8]) throws(CryptoError) -> [Certificate] {
        OpenSSLError.clearQueue()
        let bio: MemoryBIO
        do { bio = try MemoryBIO(pem) } catch { throw CryptoError(.openSSL, "cannot buffer PEM", underlying: error) }
        var certificates: [Certificate] = []
        while let cert = PEM_read_bio_X509(bio.pointer, nil, nil, nil) {
            certificates.append(Certificate(owning: cert))
        }
        // The loop ends with a "no start line" error at the end of input: expected once we
        // have certificates, a real failure when we have none.
        let error = OpenSSLError.capture("PEM_read_bio_X509")
        guard !certificates.isEmpty else { throw CryptoError(.malformed, "no PEM certificate found", underlying: error) }
        return certificates
    }

    /// A certificate file: a PEM bundle (one or more) or a single DER certificate.
    public static func load(path: String) throws(CryptoError) -> [Certificate] {
        let bytes = try SecureFile.readPublic(path)
        do {
            return PEMDocument.looksLikePEM(bytes) ? try loadAll(pem: bytes) : [try Certificate(der: bytes)]
        } catch {
            throw CryptoError(error.kind, "\(path): \(error.message)", underlying: error.underlying)
        }
    }

    // MARK: encodings

    /// The DER encoding.
    public var derBytes: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(pointer, &out)
        precondition(length > 0, "i2d_X509 failed on a loaded certificate")
        defer { gw_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// PEM `CERTIFICATE` text.
    public var pemString: String {
        let bio = try! MemoryBIO()
        precondition(PEM_write_bio_X509(bio.pointer, pointer) == 1, "PEM_write_bio_X509 failed")
        return bio.string
    }

    // MARK: identity

    /// Subject distinguished name, RFC 2253 form (most specific first), e.g. "CN=PL-GW,O=...,C=PL".
    public var subject: String { Certificate.name(X509_get_subject_name(pointer)) }
    /// Issuer distinguished name, RFC 2253 form.
    public var issuer: String { Certificate.name(X509_get_issuer_name(pointer)) }

    /// Serial number, upper-case hexadecimal as `openssl x509 -serial` prints it.
    public var serialNumber: String {
        guard let bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(pointer), nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { gw_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    /// True for a CA certificate (basicConstraints CA:TRUE, or a v1 self-signed root).
    public var isCA: Bool { X509_check_ca(pointer) > 0 }

    /// True when subject and issuer are equal and the certificate verifies under its own key.
    public var isSelfSigned: Bool { X509_self_signed(pointer, 1) == 1 }

    // MARK: validity

    public var notBefore: Date { Certificate.date(X509_get0_notBefore(pointer)) }
    public var notAfter: Date { Certificate.date(X509_get0_notAfter(pointer)) }

    /// Whole days from `date` to notAfter, rounded down; negative once expired.
    public func daysUntilExpiry(at date: Date = Date()) -> Int {
        Int((notAfter.timeIntervalSince(date) / 86_400).rounded(.down))
    }

    // MARK: fingerprints

    /// SHA-256 of the DER certificate, lower-case hex.
    public var sha256Thumbprint: String { SHA256.hex(derBytes) }

    /// The JWS `x5t#S256` value: base64url SHA-256 of the DER certificate.
    public var x5tS256: String { Base64URL.encode(SHA256.hash(derBytes)) }

    /// DER SubjectPublicKeyInfo (whatever the key type, also ones the gateway cannot use).
    public var subjectPublicKeyInfoDER: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(pointer), &out)
        guard length > 0, let out else { return [] }
        defer { gw_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// SHA-256 of the SubjectPublicKeyInfo, base64 (public key pinning).
    public var spkiSHA256Base64: String { Base64URL.encodeStandard(SHA256.hash(subjectPublicKeyInfoDER)) }

    /// curl's `CURLOPT_PINNEDPUBLICKEY` form: `sha256//BASE64`.
    public var curlPin: String { "sha256//" + spkiSHA256Base64 }

    // MARK: key and usages

    /// The certificate's public key, if it is one the gateway supports.
    public func publicKey() throws(CryptoError) -> PublicKey {
        guard let key = X509_get_pubkey(pointer) else {
            throw CryptoError(.malformed, "certificate \(subject) has an unreadable public key", underlying: .capture("X509_get_pubkey"))
        }
        return try PublicKey(owning: key)
    }

    /// The keyUsage extension, or nil when the certificate has none (no restriction).
    public var keyUsage: KeyUsage? {
        guard X509_get_extension_flags(pointer) & UInt32(EXFLAG_KUSAGE) != 0 else { return nil }
        return KeyUsage(rawValue: X509_get_key_usage(pointer))
    }

    /// The extendedKeyUsage extension, or nil when the certificate has none.
    public var extendedKeyUsage: ExtendedKeyUsage? {
        guard X509_get_extension_flags(pointer) & UInt32(EXFLAG_XKUSAGE) != 0 else { return nil }
        return ExtendedKeyUsage(rawValue: X509_get_extended_key_usage(pointer))
    }

    // MARK: helpers

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name, let bio = try? MemoryBIO() else { return "" }
        _ = gw_X509_NAME_print_rfc2253(bio.pointer, name)
        return bio.string
    }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return Date(timeIntervalSince1970: 0) }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}

/// X.509 keyUsage bits (RFC 5280 §4.2.1.3), as OpenSSL's `KU_*` flags.
public struct KeyUsage: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let digitalSignature = KeyUsage(rawValue: UInt32(KU_DIGITAL_SIGNATURE))
    public static let nonRepudiation = KeyUsage(rawValue: UInt32(KU_NON_REPUDIATION))
    public static let keyEncipherment = KeyUsage(rawValue: UInt32(KU_KEY_ENCIPHERMENT))
    public static let dataEncipherment = KeyUsage(rawValue: UInt32(KU_DATA_ENCIPHERMENT))
    public static let keyAgreement = KeyUsage(rawValue: UInt32(KU_KEY_AGREEMENT))
    public static let keyCertSign = KeyUsage(rawValue: UInt32(KU_KEY_CERT_SIGN))
    public static let cRLSign = KeyUsage(rawValue: UInt32(KU_CRL_SIGN))

    private static let names: [(KeyUsage, String)] = [
        (.digitalSignature, "digitalSignature"), (.nonRepudiation, "nonRepudiation"),
        (.keyEncipherment, "keyEncipherment"), (.dataEncipherment, "dataEncipherment"),
        (.keyAgreement, "keyAgreement"), (.keyCertSign, "keyCertSign"), (.cRLSign, "cRLSign"),
    ]

    /// RFC 5280 names of the bits set.
    public var names: [String] { KeyUsage.names.filter { contains($0.0) }.map(\.1) }
    public var description: String { names.joined(separator: ", ") }
}

/// X.509 extendedKeyUsage purposes, as OpenSSL's `XKU_*` flags.
public struct ExtendedKeyUsage: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let serverAuth = ExtendedKeyUsage(rawValue: UInt32(XKU_SSL_SERVER))
    public static let clientAuth = ExtendedKeyUsage(rawValue: UInt32(XKU_SSL_CLIENT))
    public static let emailProtection = ExtendedKeyUsage(rawValue: UInt32(XKU_SMIME))
    public static let codeSigning = ExtendedKeyUsage(rawValue: UInt32(XKU_CODE_SIGN))
    public static let ocspSigning = ExtendedKeyUsage(rawValue: UInt32(XKU_OCSP_SIGN))
    public static let timeStamping = ExtendedKeyUsage(rawValue: UInt32(XKU_TIMESTAMP))
    public static let anyExtendedKeyUsage = ExtendedKeyUsage(rawValue: UInt32(XKU_ANYEKU))

    private static let names: [(ExtendedKeyUsage, String)] = [
        (.serverAuth, "serverAuth"), (.clientAuth, "clientAuth"), (.emailProtection, "emailProtection"),
        (.codeSigning, "codeSigning"), (.ocspSigning, "OCSPSigning"), (.timeStamping, "timeStamping"),
        (.anyExtendedKeyUsage, "anyExtendedKeyUsage"),
    ]

    public var names: [String] { ExtendedKeyUsage.names.filter { contains($0.0) }.map(\.1) }
    public var description: String { names.joined(separator: ", ") }
}
