import Dispatch
import ToolboxCore

/// The basic clients' connection: opened on first use, shared by every operation, replaced once when it fails.
final class SingleConnection<F: MessagingConnectionFactory>: Sendable {
    private struct State {
        var current: F.Connection?
        var waiters: [@Sendable (Result<F.Connection, AzureMessagingError>) -> Void] = []
        var opening = false
        var inUse = 0
        var closed = false
    }

    private let factory: F
    private let health: HealthTracker
    private let state = LockedValue(State())

    init(factory: F, health: HealthTracker) {
        self.factory = factory
        self.health = health
    }

    var counts: (ready: Int, opening: Int, inUse: Int) {
        state.withLockedValue { ($0.current == nil ? 0 : 1, $0.opening ? 1 : 0, $0.inUse) }
    }

    func acquire(timeout: Double, queue: DispatchQueue,
                 completion: @escaping @Sendable (Result<ConnectionHandle, AzureMessagingError>) -> Void)
        -> any Cancellable
    {
        let once = CompletionOnce<Result<ConnectionHandle, AzureMessagingError>> { result in
            queue.async { completion(result) }
        }
        let factory = self.factory
        let waiter: @Sendable (Result<F.Connection, AzureMessagingError>) -> Void = { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): once.complete(.failure(error))
            case .success(let connection):
                self.state.withLockedValue { $0.inUse += 1 }
                if !once.complete(.success(self.handle(connection))) { self.release(connection, discard: false) }
            }
        }
        var steps: [AcquireStep<F.Connection>] = []
        state.withLockedValue { state in
            if state.closed { steps.append(.closed); return }
            if let current = state.current {
                if !factory.isClosed(current) {
                    state.inUse += 1
                    steps.append(.ready(current))
                    return
                }
                state.current = nil
                steps.append(.retire(current))
            }
            state.waiters.append(waiter)
            if state.opening {
                steps.append(.wait)
            } else {
                state.opening = true
                steps.append(.open)
            }
        }
        for step in steps {
            switch step {
            case .closed: once.complete(.failure(AzureMessagingError(.clientClosed, "the client is closed")))
            case .ready(let connection): once.complete(.success(handle(connection)))
            case .retire(let connection):
                health.recordReconnect()
                factory.close(connection) {}
            case .wait: break
            case .open: open(timeout: timeout)
            }
        }
        return CompletedOperation()
    }

    private var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// Opens and readies the connection. A `close` that comes between the steps (before the factory has
    /// registered the open, or between the open and the ready check) finds nothing to cancel, so each step looks
    /// again once it has started and cancels itself.
    private func open(timeout: Double) {
        let deadline = Deadline.after(seconds: timeout)
        factory.open(deadline: deadline) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.finishOpen(.failure(error))
            case .success(let connection):
                self.health.recordOpened()
                guard !self.isClosed else {
                    self.factory.close(connection) {}
                    return self.finishOpen(.failure(AzureMessagingError(.clientClosed, "the client is closed")))
                }
                self.factory.ready(connection, deadline: deadline) { ready in
                    switch ready {
                    case .success: self.finishOpen(.success(connection))
                    case .failure(let error):
                        self.factory.close(connection) {}
                        self.finishOpen(.failure(error))
                    }
                }
                if self.isClosed { self.factory.cancelOpens() }
            }
        }
        if isClosed { factory.cancelOpens() }
    }

    private func finishOpen(_ result: Result<F.Connection, AzureMessagingError>) {
        let (waiters, lateClose): ([@Sendable (Result<F.Connection, AzureMessagingError>) -> Void], F.Connection?) =
            state.withLockedValue { state in
                state.opening = false
                defer { state.waiters = [] }
                if state.closed, case .success(let connection) = result { return (state.waiters, connection) }
                if case .success(let connection) = result { state.current = connection }
                return (state.waiters, nil)
            }
        if let lateClose {
            factory.close(lateClose) {}
            for waiter in waiters { waiter(.failure(AzureMessagingError(.clientClosed, "the client is closed"))) }
            return
        }
        for waiter in waiters { waiter(result) }
    }

    private func handle(_ connection: F.Connection) -> ConnectionHandle {
        let released = CompletionOnce<Bool> { [weak self] discard in self?.release(connection, discard: discard) }
        return ConnectionHandle(connection: connection) { discard in released.complete(discard) }
    }

    private func release(_ connection: F.Connection, discard: Bool) {
        let retire: Bool = state.withLockedValue { state in
            state.inUse -= 1
            guard discard, let current = state.current, current === connection else { return false }
            state.current = nil
            return true
        }
        if retire {
            health.recordReconnect()
            factory.close(connection) {}
        }
    }

    func close(queue: DispatchQueue, completion: @escaping @Sendable () -> Void) {
        let (current, waiters, opening) = state.withLockedValue { state in
            state.closed = true
            defer { state.current = nil; state.waiters = [] }
            return (state.current, state.waiters, state.opening)
        }
        // An open in progress ends now (its socket closed), not at its deadline — up to the try time-out later,
        // against a peer that accepted and never answered.
        if opening { factory.cancelOpens() }
        for waiter in waiters { waiter(.failure(AzureMessagingError(.clientClosed, "the client is closed"))) }
        guard let current else { return queue.async(execute: completion) }
        factory.close(current) { queue.async(execute: completion) }
    }
}

private enum AcquireStep<Connection> { case ready(Connection), wait, open, closed, retire(Connection) }
