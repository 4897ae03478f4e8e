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

/// The whole machine's CPU time from /proc/stat, to say where a window's time went
/// (gatewayd, agency-mock, the kernel's I/O threads, or nobody: idle).
struct MachineCPU {
    var user = 0.0, system = 0.0, idle = 0.0, iowait = 0.0, irq = 0.0, steal = 0.0

    static func now() -> MachineCPU? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let f = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard f.count >= 8 else { return nil }
        // user nice system idle iowait irq softirq steal
        return MachineCPU(user: f[0] + f[1], system: f[2], idle: f[3], iowait: f[4], irq: f[5] + f[6], steal: f[7])
    }

    /// Prints the window's shares as NAME_machine_{user,sys,idle,steal}_pct (iowait counts as
    /// idle; steal is time the hypervisor gave to others).
    static func reportShares(_ name: String, from start: MachineCPU?, to end: MachineCPU?) {
        guard let start, let end else { return }
        let user = end.user - start.user, system = end.system + end.irq - start.system - start.irq
        let idle = end.idle + end.iowait - start.idle - start.iowait
        let steal = end.steal - start.steal
        let total = user + system + idle + steal
        guard total > 0 else { return }
        report("\(name)_machine_user_pct", user / total * 100, "%")
        report("\(name)_machine_sys_pct", system / total * 100, "%")
        report("\(name)_machine_idle_pct", idle / total * 100, "%")
        report("\(name)_machine_steal_pct", steal / total * 100, "%")
    }
}
