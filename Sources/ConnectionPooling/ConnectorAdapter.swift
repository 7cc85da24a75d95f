import ToolboxCore

/// A connection as the engine holds it: boxed, so the engine needs no generic parameter.
@usableFromInline
class AnyConnectionBox: @unchecked Sendable {
    // @unchecked Sendable: no state here; the subclass holds an immutable Sendable value.
    @usableFromInline init() {}
}

/// The typed box; `ConnectionPool<C>` unboxes with an unchecked downcast it alone can make safely.
@usableFromInline
final class ConnectionBox<Connection: Sendable>: AnyConnectionBox, @unchecked Sendable {
    // @unchecked Sendable: `value` is immutable and Sendable.
    @usableFromInline let value: Connection

    @usableFromInline init(_ value: Connection) {
        self.value = value
    }
}

/// The engine's view of a `Connector`.
protocol ErasedConnector: Sendable {
    func create(deadline: Deadline, completion: @escaping @Sendable (Result<AnyConnectionBox, any Error>) -> Void)
    func ready(_ box: AnyConnectionBox, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, any Error>) -> Void)
    func close(_ box: AnyConnectionBox, completion: @escaping @Sendable () -> Void)
    func cancelCreations()
}

/// Boxes what a typed connector creates and unboxes what the engine hands back.
struct ConnectorAdapter<C: Connector>: ErasedConnector {
    let connector: C

    func create(deadline: Deadline, completion: @escaping @Sendable (Result<AnyConnectionBox, any Error>) -> Void) {
        connector.create(deadline: deadline) { result in
            completion(result.map { ConnectionBox($0) })
        }
    }

    func ready(_ box: AnyConnectionBox, deadline: Deadline,
               completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        connector.ready(unsafeDowncast(box, to: ConnectionBox<C.Connection>.self).value, deadline: deadline,
                        completion: completion)
    }

    func close(_ box: AnyConnectionBox, completion: @escaping @Sendable () -> Void) {
        connector.close(unsafeDowncast(box, to: ConnectionBox<C.Connection>.self).value, completion: completion)
    }

    func cancelCreations() { connector.cancelCreations() }
}
