import CToolboxOpenSSL

/// One TLS session driven through BIOs of our own (a memory BIO in, `TLSOutputBIO` out): ciphertext in and out as
/// bytes, plaintext in and out as bytes.
///
/// Keeping OpenSSL away from the socket means the connection's event loop owns all I/O and timing, and the
/// same code serves client and server sides. Not thread-safe: the owning connection uses it on its queue only.
final class TLSSession {
    enum Step {
        case done
        case needsInput
        case failed(TransportError)
    }

    enum ReadOutcome {
        case bytes(Int)
        case needsInput
        case closed
        case failed(TransportError)
    }

    private let ssl: OpaquePointer
    private let input: OpaquePointer
    /// OpenSSL's records go to `sink` through this BIO (see `TLSOutputBIO`).
    private let output: OpaquePointer
    private let sink = TLSOutputSink()
    private let peerDescription: String
    private let verifiesPeer: Bool
    private(set) var handshakeComplete = false
    /// Where a client stores its session for resumption, and under which key; nil for servers.
    private let sessionCache: TLSSessionCache?
    private let sessionKey: String
    private var sessionCaptured = false

    /// - parameter serverName: for clients, the host name sent in SNI and verified against the certificate.
    /// - parameter sessionKey: for clients, identifies the server (name and address) for session resumption.
    init(context: TLSContext, serverName: String?, peerDescription: String, sessionKey: String? = nil) throws {
        guard let ssl = SSL_new(context.context) else {
            throw TLSContext.configurationError("could not create a TLS session")
        }
        guard let input = BIO_new(BIO_s_mem()), let output = TLSOutputBIO.make(for: sink) else {
            SSL_free(ssl)
            throw TLSContext.configurationError("could not create TLS memory buffers")
        }
        self.ssl = ssl
        self.input = input
        self.output = output
        self.peerDescription = peerDescription
        self.verifiesPeer = context.verifiesPeer
        self.sessionCache = context.isClient && sessionKey != nil ? context.sessionCache : nil
        self.sessionKey = sessionKey ?? ""
        SSL_set_bio(ssl, input, output)  // the session now owns both BIOs
        if context.isClient {
            SSL_set_connect_state(ssl)
            if let cache = sessionCache, let previous = cache.session(for: self.sessionKey) {
                _ = SSL_set_session(ssl, previous)  // takes its own reference
                SSL_SESSION_free(previous)
            }
            if let serverName, !serverName.isEmpty {
                try configureServerName(serverName, verify: context.verifiesPeer)
            } else if context.verifiesPeer {
                // Without a name OpenSSL checks the chain only: any trusted certificate would pass for any server.
                // (Every stored property is set, so deinit frees the session.)
                throw TLSContext.configurationError(
                    "no server name to verify \(peerDescription)'s certificate against; give the host name (or "
                        + "TLSClientConfiguration.serverName), or opt out explicitly with "
                        + "insecureNoVerificationForDevelopmentOnly()")
            }
        } else {
            SSL_set_accept_state(ssl)
        }
    }

    deinit {
        SSL_free(ssl)
    }

    private func configureServerName(_ name: String, verify: Bool) throws {
        let bare = name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        let isIPAddress = SocketAddress(numericHost: bare, port: 0) != nil
        if !isIPAddress {
            // RFC 6066 forbids IP literals in SNI.
            _ = toolbox_SSL_set_tlsext_host_name(ssl, bare)
        }
        guard verify else { return }
        if isIPAddress {
            if X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), bare) != 1 {
                throw TLSContext.configurationError("could not set '\(bare)' as the expected certificate IP address")
            }
        } else {
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            if SSL_set1_host(ssl, bare) != 1 {
                throw TLSContext.configurationError("could not set '\(bare)' as the expected certificate host name")
            }
        }
    }

    /// Hands ciphertext that arrived from the socket to OpenSSL.
    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = Self.inPieces(count: bytes.count, limit: 1 << 30) { offset, length in BIO_write(input, base + offset, length) }
    }

    /// Runs `step` over `count` bytes in consecutive pieces OpenSSL's `int` lengths can count (at most `limit`,
    /// itself at most `Int32.max`), so a buffer of 2 GiB or more never traps in `Int32(_:)`; `step` gets the
    /// offset and length of a piece and returns how much of it it took (partial counts continue at the next
    /// byte; zero or less stops). Returns how many bytes were taken in all.
    static func inPieces(count: Int, limit: Int = Int(Int32.max), _ step: (_ offset: Int, _ length: Int32) -> Int32) -> Int {
        let limit = max(1, min(limit, Int(Int32.max)))
        var offset = 0
        while offset < count {
            let length = Int32(truncatingIfNeeded: min(count - offset, limit))
            let taken = step(offset, length)
            if taken <= 0 { break }
            offset += Int(min(taken, length))
        }
        return offset
    }

    /// Moves ciphertext OpenSSL produced (handshake messages, records, alerts) to the end of `buffer`.
    func drainOutput(into buffer: inout [UInt8]) {
        guard !sink.bytes.isEmpty else { return }
        if buffer.isEmpty {
            swap(&buffer, &sink.bytes)
        } else {
            buffer.append(contentsOf: sink.bytes)
        }
        sink.bytes = []  // an idle session keeps no output buffer
    }

    /// Advances the handshake as far as the input received so far allows.
    func handshake() -> Step {
        if handshakeComplete { return .done }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeComplete = true
            captureSession()
            return .done
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .needsInput }
        return .failed(handshakeError())
    }

    /// About how many plaintext bytes the ciphertext received so far holds: what OpenSSL has decrypted and not
    /// handed out, plus the ciphertext not yet decrypted (records only shrink when decrypted), plus a record's worth
    /// when OpenSSL holds a partial record of its own. Sizes the array a round of reads decrypts into; a guess too
    /// small only costs another array.
    var plaintextEstimate: Int {
        let decrypted = Int(SSL_pending(ssl))
        let partial = decrypted == 0 && SSL_has_pending(ssl) != 0 ? 16 * 1024 : 0
        let (sum, overflow) = Int(clamping: BIO_ctrl_pending(input)).addingReportingOverflow(max(0, decrypted) + partial)
        return overflow ? Int.max : sum
    }

    /// Decrypts application data into `buffer`.
    ///
    /// Once everything received is consumed, the session holds no record buffers: `SSL_MODE_RELEASE_BUFFERS`
    /// frees the read buffer after each record, but an `SSL_read` that finds no input allocates it again (about
    /// 17 KiB) and keeps it while the connection idles. So no read is attempted while neither the input BIO nor
    /// the session holds anything, and a read that ran dry frees what it allocated (`SSL_free_buffers` refuses
    /// while a partial record is buffered).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> ReadOutcome {
        if handshakeComplete, BIO_ctrl_pending(input) == 0, SSL_has_pending(ssl) == 0 {
            return .needsInput
        }
        ERR_clear_error()
        let rc = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        // TLS 1.3 tickets arrive after the handshake, processed by the first reads.
        if !sessionCaptured { captureSession() }
        if rc > 0 { return .bytes(Int(rc)) }
        let error = SSL_get_error(ssl, rc)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            if BIO_ctrl_pending(input) == 0 { _ = SSL_free_buffers(ssl) }
            return .needsInput
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        case SSL_ERROR_SYSCALL where ERR_peek_error() == 0:
            return .closed
        default:
            return .failed(TransportError(
                .tlsProtocolError, "TLS error reading from \(peerDescription): \(OpenSSLErrors.drain())"))
        }
    }

    /// Encrypts `bytes` and appends the records to `buffer`; the output BIO never pushes back, so it writes
    /// everything or fails.
    ///
    /// OpenSSL writes the records straight to the end of `buffer` (lent to the sink for the call): no copy of
    /// them is made on the way. Lengths go to OpenSSL in pieces of at most `piece` bytes (an `int`).
    func write(_ bytes: UnsafeRawBufferPointer, into buffer: inout [UInt8], piece: Int = 1 << 24) -> TransportError? {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return nil }
        // Output made earlier (by a read: alerts, key updates) goes first.
        drainOutput(into: &buffer)
        swap(&sink.bytes, &buffer)
        defer { swap(&sink.bytes, &buffer) }
        let written = Self.inPieces(count: bytes.count, limit: piece) { offset, length in
            ERR_clear_error()
            return SSL_write(ssl, base + offset, length)
        }
        guard written == bytes.count else {
            return TransportError(
                .tlsProtocolError, "TLS error writing to \(peerDescription): \(OpenSSLErrors.drain())")
        }
        return nil
    }

    /// Whether the handshake resumed an earlier session instead of running in full.
    var resumedSession: Bool { SSL_session_reused(ssl) == 1 }

    /// Keeps the first resumable session of a client connection for the next connection to the same server.
    private func captureSession() {
        guard let cache = sessionCache, !sessionCaptured, let session = SSL_get_session(ssl),
            SSL_SESSION_is_resumable(session) == 1
        else { return }
        sessionCaptured = true
        cache.store(session, for: sessionKey)
    }

    /// Queues a close_notify alert (graceful TLS close).
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    /// Turns a failed handshake into the most specific error: certificate problems get their own codes.
    private func handshakeError() -> TransportError {
        let detail = OpenSSLErrors.drain()
        let verifyResult = Int32(SSL_get_verify_result(ssl))
        if verifiesPeer, verifyResult != X509_V_OK {
            let reason = String(cString: X509_verify_cert_error_string(Int(verifyResult)))
            return TLSSession.verificationError(code: verifyResult, reason: reason, peer: peerDescription)
        }
        return TransportError(.tlsHandshakeFailed, "TLS handshake with \(peerDescription) failed: \(detail)")
    }

    static func verificationError(code: Int32, reason: String, peer: String) -> TransportError {
        switch code {
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return TransportError(
                .hostNameMismatch,
                "the certificate of \(peer) is not valid for that name (\(reason)); connect using a name the "
                    + "certificate lists, or set serverNameOverride")
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return TransportError(
                .certificateExpired, "the certificate of \(peer) has expired (\(reason)); the server must renew it")
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return TransportError(
                .certificateNotYetValid,
                "the certificate of \(peer) is not valid yet (\(reason)); check the clocks of both machines")
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
            X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_UNTRUSTED:
            return TransportError(
                .untrustedIssuer,
                "the certificate of \(peer) was not issued by a trusted authority (\(reason)); trust its CA with "
                    + "TLSClientConfiguration.trustRoots (e.g. .file(\"ca.pem\")), or the toolbox CLI's --ca-file")
        default:
            return TransportError(.certificateInvalid, "the certificate of \(peer) was rejected: \(reason)")
        }
    }
}

/// Where a session's output BIO puts OpenSSL's records. Used on the session's queue only, inside OpenSSL calls the
/// session makes.
final class TLSOutputSink {
    var bytes: [UInt8] = []
}

/// A write-only BIO that appends what OpenSSL writes to a `TLSOutputSink`'s array.
///
/// A memory BIO cost two copies of every record on the way out (into the BIO, and out of it with `BIO_read`) and
/// kept its buffer while the connection idled; this BIO appends to the array the connection sends from, and
/// `TLSSession.write` lends it the connection's own buffer, so records are written where they are sent from.
enum TLSOutputBIO {
    /// The method table, made once per process and never freed (OpenSSL keeps a pointer to it in every BIO).
    private struct Method: @unchecked Sendable {
        // @unchecked Sendable: the pointer is written once, while the static is initialised, and only read after.
        let pointer: OpaquePointer?
    }

    private static let method = Method(pointer: {
        OpenSSLLibrary.ensureInitialized()
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "toolbox TLS output") else {
            return nil
        }
        _ = BIO_meth_set_write(method) { bio, data, length in
            guard let bio, let data, length > 0, let box = BIO_get_data(bio) else { return 0 }
            let sink = Unmanaged<TLSOutputSink>.fromOpaque(box).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeBufferPointer(
                start: UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: Int(length)))
            return length
        }
        // OpenSSL flushes after each handshake flight; nothing is buffered here, so every flush succeeds. Other
        // controls (pending counts, kTLS queries) answer 0: nothing pending, not supported.
        _ = BIO_meth_set_ctrl(method) { _, command, _, _ in command == BIO_CTRL_FLUSH ? 1 : 0 }
        _ = BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        return method
    }())

    /// A new BIO writing to `sink` (held unretained: the session that owns the BIO holds the sink).
    static func make(for sink: TLSOutputSink) -> OpaquePointer? {
        guard let method = method.pointer, let bio = BIO_new(method) else { return nil }
        BIO_set_data(bio, Unmanaged.passUnretained(sink).toOpaque())
        return bio
    }
}
