import ToolboxCore

/// An Azure Storage connection string, parsed, with the Blob endpoint resolved.
///
/// ```swift
/// let cs = try StorageConnectionString(parsing: "DefaultEndpointsProtocol=https;AccountName=myaccount;"
///     + "AccountKey=...;EndpointSuffix=core.windows.net")
/// cs.blobEndpoint   // "https://myaccount.blob.core.windows.net"
/// ```
///
/// Keys (case-insensitive): `AccountName`, `AccountKey`, `SharedAccessSignature`, `BlobEndpoint`,
/// `DefaultEndpointsProtocol`, `EndpointSuffix`, `UseDevelopmentStorage`. `UseDevelopmentStorage=true` means the
/// Azurite well-known account (`devstoreaccount1`) at `http://127.0.0.1:10000/devstoreaccount1`.
public struct StorageConnectionString: Sendable, CustomStringConvertible {
    /// The well-known development storage account name (Azurite, the emulator).
    public static let developmentAccountName = "devstoreaccount1"
    /// The well-known, public development storage account key; not a secret, but kept in a `Secret` like any key.
    public static let developmentAccountKey = Secret(
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")

    /// `AccountName`; nil only for SAS-only strings that give an explicit `BlobEndpoint`.
    public let accountName: String?
    /// `AccountKey`, the base64 Shared Key.
    public let accountKey: Secret<String>?
    /// `SharedAccessSignature`, an account or service SAS (without a leading `?`).
    public let sharedAccessSignature: Secret<String>?
    /// `DefaultEndpointsProtocol` (`https` unless given).
    public let defaultEndpointsProtocol: String
    /// `EndpointSuffix` (`core.windows.net` unless given).
    public let endpointSuffix: String
    /// The Blob service endpoint: `BlobEndpoint` when given, else built from protocol, account and suffix;
    /// without a trailing `/`.
    public let blobEndpoint: String
    /// `UseDevelopmentStorage=true`.
    public let useDevelopmentStorage: Bool

    /// Parses `text`; throws `AuthError` naming the missing or invalid key.
    public init(parsing text: String) throws(AuthError) {
        let kind = "Storage"
        let fields = try ConnectionStringFields(parsing: text, kind: kind,
                                                shape: "DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=...")
        useDevelopmentStorage = try fields.bool("UseDevelopmentStorage", kind: kind) ?? false
        if useDevelopmentStorage {
            accountName = Self.developmentAccountName
            accountKey = Self.developmentAccountKey
            sharedAccessSignature = nil
            defaultEndpointsProtocol = "http"
            endpointSuffix = fields["EndpointSuffix"] ?? "core.windows.net"
            let proxy = fields["DevelopmentStorageProxyUri"].map { Self.trimSlash($0) } ?? "http://127.0.0.1"
            blobEndpoint = "\(proxy):10000/\(Self.developmentAccountName)"
            return
        }
        let proto = (fields["DefaultEndpointsProtocol"] ?? "https").lowercased()
        guard proto == "https" || proto == "http" else {
            throw AuthError(.invalidConnectionStringValue, "'DefaultEndpointsProtocol' in the \(kind) connection "
                + "string must be 'https' or 'http'")
        }
        defaultEndpointsProtocol = proto
        endpointSuffix = fields["EndpointSuffix"] ?? "core.windows.net"
        accountName = fields["AccountName"]
        accountKey = fields["AccountKey"].map(Secret.init)
        sharedAccessSignature = fields["SharedAccessSignature"].map { Secret(Self.dropQuestionMark($0)) }
        if let key = accountKey, AuthCrypto.base64Decode(key.exposedValue) == nil {
            throw AuthError(.invalidKey, "'AccountKey' in the \(kind) connection string is not valid base64; copy "
                + "the key again from the portal ('Access keys')")
        }
        if accountKey != nil, accountName == nil {
            throw AuthError(.missingConnectionStringKey, "the \(kind) connection string has 'AccountKey' but no "
                + "'AccountName'; add 'AccountName=<storage account>'")
        }
        if accountKey == nil, sharedAccessSignature == nil {
            throw AuthError(.missingConnectionStringKey, "the \(kind) connection string has neither 'AccountKey' "
                + "nor 'SharedAccessSignature'; add one of them, or use 'UseDevelopmentStorage=true'")
        }
        if let explicit = fields["BlobEndpoint"] {
            blobEndpoint = Self.trimSlash(explicit)
        } else if let accountName {
            blobEndpoint = "\(proto)://\(accountName).blob.\(endpointSuffix)"
        } else {
            throw AuthError(.missingConnectionStringKey, "the \(kind) connection string has neither 'AccountName' "
                + "nor 'BlobEndpoint'; add 'AccountName=<storage account>'")
        }
    }

    /// A Shared Key signer for this account, when the string carries `AccountName` and `AccountKey`.
    public func sharedKeySigner() throws(AuthError) -> StorageSharedKeySigner {
        guard let accountName, let accountKey else {
            throw AuthError(.missingConnectionStringKey, "the Storage connection string has no 'AccountName' and "
                + "'AccountKey' to sign requests with")
        }
        return try StorageSharedKeySigner(accountName: accountName, accountKey: accountKey)
    }

    public var description: String {
        var parts = ["blobEndpoint: \(blobEndpoint)"]
        if let accountName { parts.append("accountName: \(accountName)") }
        if accountKey != nil { parts.append("accountKey: <redacted>") }
        if sharedAccessSignature != nil { parts.append("sharedAccessSignature: <redacted>") }
        if useDevelopmentStorage { parts.append("useDevelopmentStorage: true") }
        return "StorageConnectionString(\(parts.joined(separator: ", ")))"
    }

    private static func trimSlash(_ value: String) -> String {
        var value = value
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }

    private static func dropQuestionMark(_ value: String) -> String {
        value.hasPrefix("?") ? String(value.dropFirst()) : value
    }
}
