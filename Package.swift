// swift-tools-version: 6.0
//
// The gateway: one package, library targets split by concern, dependencies flowing one way:
//
//   GatewayJSON  (no C)                 JSON value, strict I-JSON parser, JCS, JSON Pointer
//   GatewaySchema -> GatewayJSON         JSON Schema 2020-12 validator
//   GatewayCrypto -> COpenSSL, JSON      OpenSSL: digests, keys, X.509, JWS
//   GatewayModel  -> JSON, Schema        envelope, participants, configuration
//   CGatewaySys   (C)                  Linux calls Swift cannot make (renameat2, O_TMPFILE, thread names)
//   GatewayStore  -> Model, Crypto, GRDB the durable queue and the audit log
//   GatewayTransport -> CCurl, CGatewaySys  libcurl multi engine (mutual TLS HTTPS)
//   GatewayDaemon -> everything above    spool pickup, pipeline, scheduler, delivery
//   GatewayConsole -> Daemon's parts     gatewayctl commands
//   AgencyMock    -> JSON, Crypto, Hummingbird  the mock agency endpoint (agency-mock)
//
// Only GatewayCrypto imports OpenSSL, only GatewayStore imports SQLite (through GRDB),
// only GatewayTransport imports libcurl. AgencyMock (a test/demo server) gets its TLS from
// Hummingbird's NIOSSL, whose BoringSSL copy has prefixed symbols and cannot clash with OpenSSL.
import PackageDescription

let package = Package(
    name: "gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "gatewayd", targets: ["gatewayd"]),
        .executable(name: "gatewayctl", targets: ["gatewayctl"]),
        .executable(name: "agency-mock", targets: ["agency-mock"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // MARK: core, no C
        .target(name: "GatewayJSON"),
        .target(name: "GatewaySchema", dependencies: ["GatewayJSON"]),

        // MARK: OpenSSL
        .target(
            name: "COpenSSL",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        .target(name: "GatewayCrypto", dependencies: ["COpenSSL", "GatewayJSON"]),

        // MARK: domain model and configuration
        .target(
            name: "GatewayModel",
            dependencies: [
                "GatewayJSON", "GatewaySchema", "GatewayCrypto",
                .product(name: "Yams", package: "Yams"),
            ]
        ),

        // MARK: the queue
        .target(
            name: "GatewayStore",
            dependencies: [
                "GatewayJSON", "GatewayModel", "GatewayCrypto", "CGatewaySys",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The C API, for the per-message INSERTs of the enqueue path (FastInsert.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),

        // MARK: libcurl
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "GatewayTransport", dependencies: ["CCurl", "CGatewaySys"]),

        // MARK: the daemon and the console
        .target(name: "CGatewaySys"),
        .target(
            name: "GatewayDaemon",
            dependencies: [
                "GatewayJSON", "GatewaySchema", "GatewayCrypto", "GatewayModel",
                "GatewayStore", "GatewayTransport", "CGatewaySys",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "GatewayConsole",
            dependencies: [
                "GatewayJSON", "GatewaySchema", "GatewayCrypto", "GatewayModel",
                "GatewayStore", "GatewayDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: the mock agency endpoint (the only targets that pull Hummingbird/NIOSSL)
        .target(
            name: "AgencyMock",
            dependencies: [
                "GatewayJSON", "GatewaySchema", "GatewayCrypto", "GatewayModel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
            ]
        ),

        // MARK: executables: thin mains
        .executableTarget(name: "gatewayd", dependencies: ["GatewayDaemon"]),
        .executableTarget(name: "gatewayctl", dependencies: ["GatewayConsole", "GatewayCrypto"]),
        .executableTarget(name: "agency-mock", dependencies: ["AgencyMock"]),
        .executableTarget(
            name: "gateway-bench",
            dependencies: ["GatewayJSON", "GatewaySchema", "GatewayCrypto", "GatewayModel", "GatewayStore", "GatewayDaemon"]
        ),

        // MARK: tests
        .executableTarget(name: "queue-torture", dependencies: ["GatewayStore", "GatewayModel"], path: "Sources/queue-torture"),
        .target(name: "GatewayTestSupport", dependencies: ["GatewayJSON", "GatewayCrypto"], path: "Tests/GatewayTestSupport"),
        .testTarget(name: "GatewayJSONTests", dependencies: ["GatewayTestSupport", "GatewayJSON"]),
        .testTarget(name: "GatewaySchemaTests", dependencies: ["GatewayTestSupport", "GatewaySchema", "GatewayJSON"]),
        .testTarget(name: "GatewayCryptoTests", dependencies: ["GatewayTestSupport", "GatewayCrypto", "GatewayJSON"]),
        .testTarget(name: "GatewayModelTests", dependencies: ["GatewayTestSupport", "GatewayModel", "GatewayJSON"]),
        .testTarget(name: "GatewayStoreTests", dependencies: ["GatewayTestSupport", "queue-torture", "GatewayStore", "GatewayModel", "GatewayCrypto", "GatewayJSON",
                                                        .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "GatewayTransportTests", dependencies: ["GatewayTestSupport", "GatewayTransport", "GatewayCrypto"], exclude: ["Resources"]),
        .testTarget(name: "GatewayDaemonTests", dependencies: ["GatewayTestSupport", "GatewayDaemon", "GatewayModel", "GatewayStore", "GatewayCrypto", "GatewayJSON", "GatewayTransport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "GatewayConsoleTests", dependencies: ["GatewayTestSupport", "GatewayConsole", "GatewayDaemon", "GatewayJSON", "GatewayStore", "GatewayModel", "GatewayCrypto"]),
        .testTarget(name: "AgencyMockTests", dependencies: ["GatewayTestSupport", "AgencyMock", "GatewayCrypto", "GatewayJSON", "GatewaySchema"]),
    ]
)
