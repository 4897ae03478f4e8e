import Foundation

/// Prints one figure in the `name: value unit` form that `make bench` collects.
func report(_ name: String, _ value: Double, _ unit: String) {
    let text = value >= 100 ? String(format: "%.0f", value) : String(format: "%.3g", value)
    FileHandle.standardOutput.write(Data("\(name): \(text) \(unit)\n".utf8))
}

/// Seconds taken by `body`, on the monotonic clock.
func measure(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
