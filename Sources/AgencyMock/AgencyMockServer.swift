// AgencyMockServer: starts every listener (one HTTPS port per agency, one plain-HTTP control
// port), announces them once all are bound, and runs until SIGTERM or SIGINT.
//
// The READY lines (and the ports file) are the start-up handshake with whoever launched
// the mock: they are written only when every listener is bound, so a reader that has seen
// them can connect to any of them at once.
import Foundation
import GatewayJSON
import Hummingbird
import Logging
import ServiceLifecycle

public enum AgencyMockServer {
    /// Exit statuses: 0 clean stop, 1 run-time failure (e.g. a port in use), 2 bad configuration.
    public static func run(configPath: String, portsFile: String?) async -> Int32 {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["AGENCY_MOCK_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
            return handler
        }
        let logger = Logger(label: "agency-mock")

        let setup: MockSetup
        do {
            setup = try MockSetup(MockConfiguration.load(path: configPath))
        } catch {
            FileHandle.standardError.write(Data("agency-mock: config \(configPath): \(error)\n".utf8))
            return 2
        }

        let announcer = Announcer(agencies: setup.agencies.map(\.id), portsFile: portsFile)
        var services: [any Service] = setup.agencies.map { agency in
            AgencyListener.application(agency, state: setup.state, logger: logger) { port in
                announcer.bound(agency.id, port: port)
            }
        }
        services.append(ControlListener.application(state: setup.state, agencies: setup.agencies.map(\.id),
                                                    port: setup.controlPort, logger: logger) { port in
            announcer.bound(nil, port: port)
        })

        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger)
        // A stalled request (the stall fault) must not hold the exit for its whole stall.
        configuration.maximumGracefulShutdownDuration = .seconds(2)
        configuration.maximumCancellationDuration = .seconds(2)
        do {
            try await ServiceGroup(configuration: configuration).run()
        } catch {
            FileHandle.standardError.write(Data("agency-mock: \(error)\n".utf8))
            return 1
        }
        return 0
    }
}

/// Collects the bound ports; when the last listener is up, writes the ports file and the
/// READY lines (agencies in configuration order, then control).
final class Announcer: @unchecked Sendable {
    private let lock = NSLock()
    private let agencies: [String]
    private let portsFile: String?
    private var ports: [String: Int] = [:]
    private var controlPort: Int?
    private var announced = false

    init(agencies: [String], portsFile: String?) {
        self.agencies = agencies
        self.portsFile = portsFile
    }

    /// `agency` nil is the control listener.
    func bound(_ agency: String?, port: Int) {
        lock.lock()
        defer { lock.unlock() }
        if let agency { ports[agency] = port } else { controlPort = port }
        guard !announced, ports.count == agencies.count, let controlPort else { return }
        announced = true

        if let portsFile {
            let document: JSON = [
                "control": .number(Double(controlPort)),
                "agencies": .object(ports.mapValues { .number(Double($0)) }),
            ]
            do {
                // Temp file + rename: a reader never sees half a file.
                let temporary = portsFile + ".tmp"
                try Data(try document.canonicalBytes()).write(to: URL(fileURLWithPath: temporary))
                guard rename(temporary, portsFile) == 0 else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: portsFile])
                }
            } catch {
                FileHandle.standardError.write(Data("agency-mock: cannot write ports file \(portsFile): \(error)\n".utf8))
            }
        }
        var lines = ""
        for agency in agencies {
            lines += "READY agency=\(agency) url=https://127.0.0.1:\(ports[agency]!)/messages\n"
        }
        lines += "READY control=http://127.0.0.1:\(controlPort)\n"
        // FileHandle writes go straight to the descriptor: nothing is left in a buffer.
        FileHandle.standardOutput.write(Data(lines.utf8))
    }
}
