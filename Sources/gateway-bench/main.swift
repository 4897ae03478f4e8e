// gateway-bench: every benchmark of the project, one "name: value unit" line per figure.
// Run through `make bench` (release build). `--quick` scales sizes down.
import Foundation

installInterruptHandling()
let arguments = CommandLine.arguments.dropFirst()
let quick = arguments.contains("--quick")
let selected = arguments.filter { !$0.hasPrefix("--") }
let suites: [(String, (Bool) throws -> Void)] = [
    ("signing", { try runSigningBench(quick: $0) }),
    ("schema", { try runSchemaBench(quick: $0) }),
    ("store", { try runStoreBench(quick: $0) }),
    ("pickup", { try runPickupBench(quick: $0) }),
    ("e2e", { try runEndToEndBench(quick: $0) }),
    ("console", { try runConsoleBench(quick: $0) }),
    // Only when named: the e2e suite measures the same after its burst.
    ("latency", { try runLatencyBench(quick: $0) }),
]
let onlyWhenNamed: Set<String> = ["latency"]
if selected.isEmpty || selected.contains("pickup") || selected.contains("e2e") || selected.contains("latency") { BenchFixture.waitForFileSystem() }
for (name, run) in suites where selected.isEmpty ? !onlyWhenNamed.contains(name) : selected.contains(name) {
    do {
        try run(quick)
    } catch {
        FileHandle.standardError.write("bench \(name) failed: \(error)\n".data(using: .utf8)!)
        BenchFixture.removeAll()
        exit(1)
    }
}
BenchFixture.removeAll()
