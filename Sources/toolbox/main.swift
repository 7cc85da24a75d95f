import ArgumentParser
import Foundation

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
// A command that ran to its end but could not print a line of its output has failed.
if JSONOutput.unprintedLines.load() > 0 { exit(JSONOutput.outputFailureStatus) }
