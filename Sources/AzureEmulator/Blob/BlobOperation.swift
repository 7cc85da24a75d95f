/// One Blob REST operation, recognised from method, path depth and `restype`/`comp`.
enum BlobOperation: String, Sendable, Equatable {
    case listContainers, getUserDelegationKey, getAccountInfo
    case createContainer, deleteContainer, getContainerProperties, setContainerMetadata, listBlobs
    case putBlob, putBlobFromURL, putBlock, putBlockList, getBlockList
    case getBlob, getBlobProperties, getBlobMetadata, setBlobMetadata, setBlobProperties, deleteBlob

    enum Scope: Sendable, Equatable {
        case account, container, blob
    }

    var scope: Scope {
        switch self {
        case .listContainers, .getUserDelegationKey, .getAccountInfo: return .account
        case .createContainer, .deleteContainer, .getContainerProperties, .setContainerMetadata, .listBlobs: return .container
        default: return .blob
        }
    }

    /// SAS permission letters of which one allows the operation (`c` creates only: it cannot overwrite).
    func sasPermissions(blobExists: Bool) -> Set<Character> {
        switch self {
        case .getBlob, .getBlobProperties, .getBlobMetadata, .getBlockList, .getContainerProperties: return ["r"]
        case .listBlobs: return ["l"]
        case .deleteBlob, .deleteContainer: return ["d"]
        case .putBlob, .putBlobFromURL, .putBlockList: return blobExists ? ["w"] : ["w", "c"]
        case .putBlock, .setBlobMetadata, .setBlobProperties, .setContainerMetadata: return ["w"]
        case .createContainer: return ["c"]
        case .listContainers, .getUserDelegationKey, .getAccountInfo: return []
        }
    }

    /// The operation a request asks for, or the error Azure gives for an unknown combination.
    static func recognise(method: String, depth: Int, restype: String?, comp: String?, hasCopySource: Bool) -> Result<BlobOperation, BlobError> {
        let unsupported = BlobError(400, "UnsupportedHttpVerb",
                                    "The resource doesn't support the specified HTTP verb (\(method.prefix(16)) with restype=\(restype ?? "") comp=\(comp ?? "")).")
        let isRead = method == "GET" || method == "HEAD"
        switch depth {
        case 0:
            switch (method, restype, comp) {
            case ("GET", _, "list"): return .success(.listContainers)
            case ("POST", "service", "userdelegationkey"): return .success(.getUserDelegationKey)
            case (_, "account", "properties") where isRead: return .success(.getAccountInfo)
            default: return .failure(unsupported)
            }
        case 1:
            if restype == "account", comp == "properties", isRead { return .success(.getAccountInfo) }
            guard restype == "container" else {
                return .failure(BlobError(400, "InvalidQueryParameterValue",
                                          "Value for one of the query parameters specified in the request URI is invalid: restype must be 'container'."))
            }
            switch (method, comp) {
            case ("PUT", nil): return .success(.createContainer)
            case ("DELETE", nil): return .success(.deleteContainer)
            case (_, nil) where isRead: return .success(.getContainerProperties)
            case (_, "metadata") where isRead: return .success(.getContainerProperties)
            case ("PUT", "metadata"): return .success(.setContainerMetadata)
            case ("GET", "list"): return .success(.listBlobs)
            default: return .failure(unsupported)
            }
        default:
            switch (method, comp) {
            case ("PUT", nil): return .success(hasCopySource ? .putBlobFromURL : .putBlob)
            case ("PUT", "block"): return .success(.putBlock)
            case ("PUT", "blocklist"): return .success(.putBlockList)
            case ("GET", "blocklist"): return .success(.getBlockList)
            case (_, nil) where method == "GET": return .success(.getBlob)
            case (_, nil) where method == "HEAD": return .success(.getBlobProperties)
            case (_, "metadata") where isRead: return .success(.getBlobMetadata)
            case ("PUT", "metadata"): return .success(.setBlobMetadata)
            case ("PUT", "properties"): return .success(.setBlobProperties)
            case ("DELETE", nil): return .success(.deleteBlob)
            default: return .failure(unsupported)
            }
        }
    }
}
