// swift-tools-version:6.0
// Runnable examples of the Event Hubs, Service Bus and Cosmos DB clients, one per calling style. Each starts the in-process
// emulator unless EVENTHUBS_CONNECTION_STRING / SERVICEBUS_CONNECTION_STRING point at a real namespace.
//   swift run --package-path Examples BlockingExample
import PackageDescription

let package = Package(
    name: "AzureClientsToolboxExamples",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "AzureClientsToolbox", path: "..")],
    targets: [
        .target(name: "ExampleSupport", dependencies: [.product(name: "AzureEmulator", package: "AzureClientsToolbox")]),
        .executableTarget(name: "BlockingExample", dependencies: [
            "ExampleSupport",
            .product(name: "AzureEventHubs", package: "AzureClientsToolbox"), .product(name: "AzureServiceBus", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "CompletionHandlerExample", dependencies: [
            "ExampleSupport",
            .product(name: "AzureEventHubs", package: "AzureClientsToolbox"), .product(name: "AzureServiceBus", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "AsyncExample", dependencies: [
            "ExampleSupport",
            .product(name: "AzureEventHubs", package: "AzureClientsToolbox"), .product(name: "AzureServiceBus", package: "AzureClientsToolbox"),
            .product(name: "AzureClientsToolboxAsync", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "BlobBlockingExample", dependencies: [
            "ExampleSupport", .product(name: "AzureBlobStorage", package: "AzureClientsToolbox"),
            .product(name: "ToolboxCore", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "BlobCompletionHandlerExample", dependencies: [
            "ExampleSupport", .product(name: "AzureBlobStorage", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "BlobAsyncExample", dependencies: [
            "ExampleSupport", .product(name: "AzureBlobStorage", package: "AzureClientsToolbox"),
            .product(name: "AzureClientsToolboxAsync", package: "AzureClientsToolbox"),
        ]),
        // Event Grid (EVENTGRID_ENDPOINT / EVENTGRID_KEY, else the emulator's topics `orders` and `audit`).
        .executableTarget(name: "EventGridBlockingExample", dependencies: [
            "ExampleSupport", .product(name: "AzureEventGrid", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "EventGridCompletionHandlerExample", dependencies: [
            "ExampleSupport", .product(name: "AzureEventGrid", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "EventGridAsyncExample", dependencies: [
            "ExampleSupport", .product(name: "AzureEventGrid", package: "AzureClientsToolbox"),
            .product(name: "AzureClientsToolboxAsync", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "CosmosBlockingExample", dependencies: [
            "ExampleSupport", .product(name: "AzureCosmos", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "CosmosCompletionHandlerExample", dependencies: [
            "ExampleSupport", .product(name: "AzureCosmos", package: "AzureClientsToolbox"),
        ]),
        .executableTarget(name: "CosmosAsyncExample", dependencies: [
            "ExampleSupport", .product(name: "AzureCosmos", package: "AzureClientsToolbox"),
            .product(name: "AzureClientsToolboxAsync", package: "AzureClientsToolbox"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
