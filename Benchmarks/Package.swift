// swift-tools-version:6.0
// Benchmarks live apart from the library so its build stays small. This package holds the URLSession
// baseline that `toolbox bench http` is compared with (docs/performance.md).
import PackageDescription

let package = Package(
    name: "AzureClientsToolboxBenchmarks",
    targets: [
        .executableTarget(name: "URLSessionHTTPBench", swiftSettings: [.unsafeFlags(["-O"])]),
    ],
    swiftLanguageModes: [.v6]
)
