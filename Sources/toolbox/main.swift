import ArgumentParser

struct Toolbox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toolbox", abstract: "AzureClientsToolbox CLI",
        subcommands: [
            AuthCommand.self,
            AMQPCommand.self,
            BlobCommand.self,
            Bench.self,
            Demo.self,
            EmulatorCommand.self,
            EventGridCommand.self,
            EventHubsCommand.self,
            ServiceBusCommand.self,
            CosmosCommand.self,
        ])
}
Toolbox.main()
