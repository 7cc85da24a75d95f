import AzureAuth
import Dispatch
import Logging
import ToolboxCore
import ToolboxTransport

/// What `BlobContainer` and `ManagedBlobContainer` share: the pipeline, how an operation starts and runs, transfers
/// and SAS signing.
final class BlobContainerCore: Sendable {
    let pipeline: BlobPipeline
    private let delegationKeys: UserDelegationKeyCache
    /// The permission letters a blob SAS may carry (read, add, create, write, delete, delete version, permanent
    /// delete, tags, list, filter, move, execute, ownership, permissions, immutability), as the SDKs accept them.
    static let sasPermissionLetters = "racwdxytlfmeopi"

    init(pipeline: BlobPipeline) {
        self.pipeline = pipeline
        self.delegationKeys = UserDelegationKeyCache()
    }

    var containerName: String { pipeline.containerName }
    var options: BlobClientOptions { pipeline.options }

    /// Starts an operation: refuses an empty or over-long blob name before any I/O.
    func start<T: Sendable>(
        _ what: String, blobName: String?, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<T, ToolboxError>) -> Void,
        body: (BlobOperation<T>) -> Void
    ) -> BlobOperation<T> {
        let operation = BlobOperation(what, queue: queue, completion: completion)
        if let blobName, blobName.isEmpty || blobName.unicodeScalars.count > BlobNames.characterLimit {
            operation.finish(.failure(ToolboxError(.invalidArgument, "\(what): a blob name must have 1 to "
                + "\(BlobNames.characterLimit) characters (BlobNames.safe cleans names up)")))
            return operation
        }
        body(operation)
        return operation
    }

    /// An operation of one request: `request` builds it (or refuses with a typed error before any I/O) and
    /// `value` reads the operation's result from the answer.
    func single<T: Sendable>(
        _ what: String, blobName: String?, timeout: Duration, queue: DispatchQueue,
        completion: @escaping @Sendable (Result<T, ToolboxError>) -> Void,
        request: () throws(ToolboxError) -> BlobRequest,
        value: @escaping @Sendable (HTTPResponse) throws(ToolboxError) -> T
    ) -> any Cancellable {
        start(what, blobName: blobName, queue: queue, completion: completion) { op in
            let built: BlobRequest
            do throws(ToolboxError) {
                built = try request()
            } catch {
                return op.finish(.failure(error))
            }
            pipeline.send(built, deadline: .after(timeout), tracker: op) { result in
                op.finish(result.flatMap { response in Result { () throws(ToolboxError) in try value(response) } })
            }
        }
    }

    /// `x-ms-meta-<name>` headers; names must be C# identifiers and values single-line ASCII, as Azure requires.
    static func metadataHeaders(_ metadata: [String: String]) throws(ToolboxError) -> [(String, String)] {
        var headers: [(String, String)] = []
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            let nameOK = !name.isEmpty && name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                    || byte == 0x5F
            } && !(name.utf8.first.map { $0 >= 0x30 && $0 <= 0x39 } ?? false)
            guard nameOK else {
                throw ToolboxError(.invalidArgument, "metadata name '\(name.prefix(64))' is not a C# identifier "
                    + "(letters, digits, '_', not starting with a digit)")
            }
            guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw ToolboxError(.invalidArgument, "the value of metadata '\(name)' must be printable ASCII on "
                    + "one line")
            }
            headers.append(("x-ms-meta-\(name)", value))
        }
        return headers
    }

    // MARK: SAS

    /// The longest life of a user delegation SAS: its key's, seven days.
    static let longestDelegatedSAS: Int64 = 7 * 86_400
    /// The longest life of a SAS signed with the account key that `sas(for:)` signs: ten years.
    static let longestKeySAS: Int64 = 10 * 365 * 86_400

    func sas(for names: [String], options sasOptions: BlobSASOptions, timeout: Duration, queue: DispatchQueue,
             completion: @escaping @Sendable (Result<[BlobSAS], ToolboxError>) -> Void) -> any Cancellable {
        start("signing SAS tokens", blobName: nil, queue: queue, completion: completion) { op in
            guard let account = pipeline.accountName else {
                return op.finish(.failure(ToolboxError(.invalidConfiguration, "the account name is unknown (neither "
                    + "in the credential nor in the URL), so no SAS can be signed")))
            }
            // A user delegation SAS cannot outlive its key (at most seven days); a service SAS signed with the
            // account key has no limit of its own, but stays within ten years here (a checked sum, a four-digit year).
            let seconds = sasOptions.expiresIn.components.seconds
            var delegated = sasOptions.useUserDelegationKey
            if case .token = pipeline.credential { delegated = true }
            let longest: Int64 = delegated ? Self.longestDelegatedSAS : Self.longestKeySAS
            guard seconds > 0, seconds <= longest else {
                let limit = delegated ? "7 days (the user delegation key's limit)" : "10 years"
                return op.finish(.failure(ToolboxError(.invalidArgument, "a SAS must expire within 1 second and "
                    + "\(limit), not \(sasOptions.expiresIn)")))
            }
            let letters = sasOptions.permissions
            guard !letters.isEmpty, letters.allSatisfy({ Self.sasPermissionLetters.contains($0) }),
                  Set(letters).count == letters.count else {
                return op.finish(.failure(ToolboxError(.invalidArgument, "SAS permissions '\(letters)' are not "
                    + "distinct letters of \(Self.sasPermissionLetters) (e.g. r, rw, racwd)")))
            }
            let now = UTCDate.nowUnixSeconds()
            let expiry = now + Int(seconds)
            let sign: @Sendable (BlobSASBuilder) throws(AuthError) -> Secret<String>
            switch pipeline.credential {
            case .sharedKey(_, let key) where !sasOptions.useUserDelegationKey:
                sign = { builder throws(AuthError) in try builder.token(accountKey: key) }
                op.finish(Self.sign(names, account: account, container: containerName, sasOptions: sasOptions,
                                    expiry: expiry, pipeline: pipeline, sign: sign))
            case .token:
                delegationKeys.key(validUntil: expiry, now: now, pipeline: pipeline, deadline: .after(timeout),
                                   tracker: op) { [containerName, pipeline] result in
                    op.finish(result.flatMap { key in
                        Self.sign(names, account: account, container: containerName, sasOptions: sasOptions,
                                  expiry: expiry, pipeline: pipeline) { builder throws(AuthError) in
                            try builder.token(userDelegationKey: key)
                        }
                    })
                }
            case .sharedKey:
                op.finish(.failure(ToolboxError(.invalidConfiguration, "a user delegation SAS needs a token "
                    + "credential (Entra ID) to fetch the key with; this client signs with an account key")))
            default:
                op.finish(.failure(ToolboxError(.invalidConfiguration, "signing a SAS needs an account key (Shared "
                    + "Key) or a token credential (user delegation key); this client has \(pipeline.credential)")))
            }
        }
    }

    private static func sign(
        _ names: [String], account: String, container: String, sasOptions: BlobSASOptions, expiry: Int,
        pipeline: BlobPipeline, sign: (BlobSASBuilder) throws(AuthError) -> Secret<String>
    ) -> Result<[BlobSAS], ToolboxError> {
        var result: [BlobSAS] = []
        for name in names {
            guard !name.isEmpty, name.unicodeScalars.count <= BlobNames.characterLimit else {
                return .failure(ToolboxError(.invalidArgument, "a SAS was asked for a blob name of \(name.unicodeScalars.count) "
                    + "characters; blob names have 1 to \(BlobNames.characterLimit)"))
            }
            var builder = BlobSASBuilder(accountName: account, containerName: container, blobName: name,
                                         permissions: sasOptions.permissions, expiry: expiry,
                                         signedProtocol: sasOptions.signedProtocol)
            builder.version = pipeline.options.serviceVersion
            do {
                let token = try sign(builder)
                let url = pipeline.url(blob: name) + "?" + token.exposedValue
                result.append(BlobSAS(blobName: name, token: token, url: Secret(url), expiresOn: expiry))
            } catch {
                return .failure(ToolboxError(error.code, "signing a SAS for '\(name)' failed: \(error.message)",
                                             underlying: error))
            }
        }
        return .success(result)
    }
}

/// The user delegation key, fetched once and reused while it covers the SAS being signed (Azure allows up to
/// seven days; a new key is asked for only when a SAS would outlive the cached one).
final class UserDelegationKeyCache: Sendable {
    private let cached = LockedValue<(key: UserDelegationKey, expiry: Int)?>(nil)

    func key(validUntil expiry: Int, now: Int, pipeline: BlobPipeline, deadline: Deadline,
             tracker: BlobOperation<some Sendable>,
             completion: @escaping @Sendable (Result<UserDelegationKey, ToolboxError>) -> Void) {
        if let hit = cached.load(), hit.expiry >= expiry, UTCDate.parseISO8601(hit.key.signedStart) ?? now <= now {
            return completion(.success(hit.key))
        }
        // Asking for an hour at least (or the SAS's life) lets a burst of SAS requests share one key.
        let keyExpiry = min(max(expiry, now + 3600), now + 7 * 86_400)
        let request = BlobRequest(
            method: "POST", resource: .service, query: [("restype", "service"), ("comp", "userdelegationkey")],
            headers: [("Content-Type", "application/xml")], body: BlobXML.keyInfo(start: now, expiry: keyExpiry),
            expected: [200], operation: "getting a user delegation key")
        pipeline.send(request, deadline: deadline, tracker: tracker) { [cached] result in
            completion(result.flatMap { response in
                Result { () throws(ToolboxError) in
                    let key = try BlobXML.userDelegationKey(response.body)
                    let keyEnd = UTCDate.parseISO8601(key.signedExpiry) ?? keyExpiry
                    cached.withLockedValue { $0 = (key, keyEnd) }
                    guard keyEnd >= expiry else {
                        throw ToolboxError(.invalidResponse, "the service's user delegation key expires before "
                            + "the SAS would")
                    }
                    return key
                }
            })
        }
    }
}
