// gatewayctl submit FILE --unit U: the correct drop into the spool, for units and scripts.
// The file is checked as I-JSON, written under a dot-prefixed temporary name in the unit's
// outbox, flushed, then renamed to NAME.json: the daemon never sees a half-written file.

import ArgumentParser
import Foundation
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
        let outbox = "\(config.spool.directory)/\(unit)/outbox"
        let temp = "\(outbox)/.\(target).\(getpid()).tmp"
        let final = "\(outbox)/\(target)"
        guard !FileManager.default.fileExists(atPath: final) else {
            Console.error("\(final) already exists and is waiting for pickup; choose another --name")
            throw ExitCode(1)
        }
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            Console.error("cannot write into \(outbox): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let ok = data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n <= 0 { return false }
                off += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temp, final) == 0 else {
            unlink(temp)
            Console.error("cannot submit into \(outbox): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        if global.json {
            Console.json(["submitted": .string(final), "unit": .string(unit)])
        } else {
            Console.out("submitted \(final); the outcome will appear in \(config.spool.directory)/\(unit)/reports/ (or rejected/)")
        }
    }
}
