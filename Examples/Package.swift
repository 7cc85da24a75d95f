// swift-tools-version:6.0
// Runnable examples of the Event Hubs and Service Bus clients, one per calling style. Each starts the in-process
// emulator unless EVENTHUBS_CONNECTION_STRING / SERVICEBUS_CONNECTION_STRING point at a real namespace.
//   swift run --package-path Examples BlockingExample
import PackageDescription

let package = Package(
    name: "AzureClientsToolboxExamples",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "ExampleSupport", dependencies: [.product(name: "AzureEmulator", package: "main")]),
        .executableTarget(name: "BlockingExample", dependencies: [
            "ExampleSupport",
            .product(name: "AzureEventHubs", package: "main"), .product(name: "AzureServiceBus", package: "main"),
        ]),
        .executableTarget(name: "CompletionHandlerExample", dependencies: [
            "ExampleSupport",
            .product(name: "AzureEventHubs", package: "main"), .product(name: "AzureServiceBus", package: "main"),
        ]),
        .executableTarget(name: "AsyncExample", dependencies: [
            "ExampleSupport",
            .product(name: "AzureEventHubs", package: "main"), .product(name: "AzureServiceBus", package: "main"),
            .product(name: "AzureClientsToolboxAsync", package: "main"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
