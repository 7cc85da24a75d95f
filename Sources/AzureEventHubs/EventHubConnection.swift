import AzureMessagingCore
import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore

/// One authenticated connection to an Event Hub with its sender links (hub-level and per partition) and
/// its `$management` link, all attached on first use and shared by every operation on the connection.
package typealias EventHubConnection = EntityConnection<EventHubEntity>

extension EntityConnection where Service == EventHubEntity {
    var eventHubName: String { entityPath }

    /// The sender for the hub (partition key or round robin) or for one partition.
    func sender(partitionID: String?, deadline: Deadline,
                completion: @escaping @Sendable (Result<AMQPSender, EventHubsError>) -> Void) {
        sender(path: partitionID.map { "\(eventHubName)/Partitions/\($0)" } ?? eventHubName, deadline: deadline,
               completion: completion)
    }

    /// The link's max-message-size for `partitionID` (attaching the sender if needed); 1 MiB when undeclared.
    func maxMessageSize(partitionID: String?, deadline: Deadline,
                        completion: @escaping @Sendable (Result<Int, EventHubsError>) -> Void) {
        sender(partitionID: partitionID, deadline: deadline) { result in
            completion(result.map(Self.maxMessageSize(of:)))
        }
    }

    static func maxMessageSize(of sender: AMQPSender) -> Int {
        sender.maxMessageSize.map { Int(clamping: $0) } ?? 1_048_576
    }

    /// Sends an encoded batch (message-format 0x80013700) and completes when the service settled it.
    func send(payload: [UInt8], partitionID: String?, scope: TryScope,
              completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) {
        sender(partitionID: partitionID, deadline: scope.deadline) { result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let sender):
                self.send(payload: payload, on: sender, partitionID: partitionID, scope: scope, completion: completion)
            }
        }
    }

    /// Sends an encoded batch on `sender` (the link for `partitionID`, from `sender(partitionID:...)`), unless the
    /// try already ended; the transfer carries the try's deadline and is cancelled with it.
    func send(payload: [UInt8], on sender: AMQPSender, partitionID: String?, scope: TryScope,
              completion: @escaping @Sendable (Result<Void, EventHubsError>) -> Void) {
        guard !scope.isCancelled else { return completion(.failure(scope.cancellationError)) }
        let senders = self.senders
        let hub = eventHubName
        scope.track(sender.send(encodedMessage: payload, messageFormat: EventDataBatch.messageFormat,
                                discardAfter: scope.deadline, queue: self.messaging.queue) { outcome in
            switch outcome {
            case .success(.accepted), .success(nil): return completion(.success(()))
            default: break
            }
            // Failures only: build the context strings.
            let path = partitionID.map { "\(hub)/Partitions/\($0)" } ?? hub
            let context = "sending to \(path)"
            let error: EventHubsError
            switch outcome {
            case .success(.rejected(let remote)): error = EventHubsError(rejected: remote, context: context)
            case .success(let state):
                error = EventHubsError(.serviceError, "\(context): unexpected outcome \(String(describing: state))",
                                       recovery: .retry)
            case .failure(let failure): error = EventHubsError(failure, context: context)
            }
            if error.recovery == .rebuildLink || error.recovery == .rebuildConnection { senders.remove(path, sender) }
            completion(.failure(error))
        })
    }

    /// A `$management` READ (eventhubs.md): no body, the token repeated as `security_token`.
    func read(type: String, partitionID: String?, deadline: Deadline,
              completion: @escaping @Sendable (Result<AMQPMap, EventHubsError>) -> Void) {
        let timeout = max(0.001, deadline.secondsRemaining)
        let messaging = self.messaging
        let audience = self.audience
        let hub = eventHubName
        let management = self.management
        management.link("$management", deadline: deadline, attach: { done in
            messaging.authorize(audience: audience, timeout: timeout) { result in
                if case .failure(let error) = result { return done(.failure(error)) }
                AMQPRequestResponseLink.attach(session: messaging.session, address: "$management", deadline: deadline,
                                               queue: messaging.queue) { result in
                    done(result.mapError { EventHubsError($0, context: "attaching $management") })
                }
            }
        }) { result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let link):
                messaging.currentToken(audience: audience, timeout: max(0.001, deadline.secondsRemaining)) { token in
                    switch token {
                    case .failure(let error): completion(.failure(error))
                    case .success(let token):
                        var request = AMQPMessage()
                        request.properties = AMQPProperties(messageID: .uuid(RandomUUID.make()))
                        var properties: AMQPMap = [
                            "name": .string(hub), "security_token": .string(token.token.exposedValue),
                            "operation": "READ", "type": .string(type),
                        ]
                        if let partitionID { properties.entries.append(.init(key: "partition", value: .string(partitionID))) }
                        request.applicationProperties = properties
                        link.request(request, timeout: .clampingSeconds(max(0.001, deadline.secondsRemaining)), queue: messaging.queue) { response in
                            completion(Self.readResponse(response, context: "$management READ \(type)", drop: {
                                management.remove("$management", link)
                            }))
                        }
                    }
                }
            }
        }
    }

    static func readResponse(_ response: Result<AMQPMessage, AMQPError>, context: String,
                                     drop: () -> Void) -> Result<AMQPMap, EventHubsError> {
        switch response {
        case .failure(let error):
            let mapped = EventHubsError(error, context: context)
            if mapped.recovery != .fail && mapped.recovery != .retry { drop() }
            return .failure(mapped)
        case .success(let message):
            // A response without a status read as 0, which passed for success.
            guard let status = message.responseStatusCode else {
                return .failure(EventHubsError(.invalidResponse, "\(context): the response carries no status-code"))
            }
            // The peer's words, with any token it echoed blanked out and cut to a readable length.
            let description = Redaction.peerText(message.responseStatusDescription ?? "no description")
            guard status < 400 else {
                let code: EventHubsError.Code = switch status {
                case 401, 403: .unauthorized
                case 404: .notFound
                case 503: .serverBusy
                default: .serviceError
                }
                return .failure(EventHubsError(code, "\(context) failed with status \(status): \(description)",
                                               recovery: code == .serverBusy ? .retry : .fail))
            }
            guard case .value(.map(let map)) = message.body else {
                return .failure(EventHubsError(.serviceError, "\(context): the response has no map body"))
            }
            return .success(map)
        }
    }

}

extension AMQPMap {
    subscript(text key: String) -> AMQPValue? { self[.string(key)] }

    func int64(_ key: String) -> Int64? {
        switch self[text: key] {
        case .long(let v)?: return v
        case .int(let v)?: return Int64(v)
        case .uint(let v)?: return Int64(v)
        case .ulong(let v)?: return Int64(clamping: v)
        default: return nil
        }
    }

    func string(_ key: String) -> String? {
        switch self[text: key] {
        case .string(let v)?: return v
        case .symbol(let v)?: return v.rawValue
        default: return nil
        }
    }

    func date(_ key: String) -> Date? {
        guard case .timestamp(let ms)? = self[text: key] else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }
}
