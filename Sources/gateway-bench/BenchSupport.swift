import Foundation

/// Prints one figure in the `name: value unit` form that `make bench` collects. A closed
/// pipe (`make bench | head`) is ignored: the run goes on and stops its processes itself.
func report(_ name: String, _ value: Double, _ unit: String) {
    let text = value >= 100 ? String(format: "%.0f", value) : String(format: "%.3g", value)
    let line = Array("\(name): \(text) \(unit)\n".utf8)
    _ = line.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
}

/// gatewayd and agency-mock processes started by this run: stopped if the run is
/// interrupted, so that none is left behind.
let childProcesses = BenchLocked<[Process]>([])

private let interruptSources = BenchLocked<[DispatchSourceSignal]>([])

/// SIGPIPE ignored (see `report`); SIGINT and SIGTERM stop the child processes, then exit.
func installInterruptHandling() {
    signal(SIGPIPE, SIG_IGN)
    for sig in [SIGINT, SIGTERM] {
        signal(sig, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
        source.setEventHandler {
            let children = childProcesses.withLock { $0 }
            for p in children where p.isRunning { p.terminate() }
            for p in children { p.waitUntilExit() }
            BenchFixture.removeAfterInterrupt()
            exit(128 + sig)
        }
        source.resume()
        interruptSources.withLock { $0.append(source) }
    }
}

/// Seconds taken by `body`, on the monotonic clock.
func measure(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
