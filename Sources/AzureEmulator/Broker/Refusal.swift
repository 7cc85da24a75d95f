import ToolboxAMQP

/// Why the broker refuses an operation: the AMQP error the client receives (on a detach, a rejected outcome or
/// a management response).
struct Refusal: Error, Sendable {
    let remote: AMQPRemoteError

    init(condition: AMQPSymbol, description: String) {
        remote = AMQPRemoteError(condition: condition, description: description)
    }
}
