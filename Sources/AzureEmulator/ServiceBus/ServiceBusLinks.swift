import Dispatch
import ToolboxAMQP
import ToolboxCore

extension BrokerConnection {
    /// A sender link to a queue: single messages (format 0) or batches (0x80013700), each accepted with its own
    /// sequence number.
    func serviceBusSender(queue name: String) -> AMQPLinkDecision {
        let queue: ServiceBusQueue
        switch broker.serviceBusQueue(name) {
        case .success(let found): queue = found
        case .failure(let error): return .refuse(error.remote)
        }
        return serviceBusEntitySender { [queue] }
    }

    /// A sender link to a topic: every message is copied to each subscription (dropped when there is none, as
    /// on Azure).
    func serviceBusTopicSender(topic: String) -> AMQPLinkDecision {
        let broker = self.broker
        return serviceBusEntitySender { broker.subscriptions(of: topic) }
    }

    /// A sender link whose messages, single (format 0) or batched (0x80013700), are each enqueued on every queue
    /// `targets()` names; server-busy, a full queue and an unreadable batch reject the delivery.
    private func serviceBusEntitySender(
        _ targets: @escaping @Sendable () -> [ServiceBusQueue]
    ) -> AMQPLinkDecision {
        entitySendReceiver(reading: "message batch") { delivery in
            let (messages, _) = try EventHubBatch.unpack(delivery.message, format: delivery.messageFormat)
            for target in targets() {
                for message in messages {
                    if case .failure(let error) = target.enqueue(message) { return error.remote }
                }
            }
            return nil
        }
    }

    /// A receiver link on a queue or its dead-letter queue: peek-lock (16-byte lock-token tags, unsettled) or
    /// receive-and-delete when the client asks for pre-settled transfers.
    func serviceBusReceiver(queue name: String, deadLetter: Bool, attach: AMQPAttach) -> AMQPLinkDecision {
        if broker.kind(of: name) == .topic {
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notFound,
                                           description: "'\(name)' is a topic; receive from \(name)/Subscriptions/<name>"))
        }
        if broker.kind(of: name) == .eventHub {
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notFound,
                                           description: "'\(name)' is an event hub; consume from \(name)/ConsumerGroups/$Default/Partitions/<id>"))
        }
        let parent: ServiceBusQueue
        switch broker.serviceBusQueue(name) {
        case .success(let found): parent = found
        case .failure(let error): return .refuse(error.remote)
        }
        guard let queue = deadLetter ? parent.deadLetter : parent else {
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notFound, description: "no dead-letter queue for '\(name)'"))
        }
        let peekLock = attach.senderSettleMode != .settled
        return .send(ready: { sender in
            queue.subscribe(sender)
            // The settlement is applied in `resolve`; the completions do nothing and run inline (no block per
            // message on a handler queue, which cost a thread wake-up each).
            sender.pull(queue: LibraryQueues.ignoredCompletions) {
                guard let delivery = queue.takeNext(peekLock: peekLock) else { return nil }
                guard let token = delivery.token else {
                    return AMQPOutgoingDelivery(payload: delivery.payload, settled: true) { _ in }
                }
                // The settlement is applied as it arrives, on the connection's queue; one whose lock has lapsed is
                // answered `rejected` with message-lock-lost, as on Azure. A failed link keeps the lock until it
                // expires, as on Azure.
                return AMQPOutgoingDelivery(payload: delivery.payload, deliveryTag: LockToken.deliveryTag(token),
                                            settled: false, resolve: { outcome in
                                                queue.settle(token: token, outcome: outcome) == .lockLost
                                                    ? ServiceBusQueue.lockLostOutcome : outcome
                                            }) { _ in }
            }
        })
    }
}
