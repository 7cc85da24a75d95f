import ToolboxCore

/// Every error AzureAuth throws or delivers: a code to match on and a message naming what was wrong and what to
/// change.
///
/// ```swift
/// do { _ = try EventHubsConnectionString(parsing: text) }
/// catch let error as AuthError where error.code == .missingConnectionStringKey { ... }
/// ```
///
/// Messages never contain secrets: keys, tokens, client secrets and connection strings are named, never echoed.
public struct AuthError: ToolboxError, Equatable {
    /// What kind of failure this is.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A connection string is not a `key=value;...` list.
        public static let malformedConnectionString = Code(rawValue: "malformedConnectionString")
        /// A connection string lacks a key it needs.
        public static let missingConnectionStringKey = Code(rawValue: "missingConnectionStringKey")
        /// A connection-string key has a value that cannot be used.
        public static let invalidConnectionStringValue = Code(rawValue: "invalidConnectionStringValue")
        /// A signing key (account key, Cosmos key, user-delegation key) is not valid base64.
        public static let invalidKey = Code(rawValue: "invalidKey")
        /// An argument (URL, scope, date, option) cannot be used.
        public static let invalidArgument = Code(rawValue: "invalidArgument")
        /// The credential cannot run in this environment (missing variables, no `az`, no identity); a chain moves
        /// on to its next member.
        public static let credentialUnavailable = Code(rawValue: "credentialUnavailable")
        /// The identity provider refused the credential or answered with something unusable.
        public static let authenticationFailed = Code(rawValue: "authenticationFailed")
        /// The token endpoint could not be reached.
        public static let transportFailed = Code(rawValue: "transportFailed")
        /// The operation's deadline passed.
        public static let timedOut = Code(rawValue: "timedOut")
        /// The operation was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "AuthError.\(code.rawValue): \(message)" }

    public static func == (lhs: AuthError, rhs: AuthError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    /// Maps any error onto an `AuthError`, keeping timeouts and cancellations recognisable.
    static func wrap(_ error: any Error, _ code: Code, context: String) -> AuthError {
        if let error = error as? AuthError { return error }
        if let core = error as? CoreError {
            switch core.code {
            case .timedOut: return AuthError(.timedOut, "\(context): \(core.message)")
            case .cancelled: return AuthError(.cancelled, "\(context): \(core.message)")
            default: break
            }
        }
        return AuthError(code, "\(context): \(error)")
    }
}
