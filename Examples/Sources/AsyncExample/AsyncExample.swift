// async/await through AzureClientsToolboxAsync: Task cancellation cancels the underlying operation.
import AzureClientsToolboxAsync
import AzureEventHubs
import AzureServiceBus
import ExampleSupport

@main
struct AsyncExample {
    static func main() async throws {
        let namespaces = try Namespaces.start()
        defer { namespaces.stop() }

        let producer = try ManagedEventHubProducer(connectionString: namespaces.eventHubs)
        try await producer.warmUp(connections: 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<50 {
                group.addTask { try await producer.send(EventData(body: "event \(i)")) }
            }
            try await group.waitForAll()
        }
        print("50 async sends done:", producer.health)
        await producer.close()

        let sender = try ManagedServiceBusSender(connectionString: namespaces.serviceBus)
        try await sender.send(ServiceBusMessage(body: "async job"))
        let receiver = try ServiceBusReceiver(connectionString: namespaces.serviceBus)
        for message in try await receiver.receive(maxMessages: 1, timeout: .seconds(5)) {
            print("received", message.message.bodyAsString ?? "")
            try await receiver.complete(message)
        }
        await receiver.close()
        await sender.close()
    }
}
