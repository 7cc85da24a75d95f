import ToolboxCore

/// Produces the SAS tokens an Event Hubs or Service Bus connection puts on `$cbs`, from a key or a fixed
/// signature, with the SDKs' one-hour lifetime.
///
/// ```swift
/// let provider = try SASTokenProvider(connectionString: cs)
/// let (token, expiresOn) = try provider.token(forAudience: cs.audience())
/// // put-token: type "servicebus.windows.net:sastoken", expiration expiresOn * 1000
/// ```
///
/// A refresher should put a new token when 10 % of its lifetime remains (`refreshTime(forExpiry:)`).
public struct SASTokenProvider: Sendable, CustomStringConvertible {
    private enum Source: Sendable {
        case key(name: String, key: Secret<String>)
        case signature(Secret<String>, expiry: Int)
    }

    /// Token lifetime in seconds (Azure's SDKs use one hour).
    public var lifetime: Int = 3600
    private let source: Source
    private let clock: @Sendable () -> Int

    /// Signs tokens with a shared access key.
    public init(keyName: String, key: Secret<String>, clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds) {
        source = .key(name: keyName, key: key)
        self.clock = clock
    }

    /// Uses the connection string's key, or its fixed `SharedAccessSignature`.
    public init(
        connectionString: MessagingConnectionString, clock: @escaping @Sendable () -> Int = UTCDate.nowUnixSeconds
    ) throws(AuthError) {
        self.clock = clock
        if let name = connectionString.sharedAccessKeyName, let key = connectionString.sharedAccessKey {
            source = .key(name: name, key: key)
        } else if let signature = connectionString.sharedAccessSignature {
            guard let parsed = SharedAccessSignature.parse(signature.exposedValue) else {
                throw AuthError(.invalidConnectionStringValue, "'SharedAccessSignature' in the connection string is "
                    + "not a 'SharedAccessSignature sr=...&sig=...&se=...&skn=...' token")
            }
            source = .signature(signature, expiry: parsed.expiry)
        } else {
            throw AuthError(.missingConnectionStringKey, "the connection string has no 'SharedAccessKey' or "
                + "'SharedAccessSignature'")
        }
    }

    /// A token for `audience` and its expiry in UNIX seconds.
    ///
    /// - throws: `AuthError.Code.authenticationFailed` when a fixed signature has already expired.
    public func token(forAudience audience: String) throws(AuthError) -> (token: Secret<String>, expiresOn: Int) {
        switch source {
        case .key(let name, let key):
            let expiry = clock() + lifetime
            return (SharedAccessSignature.token(audience: audience, keyName: name, key: key, expiry: expiry), expiry)
        case .signature(let signature, let expiry):
            guard expiry > clock() else {
                throw AuthError(.authenticationFailed, "the connection string's SharedAccessSignature expired at "
                    + "\(expiry) (UNIX seconds); issue a new one")
            }
            return (signature, expiry)
        }
    }

    /// When to put a fresh token: with 10 % of the lifetime left, as the SDKs do.
    public func refreshTime(forExpiry expiry: Int) -> Int {
        expiry - lifetime / 10
    }

    public var description: String {
        switch source {
        case .key(let name, _): return "SASTokenProvider(keyName: \(name), key: <redacted>)"
        case .signature(_, let expiry): return "SASTokenProvider(signature: <redacted>, expiry: \(expiry))"
        }
    }
}
