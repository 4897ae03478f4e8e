// PublicKey: an owned OpenSSL EVP_PKEY holding (at least) a public key.
import COpenSSL
import GatewayJSON

/// A public key: EC P-256/P-384, RSA >= 2048 or Ed25519.
///
/// Immutable once made. OpenSSL 3 allows concurrent use of one EVP_PKEY for verification
/// from several threads, hence `@unchecked Sendable`.
public final class PublicKey: @unchecked Sendable {
    let pointer: OpaquePointer
    /// What kind of key this is.
    public let type: KeyType

    /// Takes ownership of `pointer` (freed in deinit, also when the type is refused).
    init(owning pointer: OpaquePointer) throws(CryptoError) {
        do {
            type = try KeyType.of(pointer)
        } catch {
            EVP_PKEY_free(pointer)
            throw error
        }
        self.pointer = pointer
    }

    deinit { EVP_PKEY_free(pointer) }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    public convenience init(pem: [UInt8]) throws(CryptoError) {
        OpenSSLError.clearQueue()
        let bio: MemoryBIO
        do { bio = try MemoryBIO(pem) } catch { throw CryptoError(.openSSL, "cannot buffer PEM", underlying: error) }
        guard let key = PEM_read_bio_PUBKEY(bio.pointer, nil, nil, nil) else {
            throw CryptoError(.malformed, "not a PEM public key", underlying: .capture("PEM_read_bio_PUBKEY"))
        }
        try self.init(owning: key)
    }

    /// A DER SubjectPublicKeyInfo.
    public convenience init(der: [UInt8]) throws(CryptoError) {
        OpenSSLError.clearQueue()
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let key else {
            throw CryptoError(.malformed, "not a DER SubjectPublicKeyInfo", underlying: .capture("d2i_PUBKEY"))
        }
        try self.init(owning: key)
    }

    /// Reads a PEM or DER public key file.
    public static func load(path: String) throws(CryptoError) -> PublicKey {
        let bytes = try SecureFile.readPublic(path)
        do {
            return PEMDocument.looksLikePEM(bytes) ? try PublicKey(pem: bytes) : try PublicKey(der: bytes)
        } catch {
            throw CryptoError(error.kind, "\(path): \(error.message)", underlying: error.underlying)
        }
    }

    /// The DER SubjectPublicKeyInfo.
    public var derBytes: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pointer, &out)
        precondition(length > 0, "i2d_PUBKEY failed on a loaded key")
        defer { gw_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// PEM `PUBLIC KEY` text.
    public var pemString: String {
        let bio = try! MemoryBIO()  // allocation failure of a memory BIO is not recoverable here
        precondition(PEM_write_bio_PUBKEY(bio.pointer, pointer) == 1, "PEM_write_bio_PUBKEY failed")
        return bio.string
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo, base64: the value HPKP and curl's
    /// `CURLOPT_PINNEDPUBLICKEY` use (see `curlPin`).
    public var spkiSHA256Base64: String { Base64URL.encodeStandard(SHA256.hash(derBytes)) }

    /// curl's pinned public key form: `sha256//BASE64`.
    public var curlPin: String { "sha256//" + spkiSHA256Base64 }

    /// True when both hold the same public key.
    public func matches(_ other: PublicKey) -> Bool { EVP_PKEY_eq(pointer, other.pointer) == 1 }
}

extension PublicKey {
    /// Whether `signature` (in JWS form: r||s for ECDSA) is valid for `message` under
    /// `algorithm`. False also when the algorithm does not suit this key.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8], algorithm: JWSAlgorithm) -> Bool {
        guard algorithm.accepts(type) else { return false }
        return message.withUnsafeBytes { SignatureEngine.verify($0, signature: signature, key: self, algorithm: algorithm) } == .valid
    }
}
