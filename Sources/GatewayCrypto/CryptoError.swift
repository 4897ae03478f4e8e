/// A key or certificate could not be loaded or used. `message` is a sentence an operator
/// can act on; it names the file when there is one.
public struct CryptoError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A private key file readable by group or others (fix: `chmod 600`).
        case insecureKeyFile
        /// Missing, unreadable, not a regular file, or too large.
        case unreadableFile
        /// Not a key/certificate/CRL in a form we read (PEM or DER), or an inconsistent JWK.
        case malformed
        /// A key type or curve the gateway does not use (e.g. P-521, DSA, X25519).
        case unsupportedKey
        /// An RSA key shorter than 2048 bits.
        case weakKey
        /// OpenSSL failed; `underlying` has its reasons.
        case openSSL
    }

    public let kind: Kind
    public let message: String
    public let underlying: OpenSSLError?

    init(_ kind: Kind, _ message: String, underlying: OpenSSLError? = nil) {
        self.kind = kind
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying, !underlying.entries.isEmpty { return "\(message) (\(underlying))" }
        return message
    }
}
