import AzureMessagingCore
import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore

/// One authenticated connection to a queue with its sender link and `<queue>/$management` link, attached
/// on first use and shared by every operation on the connection.
package typealias ServiceBusConnection = EntityConnection<ServiceBusEntity>

extension EntityConnection where Service == ServiceBusEntity {
    var queueName: String { entityPath }

    /// The sender link to the queue or topic.
    func sender(deadline: Deadline, completion: @escaping @Sendable (Result<AMQPSender, ServiceBusError>) -> Void) {
        sender(path: entityPath, deadline: deadline, completion: completion)
    }

    /// Sends an encoded message (format 0) or batch (0x80013700) and completes when the service settled it. The
    /// transfer carries the try's deadline and is cancelled with it; nothing is sent once the try has ended.
    func send(payload: [UInt8], messageFormat: UInt32, scope: TryScope,
              completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) {
        let queue = queueName
        sender(deadline: scope.deadline) { [senders, messaging] result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let sender):
                guard !scope.isCancelled else { return completion(.failure(scope.cancellationError)) }
                scope.track(sender.send(encodedMessage: payload, messageFormat: messageFormat, discardAfter: scope.deadline,
                                        queue: messaging.queue) { outcome in
                    let context = "sending to \(queue)"
                    let result: Result<Void, ServiceBusError>
                    switch outcome {
                    case .success(.accepted), .success(nil): result = .success(())
                    case .success(.rejected(let remote)): result = .failure(ServiceBusError(rejected: remote, context: context))
                    case .success(let state):
                        result = .failure(ServiceBusError(.serviceError, "\(context): unexpected outcome \(String(describing: state))",
                                                          recovery: .retry))
                    case .failure(let error): result = .failure(ServiceBusError(error, context: context))
                    }
                    if case .failure(let error) = result, error.recovery == .rebuildLink || error.recovery == .rebuildConnection {
                        senders.remove(queue, sender)
                    }
                    completion(result)
                })
            }
        }
    }

    /// The max-message-size of the sender link (1 MiB when undeclared).
    func maxMessageSize(deadline: Deadline, completion: @escaping @Sendable (Result<Int, ServiceBusError>) -> Void) {
        sender(deadline: deadline) { completion($0.map { $0.maxMessageSize.map { Int(clamping: $0) } ?? 1_048_576 }) }
    }

    /// A `<queue>/$management` operation (servicebus.md); completes with the response body map (empty for
    /// 204 or no body).
    func management(operation: String, body: AMQPMap, associatedLinkName: String? = nil, deadline: Deadline,
                    completion: @escaping @Sendable (Result<AMQPMap, ServiceBusError>) -> Void) {
        ServiceBusConnection.management(messaging: messaging, cache: management, entity: queueName, operation: operation,
                                        body: body, associatedLinkName: associatedLinkName, deadline: deadline,
                                        completion: completion)
    }

    static func management(messaging: MessagingConnection, cache: LinkCache<AMQPRequestResponseLink>, entity: String,
                           operation: String, body: AMQPMap, associatedLinkName: String?, deadline: Deadline,
                           completion: @escaping @Sendable (Result<AMQPMap, ServiceBusError>) -> Void) {
        let timeout = max(0.001, deadline.secondsRemaining)
        let node = "\(entity)/$management"
        cache.link(node, deadline: deadline, attach: { done in
            messaging.authorize(audience: messaging.endpoint.audience(entity), timeout: timeout) { result in
                if case .failure(let error) = result { return done(.failure(error)) }
                AMQPRequestResponseLink.attach(session: messaging.session, address: node, replyAddress: node,
                                               deadline: deadline, queue: messaging.queue) { result in
                    done(result.mapError { ServiceBusError($0, context: "attaching \(node)") })
                }
            }
        }) { result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let link):
                var request = AMQPMessage(value: .map(body))
                request.properties = AMQPProperties(messageID: .uuid(RandomUUID.make()), replyTo: node)
                var properties: AMQPMap = [
                    "operation": .string(operation),
                    "com.microsoft:server-timeout": .uint(UInt32(clamping: Int64(clampingMilliseconds: timeout))),
                ]
                if let associatedLinkName {
                    properties.entries.append(.init(key: "associated-link-name", value: .string(associatedLinkName)))
                }
                request.applicationProperties = properties
                link.request(request, timeout: .clampingSeconds(max(0.001, deadline.secondsRemaining)), queue: messaging.queue) { response in
                    switch response {
                    case .failure(let error):
                        let mapped = ServiceBusError(error, context: "\(node) \(operation)")
                        if mapped.recovery == .rebuildLink || mapped.recovery == .rebuildConnection { cache.remove(node, link) }
                        completion(.failure(mapped))
                    case .success(let message):
                        completion(Self.decodeResponse(message, node: node, operation: operation))
                    }
                }
            }
        }
    }

    /// The response's body map, or the failure its status reports (its context, "<node> <operation>", is built only
    /// for a failure: a string per management request was measurable at 64 schedule-message callers).
    static func decodeResponse(_ message: AMQPMessage, node: String, operation: String) -> Result<AMQPMap, ServiceBusError> {
        guard let status = message.responseStatusCode else {
            return .failure(ServiceBusError(.invalidResponse, "\(node) \(operation): the response carries no status-code"))
        }
        if status == 204 { return .success(AMQPMap()) }
        guard (200..<300).contains(status) else {
            var condition: String?
            switch message.applicationProperties?[.string("errorCondition")] {
            case .symbol(let symbol)?: condition = symbol.rawValue
            case .string(let text)?: condition = text
            default: break
            }
            // The peer's words, with any token it echoed blanked out and cut to a readable length.
            let description = Redaction.peerText(message.responseStatusDescription ?? "no description")
            let remote = AMQPRemoteError(condition: AMQPSymbol(condition ?? Self.condition(forStatus: status)),
                                         description: description)
            return .failure(ServiceBusError(AMQPError(.requestFailed, "status \(status)", remote: remote),
                                            context: "\(node) \(operation)"))
        }
        if case .value(.map(let map)) = message.body { return .success(map) }
        return .success(AMQPMap())
    }

    private static func condition(forStatus status: Int) -> String {
        switch status {
        case 401, 403: return "amqp:unauthorized-access"
        case 404: return "amqp:not-found"
        case 410: return "com.microsoft:message-lock-lost"
        case 503: return "com.microsoft:server-busy"
        default: return "amqp:internal-error"
        }
    }
}

/// Opens Service Bus sender connections for `ServiceBusSender` and `ManagedServiceBusSender`.
package typealias ServiceBusConnectionFactory = EntityConnectionFactory<ServiceBusEntity>

/// Service Bus as an `EntityService`: how the senders' connections introduce themselves and prove ready.
package enum ServiceBusEntity: EntityService {
    package static var containerIDPrefix: String { "SBSender" }
    package static var product: String { "azsdk-swift-servicebus" }

    /// A `$management` peek of one message: a round trip that changes nothing.
    package static func roundTrip(on connection: ServiceBusConnection, proving readiness: ServiceBusReadiness,
                                  deadline: Deadline, completion: @escaping @Sendable (Result<Void, ServiceBusError>) -> Void) {
        connection.management(operation: "com.microsoft:peek-message",
                              body: ["from-sequence-number": .long(0), "message-count": .int(1)],
                              deadline: deadline) { completion($0.map { _ in () }) }
    }
}
