import Logging
import ToolboxAMQP
import ToolboxCore

/// The emulated namespace shared by every connection: entities and the key that signs tokens.
final class Broker: @unchecked Sendable {
    // @unchecked Sendable: the entity tables live in `entities` (locked only for lookups and inserts); each entity
    // guards its own contents; the rest is immutable.

    let configuration: EmulatorConfiguration
    let authority: TokenAuthority
    let logger: Logger
    private struct Entities {
        var hubs: [String: EventHub] = [:]
        /// Queues, and topic subscriptions under `<topic>/subscriptions/<name>` (lower-cased keys).
        var queues: [String: ServiceBusQueue] = [:]
        var topics: Set<String> = []
    }

    private let entities = LockedValue(Entities())
    private let nextConnectionID = LockedValue(0)

    init(configuration: EmulatorConfiguration) throws {
        self.configuration = configuration
        self.authority = TokenAuthority(keyName: configuration.keyName, key: configuration.key)
        self.logger = configuration.logger
        for hub in configuration.eventHubs {
            guard case .success = eventHub(hub.name, create: true, definition: hub) else {
                throw EmulatorError(.invalidConfiguration,
                                    "event hub '\(hub.name)' needs a plain name and 1...\(configuration.limits.maxPartitions) partitions")
            }
        }
        for topic in configuration.topics {
            for subscription in topic.subscriptions {
                guard case .success = serviceBusQueue("\(topic.name)/Subscriptions/\(subscription)", create: true) else {
                    throw EmulatorError(.invalidConfiguration, "topic '\(topic.name)' or subscription '\(subscription)' has an invalid name")
                }
            }
        }
        for queue in configuration.queues {
            guard case .success = serviceBusQueue(queue, create: true) else {
                throw EmulatorError(.invalidConfiguration, "queue '\(queue)' needs a plain name without '/' or '$'")
            }
        }
    }

    func makeConnectionID() -> Int { nextConnectionID.withLockedValue { $0 += 1; return $0 } }

    enum Kind { case eventHub, queue, topic }

    func kind(of name: String) -> Kind? {
        entities.withLockedValue { e in
            if e.hubs[name.lowercased()] != nil { return .eventHub }
            if e.topics.contains(name.lowercased()) { return .topic }
            if e.queues[name.lowercased()] != nil { return .queue }
            return nil
        }
    }

    /// The subscriptions of `topic`, each a queue.
    func subscriptions(of topic: String) -> [ServiceBusQueue] {
        let prefix = topic.lowercased() + "/subscriptions/"
        return entities.withLockedValue { e in e.queues.filter { $0.key.hasPrefix(prefix) }.map(\.value) }
    }

    /// `<topic>/Subscriptions/<name>` split, or nil for a plain queue name.
    private static func subscriptionParts(_ name: String) -> (topic: String, subscription: String)? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].lowercased() == "subscriptions" else { return nil }
        return (String(parts[0]), String(parts[2]))
    }

    private static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 260 && !name.contains("/") && !name.hasPrefix("$")
    }

    /// The hub called `name`; created on first use unless entities are strict.
    func eventHub(_ name: String, create: Bool = true, definition: EventHubDefinition? = nil) -> Result<EventHub, Refusal> {
        let limits = configuration.limits
        return entities.withLockedValue { e in
            if let hub = e.hubs[name.lowercased()] { return .success(hub) }
            if e.queues[name.lowercased()] != nil {
                return .failure(Refusal(condition: AMQPRemoteError.notFound,
                                                description: "'\(name)' is a Service Bus queue, not an event hub"))
            }
            guard create, definition != nil || !configuration.strictEntities else {
                return .failure(Refusal(condition: AMQPRemoteError.notFound,
                                                description: "event hub '\(name)' does not exist; start the emulator with --eventhub \(name)"))
            }
            guard e.hubs.count + e.queues.count < limits.maxEntities else {
                return .failure(Refusal(condition: AMQPRemoteError.resourceLimitExceeded,
                                                description: "the emulator holds its limit of \(limits.maxEntities) entities"))
            }
            let partitions = definition?.partitionCount ?? configuration.defaultPartitionCount
            guard Broker.validName(name), partitions >= 1, partitions <= limits.maxPartitions else {
                return .failure(Refusal(condition: AMQPRemoteError.invalidField, description: "invalid event hub '\(name)'"))
            }
            let hub = EventHub(name: name, partitionCount: partitions, consumerGroups: definition?.consumerGroups ?? [],
                               maxEvents: limits.maxEventsPerPartition, maxBytes: limits.maxBytesPerPartition)
            e.hubs[name.lowercased()] = hub
            logger.info("created event hub '\(name)' with \(partitions) partitions")
            return .success(hub)
        }
    }

    /// The queue called `name`; created on first use unless entities are strict.
    func serviceBusQueue(_ name: String, create: Bool = true) -> Result<ServiceBusQueue, Refusal> {
        let limits = configuration.limits
        return entities.withLockedValue { e in
            if let queue = e.queues[name.lowercased()] { return .success(queue) }
            let subscription = Broker.subscriptionParts(name)
            if let topic = subscription?.topic.lowercased(), e.hubs[topic] != nil || e.queues[topic] != nil {
                return .failure(Refusal(condition: AMQPRemoteError.notFound,
                                        description: "'\(subscription?.topic ?? "")' is not a topic"))
            }
            if subscription == nil, e.topics.contains(name.lowercased()) {
                return .failure(Refusal(condition: AMQPRemoteError.notFound,
                                        description: "'\(name)' is a topic; use \(name)/Subscriptions/<name>"))
            }
            if e.hubs[name.lowercased()] != nil {
                return .failure(Refusal(condition: AMQPRemoteError.notFound,
                                                description: "'\(name)' is an event hub, not a Service Bus queue"))
            }
            let configured = configuration.queues.contains { $0.lowercased() == name.lowercased() }
                || configuration.topics.contains { topic in
                    topic.subscriptions.contains { "\(topic.name)/Subscriptions/\($0)".lowercased() == name.lowercased() }
                }
            guard create, configured || !configuration.strictEntities else {
                return .failure(Refusal(condition: AMQPRemoteError.notFound,
                                                description: "queue '\(name)' does not exist; start the emulator with --queue \(name)"))
            }
            guard e.hubs.count + e.queues.count < limits.maxEntities else {
                return .failure(Refusal(condition: AMQPRemoteError.resourceLimitExceeded,
                                                description: "the emulator holds its limit of \(limits.maxEntities) entities"))
            }
            let valid = subscription.map { Broker.validName($0.topic) && Broker.validName($0.subscription) } ?? Broker.validName(name)
            guard valid else {
                return .failure(Refusal(condition: AMQPRemoteError.invalidField, description: "invalid queue name '\(name)'"))
            }
            if let topic = subscription?.topic { e.topics.insert(topic.lowercased()) }
            let queue = ServiceBusQueue(name: name, lockDuration: configuration.lockDuration.toolboxSeconds,
                                        maxDeliveryCount: configuration.maxDeliveryCount,
                                        maxMessages: limits.maxMessagesPerQueue, maxBytes: limits.maxBytesPerQueue)
            e.queues[name.lowercased()] = queue
            logger.info("created queue '\(name)'")
            return .success(queue)
        }
    }

    /// True when the server-busy fault fires for this message.
    func serverBusy() -> Bool {
        let rate = configuration.faults.serverBusyRate
        return rate > 0 && Double.random(in: 0..<1) < rate
    }

    static let serverBusyError = AMQPRemoteError(
        condition: "com.microsoft:server-busy",
        description: "the emulator is injecting server-busy faults; retry after a short delay")
}
