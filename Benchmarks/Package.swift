// swift-tools-version:6.1
// Benchmarks live apart from the library so its build stays small. This package holds the URLSession
// baseline that `toolbox bench http` is compared with (docs/performance.md), and ordo-one/benchmark suites of the
// library's hot paths: `swift package benchmark` (release build of the whole library; a few minutes on 2 cores).
import PackageDescription

let package = Package(
    name: "AzureClientsToolboxBenchmarks",
    dependencies: [
        .package(name: "AzureClientsToolbox", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(name: "URLSessionHTTPBench", swiftSettings: [.unsafeFlags(["-O"])]),
        .executableTarget(
            name: "ToolboxBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ConnectionPooling", package: "AzureClientsToolbox"),
                .product(name: "ToolboxAMQP", package: "AzureClientsToolbox"),
                .product(name: "AzureEventHubs", package: "AzureClientsToolbox"),
                .product(name: "AzureServiceBus", package: "AzureClientsToolbox"),
                .product(name: "AzureEmulator", package: "AzureClientsToolbox"),
                .product(name: "ToolboxCore", package: "AzureClientsToolbox"),
            ],
            path: "Benchmarks/ToolboxBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
