import ToolboxCore

/// An error from the TCP, TLS or HTTP layers, with a code to match on and a message that says what to change.
///
/// ```swift
/// if let error = error as? TransportError, error.code == .untrustedIssuer { ... }
/// ```
///
/// Messages name hosts, ports and certificate subjects but never secrets (no header values, no bodies).
public struct TransportError: ToolboxError, Equatable {
    /// What went wrong, coarse enough to branch on.
    public enum Code: String, Sendable, Equatable {
        /// The host name could not be resolved to an address.
        case resolutionFailed
        /// No listener at the address (connection refused).
        case connectionRefused
        /// Connecting failed for another reason (unreachable network, socket exhaustion).
        case connectFailed
        /// The deadline of a connect, read, write or request passed.
        case timedOut
        /// The operation was cancelled through its `Cancellable`.
        case cancelled
        /// The peer reset the connection, or it broke during I/O.
        case connectionReset
        /// The peer closed the connection before the operation could finish.
        case connectionClosed
        /// The connection was already closed on this side.
        case closedLocally
        /// Binding or listening on a local address failed.
        case listenFailed
        /// A TLS configuration (certificate, key, CA file) could not be loaded.
        case tlsConfigurationInvalid
        /// The TLS handshake failed for a reason other than certificate verification.
        case tlsHandshakeFailed
        /// The peer's certificate chain does not lead to a trusted certificate authority.
        case untrustedIssuer
        /// The peer's certificate is not valid for the host name (or IP address) we connected to.
        case hostNameMismatch
        /// The peer's certificate (or one in its chain) has expired.
        case certificateExpired
        /// The peer's certificate (or one in its chain) is not valid yet.
        case certificateNotYetValid
        /// Verification failed for another certificate reason (revoked, bad signature, wrong purpose).
        case certificateInvalid
        /// A TLS protocol error after the handshake (bad record, unexpected message).
        case tlsProtocolError
        /// The peer sent bytes that are not valid HTTP/1.1.
        case httpMalformed
        /// A start line, header line or chunk-size line is longer than the configured limit.
        case httpLineTooLong
        /// The header section is larger (in bytes or count) than the configured limit.
        case httpHeadersTooLarge
        /// A body is larger than the configured limit.
        case httpBodyTooLarge
        /// The message ended before its body was complete.
        case httpTruncated
        /// A request could not be sent because it is invalid (bad URL, unsupported scheme, bad header).
        case invalidRequest
        /// Too many requests are already queued for a connection to this endpoint.
        case poolExhausted
    }

    public let code: Code
    public let message: String
    /// The `errno` behind a socket error, when there is one.
    public let systemErrno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.systemErrno = errno
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// Whether the error is a certificate verification failure (as opposed to a network or protocol failure).
    public var isCertificateVerificationFailure: Bool {
        switch code {
        case .untrustedIssuer, .hostNameMismatch, .certificateExpired, .certificateNotYetValid, .certificateInvalid:
            return true
        default:
            return false
        }
    }

    public static func == (lhs: TransportError, rhs: TransportError) -> Bool { lhs.code == rhs.code }
}
