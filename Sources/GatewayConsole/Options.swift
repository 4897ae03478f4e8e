// Options every gatewayctl command shares, and how it finds the daemon's configuration.

import ArgumentParser
import Foundation
import GatewayDaemon
import GatewayModel
import GatewayStore

public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The daemon's configuration file (default: $GATEWAY_CONFIG, then /etc/gateway/gateway.yml).")
    var config: String?

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    public init() {}

    /// GATEWAY_CONFIG when set and not empty.
    private var environmentConfig: String? { ProcessInfo.processInfo.environment["GATEWAY_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } }

    /// Whether the configuration was named (--config or GATEWAY_CONFIG), not the default file.
    var configNamed: Bool { config != nil || environmentConfig != nil }

    var configPath: String { config ?? environmentConfig ?? "/etc/gateway/gateway.yml" }

    /// The configuration, or a clear failure (exit 1) saying how to point at it.
    func loadConfig(checkFiles: Bool = false) throws -> GatewayConfig {
        do {
            return try GatewayConfiguration.load(path: configPath, checkFiles: checkFiles)
        } catch {
            Console.error("\(error)")
            if !configNamed {
                Console.error("hint: give the daemon's configuration with --config FILE or GATEWAY_CONFIG=FILE")
            }
            throw ExitCode(1)
        }
    }

    /// The daemon's queue (opened alongside a running daemon; no owner lock is taken),
    /// read-only unless `write` (the actions); never upgraded (that is gatewayd's).
    func openQueue(write: Bool = false) throws -> (GatewayConfig, QueueStore) {
        let config = try loadConfig()
        guard FileManager.default.fileExists(atPath: config.queue.path) else {
            Console.error("no queue at \(config.queue.path) (from \(config.file)); has gatewayd run with this configuration?")
            throw ExitCode(1)
        }
        // Run as root (sudo), work on the queue as the user it belongs to: files SQLite makes
        // beside it (-wal, -shm) must stay the gateway's, or a gatewayd running as that user
        // could not open its own queue after this command.
        if geteuid() == 0 {
            // Who the operator is, decided while still root (SUDO_USER is believed only then).
            _ = Operator.name
            var st = stat()
            if stat(config.queue.path, &st) == 0, st.st_uid != 0 {
                // The owner's own groups (initgroups) where it has an account, else the file's.
                let account = getpwuid(st.st_uid)
                let group = account?.pointee.pw_gid ?? st.st_gid
                let groups = account.map { initgroups($0.pointee.pw_name, group) } ?? setgroups(1, [st.st_gid])
                guard groups == 0, setgid(group) == 0, setuid(st.st_uid) == 0 else {
                    Console.error("cannot act as the queue's owner (uid \(st.st_uid)): \(String(cString: strerror(errno)))")
                    throw ExitCode(1)
                }
            }
        }
        do {
            return (config, try QueueStore(path: config.queue.path, readOnly: !write, migrate: false))
        } catch {
            Console.error("\(error)")
            throw ExitCode(1)
        }
    }
}

/// The operator's name for the audit log: the person behind sudo, else the OS user.
/// SUDO_USER is believed only when running as root (sudo sets it; anyone else could).
enum Operator {
    /// Decided once, at first use (before gatewayctl gives up root for the queue's owner).
    static let name: String = {
        if geteuid() == 0, getuid() == 0, let sudo = ProcessInfo.processInfo.environment["SUDO_USER"], !sudo.isEmpty { return sudo }
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid-\(geteuid())"
    }()
}
