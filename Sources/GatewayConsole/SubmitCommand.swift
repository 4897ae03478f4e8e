// gatewayctl submit FILE --unit U: the correct drop into the spool, for units and scripts.
// The file is checked as I-JSON, written under a dot-prefixed temporary name in the unit's
// outbox, flushed, then renamed to NAME.json without replacing a file waiting there, and
// the outbox flushed: the daemon never sees a half-written file, and a submission that
// succeeded survives a power cut.

import ArgumentParser
import Foundation
import GatewayDaemon
import GatewayJSON

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit", abstract: "Drop a message into a unit's outbox atomically (temporary name, fsync, rename).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "The unit whose outbox receives it, e.g. PL-KGP.") var unit: String
    @Option(help: "The name in the outbox (default: the file's own name).") var name: String?
    @Argument(help: "The message file.") var file: String

    func run() throws {
        let config = try global.loadConfig()
        guard config.units.contains(unit) else {
            Console.error("\(unit) is not a unit of this gateway (units: \(config.units.joined(separator: ", ")))")
            throw ExitCode(1)
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            Console.error("cannot read \(file)")
            throw ExitCode(1)
        }
        do {
            _ = try JSON.parse(data)
        } catch {
            Console.error("\(file) is not valid I-JSON: \(error); nothing submitted (check it with gatewayctl validate \(file))")
            throw ExitCode(1)
        }
        var target = name ?? URL(fileURLWithPath: file).lastPathComponent
        if !target.hasSuffix(".json") { target += ".json" }
        guard !target.hasPrefix("."), !target.contains("/") else {
            Console.error("--name must be a plain file name not starting with a dot")
            throw ExitCode.validationFailure
        }
        let outboxPath = "\(config.spool.directory)/\(unit)/outbox"
        let final = "\(outboxPath)/\(target)"
        let outbox: DirectoryHandle
        do {
            outbox = try DirectoryHandle(path: outboxPath)
        } catch {
            Console.error("cannot open the outbox: \(error)")
            throw ExitCode(1)
        }
        guard faccessat(outbox.fd, target, F_OK, AT_SYMLINK_NOFOLLOW) != 0 else {
            Console.error("\(final) already exists and is waiting for pickup; choose another --name")
            throw ExitCode(1)
        }
        // Relative to the outbox held open (a folder swapped for a link is not followed), a
        // short temporary name (the final one may have all 255 bytes), written and flushed...
        let temp = ".submit-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = openat(outbox.fd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            Console.error("cannot write into \(outboxPath): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let ok = data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                off += n
            }
            return fsync(fd) == 0
        }
        let writeError = errno
        close(fd)
        guard ok else {
            unlinkat(outbox.fd, temp, 0)
            Console.error("cannot write into \(outboxPath): \(String(cString: strerror(writeError)))")
            throw ExitCode(1)
        }
        // ...then named without replacing anything (a file of that name may have come
        // meanwhile: it is the unit's, waiting), and the name itself made durable.
        let named: String?
        do {
            named = try outbox.moveAside(temp, to: outbox, as: target)
        } catch {
            unlinkat(outbox.fd, temp, 0)
            Console.error("cannot submit into \(outboxPath): \(error)")
            throw ExitCode(1)
        }
        guard named != nil else {
            unlinkat(outbox.fd, temp, 0)
            Console.error("\(final) already exists and is waiting for pickup; choose another --name")
            throw ExitCode(1)
        }
        guard fsync(outbox.fd) == 0 else {
            Console.error("submitted \(final), but the outbox could not be flushed (\(String(cString: strerror(errno)))); it may not survive a power cut")
            throw ExitCode(1)
        }
        if global.json {
            Console.json(["submitted": .string(final), "unit": .string(unit)])
        } else {
            Console.out("submitted \(final); the outcome will appear in \(config.spool.directory)/\(unit)/reports/ (or rejected/)")
        }
    }
}
