// gatewayctl config check: the daemon's own checks, without starting it.

import ArgumentParser
import Foundation
import GatewayDaemon
import GatewayModel

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Check the configuration.", subcommands: [ConfigCheck.self])
}

struct ConfigCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check the configuration as gatewayd would at start: keys, files, permissions, routes, certificates.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let config: GatewayConfig
        do {
            config = try GatewayConfiguration.load(path: global.configPath, checkFiles: true)
        } catch let error as ConfigError {
            if global.json {
                Console.json(["valid": false, "problems": .array(error.problems.map { .string("\(error.file)\($0.line.map { ":\($0)" } ?? ""): \($0.description)") })])
            } else {
                Console.out("\(global.configPath): INVALID")
                Console.out(error.description)
            }
            throw ExitCode(1)
        } catch {
            Console.error("\(error)")
            throw ExitCode(1)
        }
        do {
            // The daemon's start checks of the key material: signing identity, TLS client
            // identity (the key belongs to the certificate), endpoint CRL files.
            _ = try GatewayKeys.load(config)
            _ = try GatewayKeys.clientTLSIdentity(config)
            try GatewayKeys.checkEndpointCRLs(config)
        } catch {
            if global.json { Console.json(["valid": false, "problems": [.string("\(error)")]]) } else { Console.out("\(config.file): INVALID\n\(error)") }
            throw ExitCode(1)
        }
        // What gatewayd warns about at start: file systems that do not keep what they promise.
        let warnings = Gateway.fileSystemWarnings(config)
        if global.json {
            Console.json(["valid": true, "units": .array(config.units.map { .string($0) }), "endpoints": .array(config.endpoints.keys.sorted().map { .string($0) }),
                          "warnings": .array(warnings.map { .string($0) })])
        } else {
            Console.out("\(config.file): OK — gateway \(config.gatewayId), \(config.units.count) units, \(config.endpoints.count) endpoints, \(config.routes.count) routes")
            for warning in warnings { Console.out("warning: \(warning)") }
        }
    }
}
