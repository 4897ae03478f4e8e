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

    /// A fresh temporary directory, removed by the caller (or left for inspection on failure).
    public static func temporaryDirectory(_ label: String = "gw") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
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
