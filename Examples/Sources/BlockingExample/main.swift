// Blocking calls: for scripts and threads you own (never on a library callback queue).
import AzureEventHubs
import AzureServiceBus
import ExampleSupport

let namespaces = try Namespaces.start()
defer { namespaces.stop() }

// Event Hubs: a pooled producer; the first call opens and proves a connection, later calls only send.
let producer = try ManagedEventHubProducer(connectionString: namespaces.eventHubs)
try producer.send(EventData(body: "hello"), options: SendEventOptions(partitionKey: "customer-42"))
var batch = try producer.createBatch()
for i in 0..<10 where !batch.tryAdd(EventData(body: "event \(i)")) { break }
try producer.send(batch)
print("partitions:", try producer.partitionIDs(), "health:", producer.health)
try producer.close()

// Service Bus: send, receive in peek-lock mode, complete.
let sender = try ManagedServiceBusSender(connectionString: namespaces.serviceBus)
try sender.send(ServiceBusMessage(body: "job 1", messageID: "job-1"))
let receiver = try ServiceBusReceiver(connectionString: namespaces.serviceBus)
for message in try receiver.receive(maxMessages: 1, timeout: .seconds(5)) {
    print("received", message.message.bodyAsString ?? "", "sequence", message.sequenceNumber)
    try receiver.complete(message)
}
try receiver.close()
try sender.close()
