import Foundation

/// Where the tests find the project and the shared conformance vectors.
public enum TestPaths {
    /// The package root (the folder holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// `../shared/vectors` beside the checkout (CI lays it there too), or $GATEWAY_VECTORS.
    public static let vectors: URL = {
        if let env = ProcessInfo.processInfo.environment["GATEWAY_VECTORS"] { return URL(fileURLWithPath: env) }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/vectors")
    }()

    public static func vector(_ relative: String) -> URL { vectors.appendingPathComponent(relative) }

    /// A fresh temporary directory. Every one is removed when the test process exits
    /// (daemons' spools and queues take hundreds of megabytes a run); with
    /// GATEWAY_TEST_KEEP=1 they stay for inspection, and their list is printed.
    public static func temporaryDirectory(_ label: String = "gw") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        TemporaryDirectories.register(url)
        return url
    }
}

/// The temporary directories this test process made, removed at its exit.
enum TemporaryDirectories {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: [URL] = []
    private static let installed: Void = { atexit { TemporaryDirectories.removeAll() } }()

    static func register(_ url: URL) {
        _ = installed
        lock.withLock { made.append(url) }
    }

    private static func removeAll() {
        let urls = lock.withLock { made }
        if ProcessInfo.processInfo.environment["GATEWAY_TEST_KEEP"] != nil {
            print("GATEWAY_TEST_KEEP: \(urls.count) temporary directories kept:")
            for url in urls { print("  \(url.path)") }
            return
        }
        for url in urls { try? FileManager.default.removeItem(at: url) }
    }
}

extension TestPaths {
    /// Where `swift build` put the executables of this build (beside the test bundle).
    public static let products: URL = {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        // On Linux the runner is <products>/gatewayPackageTests.xctest.
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("gatewayd").path) {
            dir = packageRoot.appendingPathComponent(".build/debug")
        }
        return dir
    }()

    public static func product(_ name: String) -> URL { products.appendingPathComponent(name) }
}
