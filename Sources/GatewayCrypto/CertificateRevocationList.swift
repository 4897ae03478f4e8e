// CertificateRevocationList: an owned OpenSSL X509_CRL.
import COpenSSL
import Foundation

/// An X.509 CRL, as published by a CA. Its signature and dates are checked when a
/// `TrustStore` uses it, not when it is loaded.
public final class CertificateRevocationList: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_CRL_free(pointer) }

    /// Every CRL of a PEM document (`X509 CRL` blocks). At least one is required.
    public static func loadAll(pem: [UInt8]) throws(CryptoError) -> [CertificateRevocationList] {
        OpenSSLError.clearQueue()
        let bio: MemoryBIO
        do { bio = try MemoryBIO(pem) } catch { throw CryptoError(.openSSL, "cannot buffer PEM", underlying: error) }
        var crls: [CertificateRevocationList] = []
        while let crl = PEM_read_bio_X509_CRL(bio.pointer, nil, nil, nil) {
            crls.append(CertificateRevocationList(owning: crl))
        }
        let error = OpenSSLError.capture("PEM_read_bio_X509_CRL")  // end of input, or a real failure
        guard !crls.isEmpty else { throw CryptoError(.malformed, "no PEM CRL found", underlying: error) }
        return crls
    }

    /// A DER CRL.
    public convenience init(der: [UInt8]) throws(CryptoError) {
        OpenSSLError.clearQueue()
        let crl: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_X509_CRL(nil, &cursor, buffer.count)
        }
        guard let crl else { throw CryptoError(.malformed, "not a DER CRL", underlying: .capture("d2i_X509_CRL")) }
        self.init(owning: crl)
    }

    /// A CRL file, PEM (one or more) or DER.
    public static func load(path: String) throws(CryptoError) -> [CertificateRevocationList] {
        let bytes = try SecureFile.readPublic(path)
        do {
            return PEMDocument.looksLikePEM(bytes) ? try loadAll(pem: bytes) : [try CertificateRevocationList(der: bytes)]
        } catch {
            throw CryptoError(error.kind, "\(path): \(error.message)", underlying: error.underlying)
        }
    }

    /// The issuing CA's name, RFC 2253 form.
    public var issuer: String {
        guard let name = X509_CRL_get_issuer(pointer), let bio = try? MemoryBIO() else { return "" }
        _ = gw_X509_NAME_print_rfc2253(bio.pointer, name)
        return bio.string
    }
}
