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
    func sign(_ input: UnsafeRawBufferPointer) throws(OpenSSLError) -> [UInt8] {
        OpenSSLError.clearQueue()
        let context = try checkPointer(EVP_MD_CTX_new(), "EVP_MD_CTX_new")
        defer { EVP_MD_CTX_free(context) }
        try check(EVP_MD_CTX_copy_ex(context, template), "EVP_MD_CTX_copy_ex")
        return try SignatureEngine.finishSigning(context, input, algorithm: algorithm)
    }
}
