// The daemon's entry point (gatewayd's main is one line): options, configuration,
// logging, services, signals.
//
// DIAGNOSTICS
//   Exit 0 after a clean stop; 64 for bad options; 78 (EX_CONFIG) when the configuration
//   or the keys are wrong (the problems are printed, the daemon does not start half
//   configured); 75 (EX_TEMPFAIL) when the queue is in use by another gatewayd; 1 otherwise.

import Foundation
import GatewayModel
import GatewayStore
import Logging

public enum GatewayMain {
    static let usage = """
        usage: gatewayd --config FILE [--check]
          --config FILE   the configuration (default: $GATEWAY_CONFIG)
          --check         check the configuration and keys, then exit
        Runs in the foreground. SIGTERM/SIGINT: stop cleanly. SIGHUP: reload routes and endpoints.
        """

    public static func run(arguments: [String]) -> Int32 {
        // libcurl's OpenSSL backend would write every delivery's TLS secrets to this file:
        // never from the daemon (said in the log once it is set up).
        let keyLog = ProcessInfo.processInfo.environment["SSLKEYLOGFILE"]
        unsetenv("SSLKEYLOGFILE")
        // A reload asked for while starting would otherwise end the process (SIGHUP's
        // default). One that comes after the file was read is remembered and done once the
        // start is over (the operator's change would be missed otherwise); reloads have a
        // queue of their own, so that a SIGTERM is not queued behind one.
        signal(SIGHUP, SIG_IGN)
        let reloads = DispatchQueue(label: "reloads")
        let started = Locked<(gateway: Gateway?, wanted: Bool)>((nil, false))
        let hangups = DispatchSource.makeSignalSource(signal: SIGHUP, queue: reloads)
        hangups.setEventHandler {
            guard let gateway = started.withLock({ s -> Gateway? in if s.gateway == nil { s.wanted = true }; return s.gateway }) else { return }
            Logger(label: "gatewayd").notice("SIGHUP: reloading the configuration")
            gateway.reload()
        }
        hangups.resume()
        defer { hangups.cancel() }
        var configPath = ProcessInfo.processInfo.environment["GATEWAY_CONFIG"]
        var checkOnly = false
        var i = 0
        while i < arguments.count {
            switch arguments[i] {
            case "--config":
                guard i + 1 < arguments.count else { return fail(usage, 64) }
                configPath = arguments[i + 1]
                i += 1
            case "--check": checkOnly = true
            case "--help", "-h":
                print(usage)
                return 0
            default:
                return fail("gatewayd: unknown option \(arguments[i])\n\(usage)", 64)
            }
            i += 1
        }
        guard let configPath else { return fail("gatewayd: no configuration: give --config FILE or set GATEWAY_CONFIG\n\(usage)", 64) }
        // The schemas are loaded once, for the configuration's check and for the pickup.
        let schemas = try? SchemaServices.validator()   // nil: DefaultServices.make below says why
        let config: GatewayConfig
        do {
            config = try GatewayConfiguration.load(path: configPath, validator: schemas)
        } catch {
            return fail("gatewayd: refusing to start: the configuration has problems:\n\(error)", 78)
        }
        let level = Logger.Level(rawValue: config.logLevel) ?? .info
        LoggingSystem.bootstrap { label in LogfmtHandler(label: label, level: level) }
        let logger = Logger(label: "gatewayd")
        if keyLog != nil { logger.warning("SSLKEYLOGFILE is set in gatewayd's environment: ignored (gatewayd never writes TLS secrets)") }
        let services: GatewayServices
        do {
            services = try DefaultServices.make(config, validator: schemas)
        } catch {
            return fail("gatewayd: refusing to start: \(error)", 78)
        }
        if checkOnly {
            print("\(config.file): OK")
            return 0
        }
        let gateway: Gateway
        do {
            gateway = try Gateway(config: config, logger: logger, services: services) { try DefaultServices.make($0, validator: $1, requireUsableSigning: false) }
            try gateway.start()
        } catch let error as QueueStoreError where error.kind == .locked {
            return fail("gatewayd: \(error)", 75)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            return fail("gatewayd: cannot start: \(error)", 1)
        }
        // A reload has a queue of its own, so that a SIGTERM is not queued behind one.
        let signals = DispatchQueue(label: "signals")
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: signals)
            source.setEventHandler {
                logger.notice("\(sig == SIGTERM ? "SIGTERM" : "SIGINT"): stopping")
                gateway.requestStop()
            }
            source.resume()
            sources.append(source)
        }
        if started.withLock({ s -> Bool in s.gateway = gateway; return s.wanted }) {
            reloads.async {
                logger.notice("SIGHUP while starting: reloading the configuration now")
                gateway.reload()
            }
        }
        gateway.runUntilStopped()
        sources.forEach { $0.cancel() }
        return 0
    }

    static func fail(_ message: String, _ code: Int32) -> Int32 {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return code
    }
}
