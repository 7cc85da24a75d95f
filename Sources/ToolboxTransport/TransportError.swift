import ToolboxCore

/// The TCP, TLS and HTTP layers raise `ToolboxError`s with the codes below; the old name stays for code written
/// against it.
///
/// ```swift
/// if let error = error as? ToolboxError, error.code == .untrustedIssuer { ... }
/// ```
///
/// Messages name hosts, ports and certificate subjects but never secrets (no header values, no bodies).
public typealias TransportError = ToolboxError

extension ToolboxError.Code {
    /// The host name could not be resolved to an address.
    public static let resolutionFailed = Self("resolutionFailed")
    /// No listener at the address (connection refused).
    public static let connectionRefused = Self("connectionRefused")
    /// Connecting failed for another reason (unreachable network, socket exhaustion).
    public static let connectFailed = Self("connectFailed")
    /// The peer reset the connection, or it broke during I/O.
    public static let connectionReset = Self("connectionReset", defaultRecovery: .rebuildConnection)
    /// The connection was already closed on this side.
    public static let closedLocally = Self("closedLocally")
    /// A TLS configuration (certificate, key, CA file) could not be loaded.
    public static let tlsConfigurationInvalid = Self("tlsConfigurationInvalid")
    /// The TLS handshake failed for a reason other than certificate verification.
    public static let tlsHandshakeFailed = Self("tlsHandshakeFailed")
    /// The peer's certificate chain does not lead to a trusted certificate authority.
    public static let untrustedIssuer = Self("untrustedIssuer")
    /// The peer's certificate is not valid for the host name (or IP address) we connected to.
    public static let hostNameMismatch = Self("hostNameMismatch")
    /// The peer's certificate (or one in its chain) has expired.
    public static let certificateExpired = Self("certificateExpired")
    /// The peer's certificate (or one in its chain) is not valid yet.
    public static let certificateNotYetValid = Self("certificateNotYetValid")
    /// Verification failed for another certificate reason (revoked, bad signature, wrong purpose).
    public static let certificateInvalid = Self("certificateInvalid")
    /// A TLS protocol error after the handshake (bad record, unexpected message).
    public static let tlsProtocolError = Self("tlsProtocolError", defaultRecovery: .rebuildConnection)
    /// The peer sent bytes that are not valid HTTP/1.1.
    public static let httpMalformed = Self("httpMalformed", defaultRecovery: .rebuildConnection)
    /// A start line, header line or chunk-size line is longer than the configured limit.
    public static let httpLineTooLong = Self("httpLineTooLong")
    /// The header section is larger (in bytes or count) than the configured limit.
    public static let httpHeadersTooLarge = Self("httpHeadersTooLarge")
    /// A body is larger than the configured limit.
    public static let httpBodyTooLarge = Self("httpBodyTooLarge")
    /// The message ended before its body was complete.
    public static let httpTruncated = Self("httpTruncated", defaultRecovery: .rebuildConnection)
    /// A request could not be sent because it is invalid (bad URL, unsupported scheme, bad header).
    public static let invalidRequest = Self("invalidRequest")
    /// Too many requests are already queued for a connection to this endpoint.
    public static let poolExhausted = Self("poolExhausted")
}

/// The `errno` behind a socket error, kept as the underlying error of a transport `ToolboxError`.
public struct SystemCallError: Error, Hashable, CustomStringConvertible {
    public let errno: Int32
    public init(errno: Int32) { self.errno = errno }
    public var description: String { "errno \(errno)" }
}

extension ToolboxError {
    /// A transport error whose cause is the socket call's `errno` (nil: no underlying error).
    public init(_ code: Code, _ message: String, errno: Int32?) {
        self.init(code, message, underlying: errno.map { SystemCallError(errno: $0) })
    }

    /// The `errno` behind a socket error, when there is one.
    public var systemErrno: Int32? { first(SystemCallError.self)?.errno }

    /// Whether the error is a certificate verification failure (as opposed to a network or protocol failure),
    /// here or anywhere in its chain of underlying errors.
    public var isCertificateVerificationFailure: Bool {
        var current: (any Error)? = self
        while let error = current as? ToolboxError {
            switch error.code {
            case .untrustedIssuer, .hostNameMismatch, .certificateExpired, .certificateNotYetValid,
                 .certificateInvalid:
                return true
            default:
                current = error.underlying
            }
        }
        return false
    }
}
