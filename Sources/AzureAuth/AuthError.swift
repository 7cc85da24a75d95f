import ToolboxCore

/// AzureAuth raises `ToolboxError`s with the codes below; the old name stays for code written against it.
///
/// ```swift
/// do { _ = try EventHubsConnectionString(parsing: text) }
/// catch let error as ToolboxError where error.code == .missingConnectionStringKey { ... }
/// ```
///
/// Messages never contain secrets: keys, tokens, client secrets and connection strings are named, never echoed.
public typealias AuthError = ToolboxError

extension ToolboxError.Code {
    /// A connection string is not a `key=value;...` list.
    public static let malformedConnectionString = Self("malformedConnectionString")
    /// A connection string lacks a key it needs.
    public static let missingConnectionStringKey = Self("missingConnectionStringKey")
    /// A connection-string key has a value that cannot be used.
    public static let invalidConnectionStringValue = Self("invalidConnectionStringValue")
    /// A signing key (account key, Cosmos key, user-delegation key) is not valid base64.
    public static let invalidKey = Self("invalidKey")
    /// The credential cannot run in this environment (missing variables, no `az`, no identity); a chain moves
    /// on to its next member.
    public static let credentialUnavailable = Self("credentialUnavailable")
    /// The identity provider refused the credential or answered with something unusable.
    public static let authenticationFailed = Self("authenticationFailed")
    /// The token endpoint could not be reached; `underlying` holds the transport's error.
    public static let transportFailed = Self("transportFailed")
}

extension ToolboxError {
    /// The codes AzureAuth raises itself; `wrap` passes errors with these codes through unchanged.
    static let authCodes: Set<Code> = [
        .malformedConnectionString, .missingConnectionStringKey, .invalidConnectionStringValue, .invalidKey,
        .invalidArgument, .credentialUnavailable, .authenticationFailed, .transportFailed, .timedOut, .cancelled,
        .blockingCallOnLibraryQueue,
    ]

    /// Maps any error onto an auth error: one of AzureAuth's own passes through, timeouts and cancellations stay
    /// recognisable, anything else becomes `code` with the original as `underlying`.
    static func wrap(_ error: any Error, _ code: Code, context: String) -> ToolboxError {
        if let error = error as? ToolboxError {
            if error.code == .timedOut || error.code == .cancelled {
                return ToolboxError(error.code, "\(context): \(error.message)", underlying: error)
            }
            if authCodes.contains(error.code) { return error }
        }
        return ToolboxError(code, "\(context): \(error)", underlying: error)
    }
}
