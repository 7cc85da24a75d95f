import Dispatch
import ToolboxCore

/// The event loop: socket readiness, TLS pumping, pending reads and writes. Everything here runs on `queue`.
extension TCPConnection {
    static let receiveChunk = 64 * 1024
    /// The most TLS decrypts into one array (what a round of `receiveChunk` reads can hold).
    package static let plaintextChunk = 4 * receiveChunk
    /// Unread bytes buffered before the connection stops reading from the socket (back-pressure to the peer).
    static let inboundLimit = 1 << 20
    /// Writes larger than this wait in `unstaged` and go to `outbound` (through TLS: as records) in pieces of
    /// this size, only while fewer than `stagingTarget` bytes wait there: memory per connection stays bounded
    /// whatever the size of a write, and a block of a large upload exists once (its caller's array).
    package static let stagingPiece = 64 * 1024
    static let stagingTarget = 256 * 1024

    /// Prepares to watch a connected socket. With a poller the socket is registered on the first interest
    /// (`updatePoll`); without one, read and write sources are made (both start suspended).
    func installSources() {
        readInterest = false
        writeInterest = false
        pollToken = nil
        pollArmed = []
        guard poller == nil else { return }
        let write = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        write.setEventHandler { [weak self] in self?.handleWritable() }
        let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        read.setEventHandler { [weak self] in self?.handleReadable() }
        let descriptor = fd
        let remaining = LockedValue(2)
        let closeWhenBothCancelled: @Sendable () -> Void = {
            // The descriptor may be closed only once neither source can touch it any more.
            if remaining.withLockedValue({ $0 -= 1; return $0 }) == 0 { POSIX.closeDescriptor(descriptor) }
        }
        read.setCancelHandler(handler: closeWhenBothCancelled)
        write.setCancelHandler(handler: closeWhenBothCancelled)
        readSource = read
        writeSource = write
    }

    func setReadInterest(_ wanted: Bool) { setInterest(\.readInterest, wanted, source: readSource) }

    func setWriteInterest(_ wanted: Bool) { setInterest(\.writeInterest, wanted, source: writeSource) }

    /// Records whether readiness is wanted and tells the poller (or resumes/suspends the source).
    private func setInterest(_ flag: ReferenceWritableKeyPath<TCPConnection, Bool>, _ wanted: Bool,
                             source: (any DispatchSourceProtocol)?) {
        guard wanted != self[keyPath: flag] else { return }
        if poller != nil {
            guard fd >= 0 else { return }
            self[keyPath: flag] = wanted
            updatePoll()
            return
        }
        guard let source else { return }
        self[keyPath: flag] = wanted
        if wanted { source.resume() } else { source.suspend() }
    }

    /// Arms the socket's registration for what is wanted now (registering it the first time).
    ///
    /// Nothing wanted leaves an armed registration as it is: its report, if one comes, is ignored and not
    /// re-armed, which costs less than an `epoll_ctl` per change of mind.
    func updatePoll() {
        guard let poller, fd >= 0 else { return }
        var wanted: SocketInterest = []
        if readInterest { wanted.insert(.read) }
        if writeInterest { wanted.insert(.write) }
        guard !wanted.isEmpty, wanted != pollArmed else { return }
        let armed: Bool
        if let token = pollToken {
            armed = poller.rearm(fd: fd, token: token, interest: wanted)
        } else if let token = poller.register(fd: fd, interest: wanted, queue: queue, handler: { [weak self] in
            self?.pollerReported($1, token: $0)
        }) {
            pollToken = token
            armed = true
        } else {
            armed = false
        }
        if armed {
            pollArmed = wanted
            return
        }
        let code = POSIX.lastErrno
        // Not from inside this call: it runs in the middle of read and write bookkeeping.
        queue.async { [weak self] in
            guard let self else { return }
            self.fail(TransportError(
                .connectionReset, "could not watch the socket to \(self.peerDescription): \(POSIX.text(for: code))",
                errno: code))
        }
    }

    /// The poller saw the socket ready (its registration is now disarmed until re-armed). A report for an earlier
    /// registration (this connection's socket has been released since) is ignored.
    func pollerReported(_ readiness: SocketReadiness, token: UInt64) {
        guard token == pollToken, fd >= 0 else { return }
        pollArmed = []
        if readiness.writable, writeInterest { handleWritable() }
        if readiness.readable, readInterest, fd >= 0 { handleReadable() }
        updatePoll()
    }

    /// Stops watching the socket and closes it: at once with a poller (no Dispatch source ever watched it);
    /// otherwise by cancelling the sources, whose cancel handlers close it once neither can touch it any more.
    func releaseSocket() {
        if let poller {
            if let token = pollToken, fd >= 0 { poller.unregister(fd: fd, token: token) }
            if fd >= 0 { POSIX.closeDescriptor(fd) }
        } else if let write = writeSource {
            readSource?.cancel()
            write.cancel()
            // A suspended source never runs its cancel handler, and releasing one crashes.
            if !readInterest { readSource?.resume() }
            if !writeInterest { write.resume() }
        } else if fd >= 0 {
            POSIX.closeDescriptor(fd)
        }
        pollToken = nil
        pollArmed = []
        readInterest = false
        writeInterest = false
        readSource = nil
        writeSource = nil
        fd = -1
    }

    // MARK: Reading

    package func readOnQueue(maxBytes: Int, deadline: Deadline, _ handler: @escaping (Result<[UInt8], TransportError>) -> Void) {
        debugAssertOnQueue(queue)
        if pendingRead != nil {
            handler(.failure(TransportError(.invalidRequest, "a read on \(peerDescription) is already pending")))
            return
        }
        // A result found right away is delivered on a later turn of the queue: delivering it inside this call
        // would let a read loop (read → handle → read …) recurse without bound while data is buffered.
        var immediate = true
        let queue = self.queue
        pendingRead = PendingRead(maxBytes: max(1, maxBytes)) { result in
            if immediate {
                let confined = QueueConfined((handler, result))
                queue.async { confined.value.0(confined.value.1) }
            } else {
                handler(result)
            }
        }
        defer { immediate = false }
        if tls != nil, inbound.isEmpty, state == .open { decryptAvailable() }
        if completePendingRead() { return }
        // With the source paused (inbound was full), look at the socket directly: it may hold the answer already.
        if state == .open, !peerClosed, !readInterest {
            handleReadable()
            if pendingRead == nil { return }
        }
        readTimer.arm(at: deadline) { [weak self] in
            guard let self, let read = self.pendingRead else { return }
            self.pendingRead = nil
            self.updateReadInterest()
            read.handler(.failure(TransportError(
                .timedOut, "no data from \(self.peerDescription) before the read deadline")))
        }
        updateReadInterest()
    }

    /// Delivers to the pending read if there is anything to deliver; returns whether it did.
    @discardableResult
    func completePendingRead() -> Bool {
        guard let read = pendingRead else { return false }
        let result: Result<[UInt8], TransportError>
        if !inbound.isEmpty {
            result = .success(inbound.take(upTo: read.maxBytes))
        } else if let failure {
            result = .failure(failure)
        } else if peerClosed {
            result = .success([])
        } else if state == .closing || state == .closed {
            result = .failure(TransportError(.closedLocally, "the connection to \(peerDescription) was closed"))
        } else {
            return false
        }
        pendingRead = nil
        readTimer.disarm()
        updateReadInterest()
        read.handler(result)
        return true
    }

    /// Keeps the read source running for the whole life of an open connection, pausing it only while `inbound`
    /// holds `inboundLimit` unread bytes, and stopping it at end of stream.
    ///
    /// Suspending the source between reads would be cheaper in theory, but libdispatch on Linux was seen to
    /// miss a FIN or RST that arrived after such a suspend/resume cycle, leaving the read hanging until its
    /// deadline. A running source also notices at once when a server closes an idle keep-alive connection.
    func updateReadInterest() {
        let wanted = (state == .handshaking || state == .open) && !peerClosed && failure == nil
            && inbound.count < TCPConnection.inboundLimit
        setReadInterest(wanted)
    }

    func handleReadable() {
        guard fd >= 0 else { return }
        var sawEOF = false
        var socketError: Int32?
        withUnsafeTemporaryAllocation(byteCount: TCPConnection.receiveChunk, alignment: 16) { buffer in
            // A few rounds at most, so one busy connection cannot monopolise the queue's thread.
            for _ in 0..<4 {
                let n = POSIX.receive(fd, buffer.baseAddress!, buffer.count)
                if n > 0 {
                    let received = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                    if let tls { tls.feed(received) } else { inbound.append(received) }
                    if n < buffer.count { break }
                } else if n == 0 {
                    sawEOF = true
                    break
                } else {
                    let code = POSIX.lastErrno
                    if !POSIX.isWouldBlock(code) { socketError = code }
                    break
                }
            }
        }
        if tunnel != nil {
            continueTunnel(sawEOF: sawEOF, socketError: socketError)
            return
        }
        if tls != nil {
            if state == .handshaking {
                continueHandshake()
                if state != .open { if sawEOF { fail(handshakeEOFError()) }; return }
            }
            decryptAvailable()
        }
        if let socketError {
            fail(TransportError(
                .connectionReset, "reading from \(peerDescription) failed: \(POSIX.text(for: socketError))",
                errno: socketError))
            return
        }
        if sawEOF { peerClosed = true }
        completePendingRead()
        updateReadInterest()
    }

    /// Moves decrypted application data from the TLS session to `inbound`.
    ///
    /// The records are decrypted straight into arrays of up to `plaintextChunk` bytes that `inbound` keeps as they
    /// are, so a read usually takes one of them without a copy.
    func decryptAvailable() {
        guard let tls, failure == nil else { return }
        while true {
            // Nothing received and nothing buffered: no read to try (and no array to allocate).
            let estimate = tls.plaintextEstimate
            if estimate == 0 { break }
            let capacity = min(TCPConnection.plaintextChunk, estimate)
            var outcome: TLSSession.ReadOutcome?
            let plaintext = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, filled in
                while filled < capacity {
                    let room = UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[filled...]))
                    let step = tls.read(into: room)
                    guard case .bytes(let n) = step else {
                        outcome = step
                        return
                    }
                    filled += min(n, room.count)
                }
            }
            inbound.append(plaintext)
            guard let outcome else { continue }  // the array is full: more may be waiting
            if case .closed = outcome { peerClosed = true }
            if case .failed(let error) = outcome { failure = error }
            break
        }
        // Reading can produce output (key updates, alerts); send it along.
        tls.drainOutput(into: &outbound)
        if outboundIndex < outbound.count { flush() }
        if let failure { fail(failure) }
    }

    // MARK: Writing

    /// Writes `bytes` now, on the calling thread, which must already run on `queue` (an async block on it, or a
    /// `queue.sync` from another thread): the bytes go to the kernel (through TLS when the connection has it)
    /// before this returns, as far as the socket takes them; whatever it does not take stays queued and is sent
    /// when the socket is writable, exactly as with `write`. Writes go out in the order they reach the queue
    /// (a `write` counts when its block runs there).
    ///
    /// `completion` runs on `queue` once the bytes are handed to the kernel or the write failed: inline, before
    /// `writeNow` returns, when the socket took everything (or the connection had already failed); later, from
    /// the write source, when it would have blocked. It must not re-enter the caller's half-finished work (hop
    /// with `queue.async` for anything larger than recording the outcome).
    ///
    /// `write` always enqueues a block onto `queue`, which wakes a thread to run it; this is for code that
    /// already runs there (a protocol engine sharing the socket's queue) and wants no second hop.
    public func writeNow(_ bytes: [UInt8], deadline: Deadline = .never,
                         completion: @escaping (TransportError?) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        writeOnQueue(bytes, deadline: deadline, completion)
    }

    package func writeOnQueue(_ bytes: [UInt8], deadline: Deadline, _ handler: @escaping (TransportError?) -> Void) {
        writeOnQueue(.bytes(bytes), deadline: deadline, handler)
    }

    /// Writes an array or a block's content. A block, a large array, and anything behind an unstaged write wait
    /// in `unstaged` and are staged in pieces as the socket drains (a block is never copied whole, and is released
    /// once its last piece is staged); a small array goes to `outbound` at once.
    package func writeOnQueue(_ outgoing: OutgoingBytes, deadline: Deadline,
                              _ handler: @escaping (TransportError?) -> Void) {
        debugAssertOnQueue(queue)
        if let failure {
            handler(failure)
            return
        }
        guard state == .open else {
            handler(TransportError(.closedLocally, "cannot write to \(peerDescription): the connection is closed"))
            return
        }
        guard case .bytes(let bytes) = outgoing, bytes.count <= TCPConnection.stagingPiece, unstaged.isEmpty else {
            // After an unstaged write even a small one must wait its turn, to keep the order.
            unstaged.append(UnstagedWrite(bytes: outgoing, offset: 0))
            pendingWrites.append(PendingWrite(end: .max, deadline: deadline, handler: handler))
            flush()
            return
        }
        let before = outbound.count
        if let tls {
            let error = bytes.withUnsafeBytes { tls.write($0, into: &outbound) }
            if let error {
                handler(error)
                fail(error)
                return
            }
        } else {
            outbound.append(contentsOf: bytes)
        }
        bytesEnqueued += UInt64(outbound.count - before)
        pendingWrites.append(PendingWrite(end: bytesEnqueued, deadline: deadline, handler: handler))
        flush()
    }

    /// Moves the next pieces of `unstaged` into `outbound` (encrypting them with TLS) until `stagingTarget`
    /// bytes wait there, or all of them with `all` (a graceful close must queue its close_notify after them);
    /// a write whose last piece is staged learns where it ends. Returns false once it failed the connection.
    func stageUnstaged(all: Bool = false) -> Bool {
        while let first = unstaged.first, all || outbound.count - outboundIndex < TCPConnection.stagingTarget {
            let before = outbound.count
            let end = min(first.bytes.count, first.offset + TCPConnection.stagingPiece)
            let error = first.bytes.withUnsafeBytes { raw -> TransportError? in
                let piece = UnsafeRawBufferPointer(rebasing: raw[first.offset..<end])
                guard let tls else {
                    outbound.append(contentsOf: piece)
                    return nil
                }
                return tls.write(piece, into: &outbound)
            }
            if let error {
                fail(error)
                return false
            }
            bytesEnqueued += UInt64(outbound.count - before)
            if end < first.bytes.count {
                unstaged[0].offset = end
                continue
            }
            unstaged.removeFirst()
            if let index = pendingWrites.firstIndex(where: { $0.end == .max }) {
                pendingWrites[index].end = bytesEnqueued
            }
        }
        return true
    }

    /// The socket is watched only once `ConnectRace` has handed over a connected socket (the state has left
    /// `.connecting` by then), so writability only ever means room to send.
    func handleWritable() {
        flush()
    }

    /// Sends as much of `outbound` as the kernel takes (staging the next pieces of `unstaged` each time it
    /// empties), then completes the writes that are fully sent.
    func flush() {
        guard fd >= 0 else { return }
        while true {
            while outboundIndex < outbound.count {
                let n = outbound.withUnsafeBytes { raw in
                    POSIX.send(fd, raw.baseAddress! + outboundIndex, outbound.count - outboundIndex)
                }
                if n > 0 {
                    outboundIndex += n
                    bytesWritten += UInt64(n)
                } else {
                    let code = POSIX.lastErrno
                    if n < 0, POSIX.isWouldBlock(code) { break }
                    fail(TransportError(
                        .connectionReset, "writing to \(peerDescription) failed: \(POSIX.text(for: code))",
                        errno: code))
                    return
                }
            }
            if outboundIndex == outbound.count {
                outbound.removeAll(keepingCapacity: outbound.capacity <= 1 << 20)
                outboundIndex = 0
            }
            guard outboundIndex == outbound.count, !unstaged.isEmpty else { break }
            guard stageUnstaged() else { return }
        }
        var finished: [PendingWrite] = []
        while let first = pendingWrites.first, first.end <= bytesWritten {
            finished.append(pendingWrites.removeFirst())
        }
        let blocked = outboundIndex < outbound.count
        setWriteInterest(blocked)
        if let next = pendingWrites.first, blocked {
            writeTimer.arm(at: next.deadline) { [weak self] in
                guard let self else { return }
                self.fail(TransportError(
                    .timedOut, "\(self.peerDescription) did not accept the data before the write deadline"))
            }
        } else {
            writeTimer.disarm()
        }
        for write in finished { write.handler(nil) }
        if !blocked, state == .closing { finishGracefulClose() }
    }

    // MARK: Failing and closing

    /// Ends the connection with `error`: every pending operation gets it, and the socket is reset.
    func fail(_ error: TransportError) {
        if state == .closed { return }
        // A peer that answers and then resets (an HTTP server refusing an upload) may have sent bytes that are
        // still in the socket: keep them for the reads that follow, which get them before the error.
        if error.code == .connectionReset, failure == nil, state == .open || state == .closing { salvageReceived() }
        if failure == nil { failure = error }
        let failure = self.failure ?? error
        state = .closed
        if fd >= 0 { POSIX.setLingerZero(fd) }
        finishClose()
        let read = pendingRead
        pendingRead = nil
        let writes = pendingWrites
        pendingWrites = []
        unstaged = []
        let handshake = handshakeHandler
        handshakeHandler = nil
        if let read, !inbound.isEmpty {
            read.handler(.success(inbound.take(upTo: read.maxBytes)))
        } else {
            read?.handler(.failure(failure))
        }
        for write in writes { write.handler(failure) }
        handshake?(failure)
    }

    package func closeOnQueue(mode: CloseMode, _ handler: @escaping () -> Void) {
        debugAssertOnQueue(queue)
        switch state {
        case .closed:
            handler()
            return
        case .closing:
            closeHandlers.append(handler)
            return
        case .connecting, .handshaking:
            closeHandlers.append(handler)
            fail(TransportError(.cancelled, "the connection to \(peerDescription) was closed while opening"))
            return
        case .open:
            break
        }
        closeHandlers.append(handler)
        if mode == .abortive {
            fail(TransportError(.closedLocally, "the connection to \(peerDescription) was closed"))
            return
        }
        state = .closing
        if let read = pendingRead {
            pendingRead = nil
            read.handler(.failure(TransportError(.closedLocally, "the connection to \(peerDescription) was closed")))
        }
        if !unstaged.isEmpty, !stageUnstaged(all: true) { return }
        if let tls {
            tls.shutdown()
            tls.drainOutput(into: &outbound)
        }
        // A peer that stops reading must not keep us half-closed forever.
        phaseTimer.arm(at: .after(seconds: 5)) { [weak self] in
            self?.fail(TransportError(.timedOut, "graceful close did not finish; the connection was reset"))
        }
        flush()
    }

    func finishGracefulClose() {
        if fd >= 0 { POSIX.shutdownWrite(fd) }
        state = .closed
        finishClose()
    }

    func finishClose() {
        readTimer.cancel()
        writeTimer.cancel()
        phaseTimer.cancel()
        releaseSocket()
        selfRetain = nil
        let handlers = closeHandlers
        closeHandlers = []
        for handler in handlers { handler() }
    }
}

/// Carries a value created on a connection's queue to a later block on the same queue.
struct QueueConfined<Value>: @unchecked Sendable {
    // @unchecked Sendable: created before a hand-over to a connection's serial queue (an `async` there, or the
    // poller thread's lock, which then `sync`s there) and read only on that queue after it: the hand-over orders
    // the two, and no two threads ever touch the value at once.
    let value: Value
    init(_ value: Value) { self.value = value }
}
