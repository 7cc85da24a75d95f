import Dispatch
import Foundation
import Logging
import ToolboxAMQP
import ToolboxCore

extension MessagingConnection {
    /// Opens a receiver's connection and attaches its receive link on `path`, all by one `deadline` (a peer that
    /// stops answering at any step fails this connect instead of leaving the receiver connecting): transport, a
    /// CBS put-token for `audienceEntity`, then the attach with the options `receiverOptions` makes for the new
    /// connection's id. A failure after the transport opened closes the connection before it is reported.
    ///
    /// - Parameters:
    ///   - onMessage: gets each delivery with the id of the connection it came on.
    ///   - completion: the connection with its attached link, or the failure.
    ///   - cancellation: cancelling it ends the connect at whatever step it is (the open in progress, or the
    ///     connection once open), and the completion fails; the receiver cancels it when it is closed meanwhile.
    package static func openReceiver(
        endpoint: MessagingEndpoint, containerIDPrefix: String, product: String, audienceEntity: String, path: String,
        deadline: Deadline, logger: Logger, clock: any ToolboxClock,
        receiverOptions: @escaping @Sendable (_ connectionID: Int) -> AMQPReceiverOptions,
        onMessage: @escaping @Sendable (_ connectionID: Int, AMQPDelivery) -> Void,
        cancellation: CancellationToken? = nil,
        completion: @escaping @Sendable (Result<(MessagingConnection, AMQPReceiver), AzureMessagingError>) -> Void
    ) {
        let audience = endpoint.audience(audienceEntity)
        let address = endpoint.address(path)
        let opening = open(endpoint: endpoint, containerIDPrefix: containerIDPrefix, product: product, deadline: deadline,
                           logger: logger, clock: clock) { result in
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let connection):
                // Cancelled from now on: the connection closes, and the CBS or attach step fails on it.
                cancellation?.onCancel { connection.close {} }
                connection.authorize(audience: audience, timeout: max(0.001, deadline.secondsRemaining)) { result in
                    if case .failure(let error) = result {
                        connection.close {}
                        return completion(.failure(error))
                    }
                    let id = connection.id
                    connection.session.attachReceiver(
                        address: address, options: receiverOptions(id), messageQueue: connection.queue, deadline: deadline,
                        queue: connection.queue, onMessage: { delivery in onMessage(id, delivery) }
                    ) { result in
                        switch result {
                        case .failure(let error):
                            connection.close {}
                            completion(.failure(AzureMessagingError(error, context: "attaching a receiver to \(path)")))
                        case .success(let receiver):
                            completion(.success((connection, receiver)))
                        }
                    }
                }
            }
        }
        cancellation?.onCancel { opening.cancel() }
    }
}
