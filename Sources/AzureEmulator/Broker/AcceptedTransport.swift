import Dispatch
import ToolboxAMQP
import ToolboxCore
import ToolboxTransport

/// `AMQPTransport` over an accepted TCP (or TLS) connection, or a WebSocket upgraded from one, with the emulator's connection-level faults:
/// a delay before the first bytes are read, and an abrupt close after N frames or at random.
final class AcceptedTransport: AMQPTransport, @unchecked Sendable {
    // @unchecked Sendable: after `start`, every mutable property is touched only on the AMQP connection's queue,
    // which is the TCPConnection's own queue (`preferredQueue`), where its completions are delivered too.

    private let connection: any ByteStream
    private let faults: EmulatorFaults
    private let onFault: @Sendable (String) -> Void
    private var queue: DispatchQueue?
    private var handler: ((AMQPTransportEvent) -> Void)?
    private var outgoing: [UInt8] = []
    private var flushScheduled = false
    /// The broker is handling frames received in this turn: its writes wait for the turn's end.
    private var inReadTurn = false
    private var closed = false
    private var counter = FrameCounter()
    private var padding = FramePadding()
    private var incoming: FramePadding

    init(connection: any ByteStream, faults: EmulatorFaults, maxFrameSize: UInt32,
         onFault: @escaping @Sendable (String) -> Void) {
        self.connection = connection
        self.incoming = IncomingFrames.make(maxFrameSize: Int(maxFrameSize))
        self.faults = faults
        self.onFault = onFault
    }

    /// The socket's queue: the broker connection runs there too, so reading a transfer, settling it and
    /// writing the disposition happen in one turn of one thread.
    var preferredQueue: DispatchQueue? { connection.queue }

    /// Padding lists every field of a performative (`FramePadding`): transfers are cut that much shorter, so a
    /// padded frame still fits the client's max-frame-size (unpadded, a 70 KB message's first frame grew past
    /// 65536 bytes and the client dropped the connection — issue 13 item 1).
    var frameGrowth: Int { FramePadding.maxGrowth }

    func start(queue: DispatchQueue, handler: @escaping (AMQPTransportEvent) -> Void) {
        self.queue = queue
        self.handler = handler
        handler(.connected)
        if faults.connectionSetupDelay > .zero {
            queue.asyncAfter(deadline: Deadline.after(faults.connectionSetupDelay).instant.dispatchTime) { self.readNext() }
        } else {
            readNext()
        }
    }

    private func readNext() {
        guard let queue, !closed else { return }
        // A TCP socket read from its own queue (the broker's): the read is started here and its result handled
        // in the turn that received it, and whatever the broker writes in that turn goes out at its end — no
        // block is enqueued on the queue, which with an event loop's poller thread running the turn would wake
        // another thread afterwards. (`readOnQueue` delivers a result it finds at once on a later turn, so this
        // cannot recurse.) Other streams, or a call from elsewhere, go through the queue.
        if let socket = connection as? TCPConnection, socket.queue === queue, socket.isOnOwnQueue {
            socket.readOnQueue(maxBytes: 256 * 1024, deadline: .never) { result in self.received(result) }
            return
        }
        connection.read(maxBytes: 256 * 1024, deadline: .never, queue: queue) { result in self.received(result) }
    }

    private func received(_ result: Result<[UInt8], TransportError>) {
        switch result {
        case .success(let bytes) where bytes.isEmpty:
            report(.closed(nil))
            connection.close(mode: .graceful, queue: AcceptedTransport.closeQueue()) {}
        case .success(let bytes):
            if shouldDrop(after: bytes) {
                drop()
                return
            }
            let rewritten = incoming.rewrite(bytes)
            if !rewritten.isEmpty {
                inReadTurn = true
                handler?(.received(rewritten))
                inReadTurn = false
                if !outgoing.isEmpty { flush() }
            }
            readNext()
        case .failure(let error):
            // EOF and RST without close are how Azure's SDKs leave; both are a normal end here.
            report(error.code == .connectionClosed ? .closed(nil) : .closed(error))
            connection.close(mode: .abortive, queue: AcceptedTransport.closeQueue()) {}
        }
    }

    /// Where a socket close completes (nothing waits for it): a fresh serial queue, not the concurrent
    /// `defaultCallbackQueue`, so closes never queue work where libdispatch's worker-pool monitor looks
    /// (architecture.md, "No library work on a .concurrent queue").
    private static func closeQueue() -> DispatchQueue {
        LibraryQueues.makeWorkQueue(label: "AzureEmulator.socket-close")
    }

    private func shouldDrop(after bytes: [UInt8]) -> Bool {
        guard faults.dropAfterFrames != nil || faults.dropProbability > 0 else { return false }
        let ended = counter.feed(bytes)
        if let limit = faults.dropAfterFrames, counter.frames >= limit { return true }
        if faults.dropProbability > 0 {
            for _ in 0..<ended where Double.random(in: 0..<1) < faults.dropProbability { return true }
        }
        return false
    }

    private func drop() {
        onFault("dropping connection after \(counter.frames) frames (fault injection)")
        let connection = self.connection
        report(.closed(nil))
        connection.close(mode: .abortive, queue: AcceptedTransport.closeQueue()) {}
    }

    func write(_ bytes: [UInt8]) {
        guard !closed else { return }
        let rewritten = padding.rewrite(bytes)
        // The first write of a turn is taken as it is (no copy); later ones are appended to it.
        if outgoing.isEmpty { outgoing = rewritten } else { outgoing.append(contentsOf: rewritten) }
        // Written while the broker handles received frames: flushed when that turn ends (`received`).
        guard !inReadTurn, !flushScheduled, let queue else { return }
        flushScheduled = true
        queue.async { self.flush() }
    }

    private func flush() {
        flushScheduled = false
        guard queue != nil, !outgoing.isEmpty, !closed else { return }
        let bytes = outgoing
        outgoing = []
        // On the stream's queue (a scheduled flush, the end of a read turn, or `close`, all there): written now.
        connection.writeNow(bytes, deadline: .never) { error in
            if let error { self.report(.closed(error)) }
        }
    }

    func close() {
        guard !closed else { return }
        flush()
        let connection = self.connection
        report(.closed(nil))
        connection.close(mode: .graceful, queue: AcceptedTransport.closeQueue()) {}
    }

    private func report(_ event: AMQPTransportEvent) {
        guard !closed else { return }
        closed = true
        let handler = self.handler
        self.handler = nil
        handler?(event)
    }
}
