// SecureFile: reading key and certificate files.
//
// SECURITY: a private key file must be readable by its owner only. The mode is checked with
// fstat on the descriptor we read from, not with stat on the path, so the file that is
// checked is the file that is read (no check-then-open race). The gateway refuses rather
// than warns: a key readable by others must be presumed disclosed. Files are capped in size
// so a wrong path (a log, a device) cannot exhaust memory.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum SecureFile {
    static let maxBytes = 1 << 20

    /// Reads a private key file, refusing one that group or others may read.
    /// Set once at start by an operator's tool (gatewayctl, often run through sudo): root may
    /// read the gateway user's keys to check them. The daemon never sets it: a key another
    /// user owns is that user's to replace.
    nonisolated(unsafe) static var rootReadsAnyOwner = false

    /// `user`: who reads it (the effective user; tests read as another).
    static func readPrivateKey(_ path: String, as user: uid_t = geteuid(), rootReadsAnyOwner: Bool = SecureFile.rootReadsAnyOwner) throws(CryptoError) -> [UInt8] {
        try read(path, requireOwnerOnly: true, user: user, rootReadsAnyOwner: rootReadsAnyOwner)
    }

    /// Reads a public file (certificate, chain, CRL, public key).
    static func readPublic(_ path: String) throws(CryptoError) -> [UInt8] {
        try read(path, requireOwnerOnly: false, user: geteuid(), rootReadsAnyOwner: false)
    }

    private static func read(_ path: String, requireOwnerOnly: Bool, user: uid_t, rootReadsAnyOwner: Bool) throws(CryptoError) -> [UInt8] {
        // O_NONBLOCK: a FIFO put at the path must not hang the start or a reload (it is
        // refused below as not a regular file); reads of a regular file do not block anyway.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw CryptoError(.unreadableFile, "cannot open \(path): \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw CryptoError(.unreadableFile, "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CryptoError(.unreadableFile, "\(path) is not a regular file")
        }
        if requireOwnerOnly && info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw CryptoError(
                .insecureKeyFile,
                "private key file \(path) is readable or writable by group or others (mode 0\(mode)); "
                    + "refusing to use it. Fix: chmod 600 \(path)")
        }
        // Owned by another user, the key is that user's to read or replace (an operator's
        // tool run as root may read the gateway user's key: rootReadsAnyOwner).
        if requireOwnerOnly && info.st_uid != user && info.st_uid != 0 && !(user == 0 && rootReadsAnyOwner) {
            throw CryptoError(
                .insecureKeyFile,
                "private key file \(path) belongs to user \(info.st_uid), not to the gateway's user (\(user)) or root; "
                    + "refusing to use it. Fix: chown \(user) \(path)")
        }
        guard Int(info.st_size) <= maxBytes else {
            throw CryptoError(.unreadableFile, "\(path) is larger than \(maxBytes) bytes; not a key or certificate file")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CryptoError(.unreadableFile, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            filled += n
        }
        return Array(bytes[..<filled])
    }
}
