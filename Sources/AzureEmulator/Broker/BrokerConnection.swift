import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore

/// One client connection's view of the namespace: the audiences its tokens cover, its reply links for
/// `$cbs` and `$management` nodes, and the routing of each link it attaches.
final class BrokerConnection: @unchecked Sendable {
    // @unchecked Sendable: `authorized` and `replyLinks` are guarded by `lock` (held briefly); the rest is
    // immutable. Link callbacks run on the connection's queue or on `handlerQueue`.

    let broker: Broker
    let id: Int
    /// Where consumer-link pull completions and reply completions run. Incoming messages (entity sends, CBS and
    /// management requests) are handled inline on the connection's queue, in order.
    let handlerQueue: DispatchQueue
    var logger: Logger { broker.logger }
    private let lock = Lock()
    /// Authorized entity paths (lower-cased) and their token expiry (UNIX seconds).
    private var authorized: [String: Int] = [:]
    /// Client receiver links on request/response nodes, by lower-cased node path.
    private var replyLinks: [String: AMQPSender] = [:]

    init(broker: Broker) {
        self.broker = broker
        self.id = broker.makeConnectionID()
        self.handlerQueue = LibraryQueues.makeQueue(label: "AzureEmulator.connection.\(id)")
    }

    func serverConfiguration() -> AMQPServerConfiguration {
        AMQPServerConfiguration(
            mechanisms: ["MSSBCBS", "ANONYMOUS", "PLAIN"], allowWithoutSASL: true,
            authenticate: { [weak self, broker] mechanism, response, _ in
                switch mechanism.rawValue {
                case "ANONYMOUS", "MSSBCBS": return true
                case "PLAIN":
                    // PLAIN carries the key name and key, as some AMQP tools send them. As on Service Bus, the
                    // namespace's key authorizes the connection for every entity, with no CBS token (it was
                    // checked and then every link was refused for want of one).
                    guard let credentials = AMQPServerConfiguration.plainCredentials(response),
                          credentials.username == broker.configuration.keyName,
                          credentials.password == broker.configuration.key.exposedValue
                    else { return false }
                    self?.grant(path: "", expiry: Int.max)
                    return true
                default: return false
                }
            },
            linkAttached: { [weak self] session, attach in
                guard let self else { return .refuse(AMQPRemoteError(condition: AMQPRemoteError.internalError)) }
                return self.route(session: session, attach: attach)
            })
    }

    // MARK: - Authorization

    /// Authorizes `path` until `expiry`; an earlier grant that lasts longer (SASL PLAIN's, for good) stays.
    func grant(path: String, expiry: Int) {
        lock.withLock { authorized[path.lowercased()] = max(expiry, authorized[path.lowercased()] ?? .min) }
    }

    /// True if a token put on this connection covers `path` and has not expired.
    func isAuthorized(_ path: String) -> Bool {
        let now = Int(Date().timeIntervalSince1970)
        return lock.withLock { authorized.contains { TokenAuthority.covers($0.key, path) && $0.value > now } }
    }

    /// When the longest-lived token covering `path` expires (UNIX seconds), if one does and has not yet.
    func authorizationExpiry(_ path: String) -> Int? {
        let now = Int(Date().timeIntervalSince1970)
        return lock.withLock {
            authorized.filter { TokenAuthority.covers($0.key, path) && $0.value > now }.map(\.value).max()
        }
    }

    static func unauthorized(_ path: String) -> AMQPRemoteError {
        AMQPRemoteError(condition: AMQPRemoteError.unauthorizedAccess,
                        description: "Unauthorized access to '\(path)': put a token for this entity on $cbs first")
    }

    // MARK: - Routing

    private func route(session: AMQPSession, attach: AMQPAttach) -> AMQPLinkDecision {
        let clientSends = attach.role == .sender
        let rawAddress = clientSends ? attach.target?.address : attach.source?.address
        guard let address = EntityAddress(rawAddress) else {
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notFound,
                                           description: "the emulator has no node at '\(rawAddress ?? "")'"))
        }
        guard let path = address.authorizationPath else { return decide(address, rawAddress, attach: attach) }
        guard isAuthorized(path) else {
            logger.debug("connection \(id): refused link to '\(path)' without a token")
            return .refuse(BrokerConnection.unauthorized(path))
        }
        // As on Azure, a link lives only as long as a token covering it: it is detached once that lapses unrenewed.
        switch decide(address, rawAddress, attach: attach) {
        case .send(let options, let ready):
            return .send(options: options, ready: { [weak self] sender in
                ready(sender)
                self?.watchTokenExpiry(of: sender, path: path)
            })
        case .receive(let options, let messageQueue, let onMessage, let ready):
            return .receive(options: options, messageQueue: messageQueue, onMessage: onMessage, ready: { [weak self] receiver in
                ready(receiver)
                self?.watchTokenExpiry(of: receiver, path: path)
            })
        case let other:
            return other
        }
    }

    private func decide(_ address: EntityAddress, _ rawAddress: String?, attach: AMQPAttach) -> AMQPLinkDecision {
        let clientSends = attach.role == .sender
        switch (address, clientSends) {
        case (.cbs, true):
            return requestLink { [weak self] delivery in self?.handleCBS(delivery) }
        case (.namespaceManagement, true):
            return requestLink { [weak self] delivery in self?.handleEventHubManagement(delivery) }
        case (.entityManagement(let entity), true):
            return requestLink { [weak self] delivery in self?.handleServiceBusManagement(delivery, entity: entity) }
        case (.cbs, false), (.namespaceManagement, false), (.entityManagement, false):
            let node = EntityAddress.path(rawAddress ?? "").lowercased()
            return .send(ready: { [weak self] sender in self?.lock.withLock { self?.replyLinks[node] = sender } })
        case (.partition(let hub, let partition), true):
            return eventHubProducer(hub: hub, partition: partition)
        case (.consumer(let hub, let group, let partition), false):
            return eventHubConsumer(hub: hub, group: group, partition: partition, attach: attach)
        case (.entity(let name), true):
            switch broker.kind(of: name) {
            case .eventHub: return eventHubProducer(hub: name, partition: nil)
            case .topic: return serviceBusTopicSender(topic: name)
            case .queue: return serviceBusSender(queue: name)
            case nil:
                return BrokerConnection.looksLikeEventHubs(attach) ? eventHubProducer(hub: name, partition: nil)
                    : serviceBusSender(queue: name)
            }
        case (.entity(let name), false):
            return serviceBusReceiver(queue: name, deadLetter: false, attach: attach)
        case (.deadLetter(let name), false):
            return serviceBusReceiver(queue: name, deadLetter: true, attach: attach)
        default:
            return .refuse(AMQPRemoteError(condition: AMQPRemoteError.notAllowed,
                                           description: "'\(rawAddress ?? "")' does not accept a link in that direction"))
        }
    }

    /// The Event Hubs producer announces `com.microsoft:timeout` on its attach; Service Bus senders announce nothing.
    private static func looksLikeEventHubs(_ attach: AMQPAttach) -> Bool {
        attach.properties?[.symbol("com.microsoft:timeout")] != nil
    }

    /// A link the client sends requests on; each request is accepted after it was handled.
    private func requestLink(_ handle: @escaping @Sendable (AMQPDelivery) -> Void) -> AMQPLinkDecision {
        // Inline on the connection's queue (nil): the request is handled and accepted in the turn that read it.
        .receive(options: AMQPReceiverOptions(credit: .auto(prefetch: 100)), messageQueue: nil,
                 onMessage: { delivery in
                     handle(delivery)
                     if !delivery.isSettled { delivery.accept(queue: LibraryQueues.ignoredCompletions) }
                 }, ready: { _ in })
    }

    /// A link the client sends entity messages on, limited to the namespace's max message size.
    ///
    /// `onMessage` runs inline on the connection's queue (it must not block; the broker's entities take only
    /// short locks): reading a transfer, storing it and writing its disposition happen in one turn of one thread,
    /// and the dispositions of a run of transfers read together leave as one ranged disposition.
    func entityReceiver(_ onMessage: @escaping @Sendable (AMQPDelivery) -> Void) -> AMQPLinkDecision {
        .receive(options: AMQPReceiverOptions(credit: .auto(prefetch: 300), maxMessageSize: broker.configuration.limits.maxMessageSize),
                 messageQueue: nil, onMessage: onMessage, ready: { _ in })
    }

    /// An `entityReceiver` for Event Hubs and Service Bus sends: server-busy rejects the delivery, `store` reads
    /// the transfer (a throw is an unreadable `what`: decode-error) and stores it (a returned error rejects it);
    /// otherwise the delivery is accepted.
    func entitySendReceiver(reading what: String,
                            _ store: @escaping @Sendable (AMQPDelivery) throws -> AMQPRemoteError?) -> AMQPLinkDecision {
        let broker = self.broker
        return entityReceiver { delivery in
            let refusal: AMQPRemoteError?
            if broker.serverBusy() {
                refusal = Broker.serverBusyError
            } else {
                do { refusal = try store(delivery) } catch {
                    refusal = AMQPRemoteError(condition: AMQPRemoteError.decodeError,
                                              description: "could not read the \(what): \(error)")
                }
            }
            guard !delivery.isSettled else { return }
            if let refusal {
                delivery.reject(refusal, queue: LibraryQueues.ignoredCompletions)
            } else {
                delivery.accept(queue: LibraryQueues.ignoredCompletions)
            }
        }
    }

    // MARK: - Replies

    /// Answers a request on the client's receiver link for `node` (or the request's reply-to).
    func reply(to request: AMQPMessage, node: String, status: Int32, description: String, body: AMQPValue? = nil,
               camelCase: Bool, errorCondition: AMQPSymbol? = nil) {
        var response = AMQPMessage(body: body.map { .value($0) } ?? .none)
        var properties = AMQPProperties(correlationID: request.properties?.messageID)
        properties.to = request.properties?.replyTo
        response.properties = properties
        var application: AMQPMap = camelCase
            ? ["statusCode": .int(status), "statusDescription": .string(description)]
            : ["status-code": .int(status), "status-description": .string(description)]
        if let errorCondition { application["errorCondition"] = .symbol(errorCondition) }
        response.applicationProperties = application
        let replyNode = EntityAddress.path(request.properties?.replyTo ?? node).lowercased()
        let sender = lock.withLock { replyLinks[replyNode] ?? replyLinks[node.lowercased()] }
        guard let sender else {
            logger.warning("connection \(id): no receiver link on '\(node)' for a response; dropped it")
            return
        }
        sender.send(response, queue: LibraryQueues.ignoredCompletions) { _ in }
    }
}
