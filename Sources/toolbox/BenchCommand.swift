import ArgumentParser

/// `toolbox bench ...`: load generators that print one JSON summary line.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the library against a live endpoint",
        subcommands: [BenchPool.self, BenchHTTPCommand.self, BenchEventHubsCommand.self, BenchServiceBusCommand.self,
                      BenchTCPPingPongCommand.self, BenchBlobCommand.self, BenchCosmosCommand.self])
}
