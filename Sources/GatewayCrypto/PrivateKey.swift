// PrivateKey: an owned OpenSSL EVP_PKEY holding a private key.
//
// SECURITY: files are read through SecureFile, which refuses key files readable by group or
// others. Encrypted PEM keys are refused rather than prompting for a pass phrase on the
// terminal (OpenSSL's default when no callback is given): a daemon has no terminal.
import COpenSSL

/// A private signing key: EC P-256/P-384, RSA >= 2048 or Ed25519.
///
/// Immutable once made; OpenSSL 3 allows concurrent signing with one EVP_PKEY, hence
/// `@unchecked Sendable`.
public final class PrivateKey: @unchecked Sendable {
    let pointer: OpaquePointer
    /// What kind of key this is.
    public let type: KeyType

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

    /// The same key in an OpenSSL object of its own. Signing contexts take a reference on
    /// their key; threads signing with one shared key all count on the same word.
    public func duplicate() throws(CryptoError) -> PrivateKey {
        OpenSSLError.clearQueue()
        guard let copy = EVP_PKEY_dup(pointer) else {
            throw CryptoError(.openSSL, "cannot duplicate the private key", underlying: .capture("EVP_PKEY_dup"))
        }
        return try PrivateKey(owning: copy)
    }

    /// A PEM private key (PKCS#8 `PRIVATE KEY`, or the traditional `EC PRIVATE KEY` /
    /// `RSA PRIVATE KEY`). Encrypted keys are refused.
    public convenience init(pem: [UInt8]) throws(CryptoError) {
        OpenSSLError.clearQueue()
        let bio: MemoryBIO
        do { bio = try MemoryBIO(pem) } catch { throw CryptoError(.openSSL, "cannot buffer PEM", underlying: error) }
        // The callback supplies no pass phrase, so an encrypted key fails instead of prompting.
        guard let key = PEM_read_bio_PrivateKey(bio.pointer, nil, { _, _, _, _ in 0 }, nil) else {
            let error = OpenSSLError.capture("PEM_read_bio_PrivateKey")
            if String(decoding: pem.prefix(4096), as: UTF8.self).contains("ENCRYPTED") {
                throw CryptoError(.malformed, "encrypted private keys are not supported; keep the key unencrypted with mode 600", underlying: error)
            }
            throw CryptoError(.malformed, "not a PEM private key", underlying: error)
        }
        try self.init(owning: key)
    }

    /// A DER private key (PKCS#8, or a traditional EC/RSA structure).
    public convenience init(der: [UInt8]) throws(CryptoError) {
        OpenSSLError.clearQueue()
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_AutoPrivateKey(nil, &cursor, buffer.count)
        }
        guard let key else {
            throw CryptoError(.malformed, "not a DER private key", underlying: .capture("d2i_AutoPrivateKey"))
        }
        try self.init(owning: key)
    }

    /// Reads a PEM or DER private key file, refusing one readable by group or others.
    ///
    /// - Throws: `CryptoError` of kind `.insecureKeyFile` naming the file and the fix
    ///   (`chmod 600 FILE`), or `.unreadableFile` / `.malformed` / `.unsupportedKey` / `.weakKey`.
    public static func load(path: String) throws(CryptoError) -> PrivateKey {
        let bytes = try SecureFile.readPrivateKey(path)
        do {
            return PEMDocument.looksLikePEM(bytes) ? try PrivateKey(pem: bytes) : try PrivateKey(der: bytes)
        } catch {
            throw CryptoError(error.kind, "\(path): \(error.message)", underlying: error.underlying)
        }
    }

    /// A fresh key, for tests, benchmarks and development tooling. Production keys come from
    /// files made by the PKI (see certs/README.md).
    public static func generate(_ type: KeyType) throws(CryptoError) -> PrivateKey {
        OpenSSLError.clearQueue()
        let algorithm: String
        switch type {
        case .ec: algorithm = "EC"
        case .rsa: algorithm = "RSA"
        case .ed25519: algorithm = "ED25519"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw CryptoError(.openSSL, "cannot generate \(type) key", underlying: .capture("EVP_PKEY_CTX_new_from_name"))
        }
        defer { EVP_PKEY_CTX_free(context) }
        var ok = EVP_PKEY_keygen_init(context) == 1
        switch type {
        case .ec(let curve): ok = ok && EVP_PKEY_CTX_set_group_name(context, curve.openSSLGroupName) == 1
        case .rsa(let bits): ok = ok && EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1
        case .ed25519: break
        }
        var key: OpaquePointer?
        guard ok, EVP_PKEY_generate(context, &key) == 1, let key else {
            throw CryptoError(.openSSL, "cannot generate \(type) key", underlying: .capture("EVP_PKEY_generate"))
        }
        return try PrivateKey(owning: key)
    }

    /// The matching public key (shares the OpenSSL object; only its public half is used).
    public var publicKey: PublicKey {
        EVP_PKEY_up_ref(pointer)
        // The type was accepted when this key was made, so this cannot fail.
        return try! PublicKey(owning: pointer)
    }

    /// Unencrypted PKCS#8 PEM. Whoever writes it to disk must create the file with mode 600.
    public var pemRepresentation: String {
        let bio = try! MemoryBIO()
        precondition(PEM_write_bio_PrivateKey(bio.pointer, pointer, nil, nil, 0, nil, nil) == 1, "PEM_write_bio_PrivateKey failed")
        return bio.string
    }
}

extension PrivateKey {
    /// For operators' tools (gatewayctl), called once at start before any key is read: run
    /// as root, they may read keys owned by the gateway's user to check them. The daemon
    /// does not call it: it refuses a key owned by another user than itself or root.
    public static func allowRootToReadKeysOfOtherUsers() {
        SecureFile.rootReadsAnyOwner = true
    }
}

extension PrivateKey {
    /// A signature over `message` in JWS form (r||s for ECDSA), e.g. for signing an audit head.
    public func signature(for message: [UInt8], algorithm: JWSAlgorithm) throws(JWSError) -> [UInt8] {
        guard algorithm.accepts(type) else {
            throw JWSError(.algorithmKeyMismatch, "\(algorithm.rawValue) cannot be used with a \(type) key")
        }
        do {
            return try message.withUnsafeBytes { buffer throws(OpenSSLError) in
                try SignatureEngine.sign(buffer, key: self, algorithm: algorithm)
            }
        } catch {
            throw JWSError(.signingFailed, "\(algorithm.rawValue) signing failed: \(error)")
        }
    }
}
