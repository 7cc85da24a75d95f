// swift-tools-version:6.0
// AzureClientsToolbox: pooled, shared connections to Azure services on a Dispatch-only core.
// Layering (each target imports only those above it in this list) is described in docs/architecture.md.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "AzureClientsToolbox",
    platforms: [.macOS(.v15)],
    products: [
        // What an application imports: every client module, re-exported (DESIGN §3).
        .library(name: "AzureClientsToolbox", targets: ["AzureClientsToolbox"]),
        .library(name: "ToolboxCore", targets: ["ToolboxCore"]),
        .library(name: "ConnectionPooling", targets: ["ConnectionPooling"]),
        .library(name: "ToolboxTransport", targets: ["ToolboxTransport"]),
        .library(name: "ToolboxAMQP", targets: ["ToolboxAMQP"]),
        .library(name: "AzureAuth", targets: ["AzureAuth"]),
        .library(name: "AzureEmulator", targets: ["AzureEmulator"]),
        // Server-side pieces, apart so a client-only application does not link them.
        .library(name: "ToolboxTransportServer", targets: ["ToolboxTransportServer"]),
        .library(name: "ToolboxAMQPBroker", targets: ["ToolboxAMQPBroker"]),
        .library(name: "AzureAuthVerification", targets: ["AzureAuthVerification"]),
        .library(name: "AzureEventHubs", targets: ["AzureEventHubs"]),
        .library(name: "AzureServiceBus", targets: ["AzureServiceBus"]),
        .library(name: "AzureBlobStorage", targets: ["AzureBlobStorage"]),
        .library(name: "AzureCosmos", targets: ["AzureCosmos"]),
        .library(name: "AzureEventGrid", targets: ["AzureEventGrid"]),
        .library(name: "AzureClientsToolboxAsync", targets: ["AzureClientsToolboxAsync"]),
        .library(name: "AzureClientsToolboxTesting", targets: ["AzureClientsToolboxTesting"]),
        .executable(name: "toolbox", targets: ["toolbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        // API docs only (`swift package generate-documentation`); a command plugin, linked into nothing.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CToolboxOpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .target(
            name: "ToolboxCore",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .target(
            name: "ConnectionPooling",
            dependencies: [
                "ToolboxCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ToolboxTransport",
            dependencies: [
                "ToolboxCore", "ConnectionPooling", "CToolboxOpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ToolboxAMQP",
            dependencies: [
                "ToolboxCore", "ToolboxTransport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureAuth",
            dependencies: [
                "ToolboxCore", "ToolboxTransport", "CToolboxOpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The server side: TCP listener and HTTP server; the AMQP listener (broker role); signature verifiers.
        .target(
            name: "ToolboxTransportServer",
            dependencies: ["ToolboxCore", "ToolboxTransport"],
            swiftSettings: strict
        ),
        .target(
            name: "ToolboxAMQPBroker",
            dependencies: [
                "ToolboxCore", "ToolboxTransport", "ToolboxTransportServer", "ToolboxAMQP",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "AzureAuthVerification", dependencies: ["ToolboxCore", "AzureAuth"], swiftSettings: strict),
        .target(
            name: "AzureEmulator",
            dependencies: [
                "ToolboxCore", "ToolboxTransport", "ToolboxAMQP", "AzureAuth", "ToolboxTransportServer",
                "AzureAuthVerification",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureMessagingCore",
            dependencies: [
                "ToolboxCore", "ConnectionPooling", "ToolboxTransport", "ToolboxAMQP", "AzureAuth",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureEventHubs",
            dependencies: [
                "AzureMessagingCore", "ToolboxCore", "ConnectionPooling", "ToolboxTransport", "ToolboxAMQP", "AzureAuth",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureServiceBus",
            dependencies: [
                "AzureMessagingCore", "ToolboxCore", "ConnectionPooling", "ToolboxTransport", "ToolboxAMQP", "AzureAuth",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureBlobStorage",
            dependencies: [
                "ToolboxCore", "ConnectionPooling", "ToolboxTransport", "AzureAuth", "CToolboxOpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureCosmos",
            dependencies: [
                "ToolboxCore", "ConnectionPooling", "ToolboxTransport", "AzureAuth",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureEventGrid",
            dependencies: [
                "ToolboxCore", "ConnectionPooling", "ToolboxTransport", "AzureAuth",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureClientsToolbox",
            dependencies: [
                "ToolboxCore", "AzureAuth", "AzureEventHubs", "AzureServiceBus", "AzureBlobStorage", "AzureCosmos",
                "AzureEventGrid",
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureClientsToolboxAsync",
            dependencies: [
                "AzureMessagingCore", "AzureEventHubs", "AzureServiceBus", "AzureBlobStorage", "AzureCosmos",
                "AzureEventGrid", "ToolboxCore",
            ],
            swiftSettings: strict
        ),
        .target(
            name: "AzureClientsToolboxTesting",
            dependencies: ["AzureEmulator", "AzureAuth", "ToolboxCore", .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "toolbox",
            dependencies: [
                "ToolboxCore", "ConnectionPooling", "ToolboxTransport", "ToolboxAMQP", "AzureAuth", "AzureEmulator",
                "AzureEventHubs", "AzureServiceBus", "AzureBlobStorage", "AzureCosmos", "AzureEventGrid",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Shared by the test targets' black-box CLI tests: runs the built `toolbox` and reads its output.
        .target(name: "ToolboxCLITestSupport", path: "Tests/ToolboxCLITestSupport", swiftSettings: strict),
        // Shared by the messaging clients' fault-scenario tests: a TCP proxy that injects network faults.
        .target(name: "MessagingFaultSupport", dependencies: ["ToolboxAMQP", "ToolboxCore", "AzureAuth", "AzureMessagingCore"],
                path: "Tests/MessagingFaultSupport",
                swiftSettings: strict),
        .testTarget(name: "ToolboxCoreTests", dependencies: ["ToolboxCore"], swiftSettings: strict),
        .testTarget(
            name: "ConnectionPoolingTests",
            dependencies: [
                "ConnectionPooling", "ToolboxCore", "AzureClientsToolboxTesting", "ToolboxCLITestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ToolboxTransportTests",
            dependencies: ["ToolboxTransport", "ToolboxTransportServer", "ToolboxCore", "ToolboxCLITestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ToolboxAMQPTests",
            dependencies: [
                "ToolboxAMQP", "ToolboxAMQPBroker", "ToolboxCore", "ToolboxTransport", "ToolboxTransportServer",
                "ToolboxCLITestSupport",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureEmulatorTests",
            dependencies: [
                "AzureEmulator", "ToolboxAMQP", "AzureAuth", "ToolboxCore", "ToolboxTransport", "ToolboxCLITestSupport",
                "AzureClientsToolboxTesting", "ToolboxTransportServer",
            ],
            swiftSettings: strict
        ),
        // AzureMessagingCore's own tests (per-try timer, retries, receive hand-off), on a ManualClock.
        .testTarget(
            name: "AzureMessagingCoreTests",
            dependencies: [
                "AzureMessagingCore", "ConnectionPooling", "ToolboxCore", "AzureClientsToolboxTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureEventHubsTests",
            dependencies: [
                "AzureEventHubs", "AzureMessagingCore", "AzureEmulator", "ToolboxAMQP", "AzureAuth", "ToolboxCore",
                "AzureClientsToolboxTesting", "ToolboxCLITestSupport", "MessagingFaultSupport", "ToolboxTransportServer",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureServiceBusTests",
            dependencies: [
                "AzureServiceBus", "AzureMessagingCore", "AzureEmulator", "ToolboxAMQP", "AzureAuth", "ToolboxCore",
                "AzureClientsToolboxTesting", "ToolboxCLITestSupport", "MessagingFaultSupport", "ToolboxTransportServer",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureCosmosTests",
            dependencies: [
                "AzureCosmos", "AzureClientsToolboxAsync", "AzureClientsToolbox", "AzureEmulator", "AzureAuth", "ToolboxCore", "ToolboxTransport",
                "AzureClientsToolboxTesting", "ToolboxCLITestSupport", "ToolboxTransportServer", "AzureAuthVerification",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureClientsToolboxAsyncTests",
            dependencies: [
                "AzureClientsToolbox", "AzureClientsToolboxAsync", "AzureClientsToolboxTesting", "AzureEventHubs", "AzureServiceBus", "AzureAuth",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureEventGridTests",
            dependencies: [
                "AzureEventGrid", "AzureEmulator", "AzureAuth", "ToolboxCore", "ToolboxTransport",
                "AzureClientsToolboxTesting", "AzureClientsToolboxAsync", "ToolboxCLITestSupport", "ToolboxTransportServer",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureBlobStorageTests",
            dependencies: [
                "AzureBlobStorage", "AzureEmulator", "AzureAuth", "ToolboxCore", "ToolboxTransport",
                "ToolboxTransportServer", "AzureClientsToolboxTesting", "AzureClientsToolboxAsync",
                "ToolboxCLITestSupport",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AzureAuthTests",
            dependencies: [
                "AzureAuth", "AzureAuthVerification", "ToolboxCore", "ToolboxTransport", "ToolboxTransportServer",
                "ToolboxCLITestSupport",
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
