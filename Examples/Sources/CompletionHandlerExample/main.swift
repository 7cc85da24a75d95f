// Completion handlers: the core API. Each runs exactly once on the queue you pass.
import AzureEventHubs
import AzureServiceBus
import Dispatch
import ExampleSupport

let namespaces = try Namespaces.start()
let callbacks = DispatchQueue(label: "example.callbacks")
let done = DispatchGroup()

let producer = try ManagedEventHubProducer(connectionString: namespaces.eventHubs)
for i in 0..<100 {
    done.enter()
    producer.send(EventData(body: "event \(i)"), queue: callbacks) { result in
        if case .failure(let error) = result { print("send \(i) failed:", error) }
        done.leave()
    }
}
done.wait()
print("100 concurrent sends done:", producer.health)

let sender = try ServiceBusSender(connectionString: namespaces.serviceBus)
done.enter()
sender.send([ServiceBusMessage(body: "later")], delay: .zero, queue: callbacks) { result in
    print("scheduled, sequence numbers:", (try? result.get()) ?? [])
    done.leave()
}
done.wait()

let receiver = try ServiceBusReceiver(connectionString: namespaces.serviceBus)
done.enter()
receiver.receive(maxMessages: 1, timeout: .seconds(5), queue: callbacks) { result in
    guard case .success(let messages) = result, let message = messages.first else { return done.leave() }
    receiver.complete(message, queue: callbacks) { settled in
        print("completed \(message.message.bodyAsString ?? ""):", settled)
        done.leave()
    }
}
done.wait()
done.enter()
producer.close { done.leave() }
done.enter()
sender.close { done.leave() }
done.enter()
receiver.close { done.leave() }
done.wait()
namespaces.stop()
