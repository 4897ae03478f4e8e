// SigningContext: an EVP_MD_CTX initialised once for a key and algorithm, copied per signature.
//
// EVP_DigestSignInit looks up the digest and signature implementations in the provider
// tables on every call; at tens of thousands of signatures a second that lookup is a
// measurable share of the cost. Copying an initialised context skips it. The template is
// only read (EVP_MD_CTX_copy_ex takes it const), so one context serves many threads.
import COpenSSL

final class SigningContext: @unchecked Sendable {
    private let template: OpaquePointer
    let algorithm: JWSAlgorithm

    init(key: PrivateKey, algorithm: JWSAlgorithm) throws(OpenSSLError) {
        OpenSSLError.clearQueue()
        template = try checkPointer(EVP_MD_CTX_new(), "EVP_MD_CTX_new")
        self.algorithm = algorithm
        do { try SignatureEngine.initialiseSigning(template, key: key, algorithm: algorithm) } catch {
            EVP_MD_CTX_free(template)
            throw error
        }
    }

    deinit { EVP_MD_CTX_free(template) }

    /// The JWS-form signature over `input`.
    private init(template: OpaquePointer, algorithm: JWSAlgorithm) {
        self.template = template
        self.algorithm = algorithm
    }

    /// A context that has already absorbed `prefix`: signing `rest` with it signs
    /// prefix + rest without hashing the prefix again. The JWS signing input starts with
    /// the protected header (about 3.9 KB with the x5c chain), the same for every message
    /// signed in one second. Nil for EdDSA, which signs in one shot.
    func absorbing(_ prefix: UnsafeRawBufferPointer) -> SigningContext? {
        guard algorithm != .edDSA && algorithm != .ed25519 else { return nil }
        OpenSSLError.clearQueue()
        guard let copy = EVP_MD_CTX_new() else { return nil }
        guard EVP_MD_CTX_copy_ex(copy, template) == 1, EVP_DigestSignUpdate(copy, prefix.baseAddress, prefix.count) == 1 else {
            EVP_MD_CTX_free(copy)
            OpenSSLError.clearQueue()
            return nil
        }
        return SigningContext(template: copy, algorithm: algorithm)
    }

    /// Signs what the template absorbed followed by `rest` (see `absorbing`).
    func signContinuing(_ rest: UnsafeRawBufferPointer) throws(OpenSSLError) -> [UInt8] {
        OpenSSLError.clearQueue()
        let context = try checkPointer(EVP_MD_CTX_new(), "EVP_MD_CTX_new")
        defer { EVP_MD_CTX_free(context) }
        try check(EVP_MD_CTX_copy_ex(context, template), "EVP_MD_CTX_copy_ex")
        // This copy is used once: the final step need not keep it usable (no copy inside).
        EVP_MD_CTX_set_flags(context, EVP_MD_CTX_FLAG_FINALISE)
        try check(EVP_DigestSignUpdate(context, rest.baseAddress, rest.count), "EVP_DigestSignUpdate")
        return try SignatureEngine.finishStreamedSigning(context, algorithm: algorithm)
    }

    func sign(_ input: UnsafeRawBufferPointer) throws(OpenSSLError) -> [UInt8] {
        OpenSSLError.clearQueue()
        let context = try checkPointer(EVP_MD_CTX_new(), "EVP_MD_CTX_new")
        defer { EVP_MD_CTX_free(context) }
        try check(EVP_MD_CTX_copy_ex(context, template), "EVP_MD_CTX_copy_ex")
        return try SignatureEngine.finishSigning(context, input, algorithm: algorithm)
    }
}
