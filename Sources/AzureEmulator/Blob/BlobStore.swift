import AzureAuth
import Foundation
import ToolboxCore

/// The emulated account's containers and block blobs, in memory, bounded by `EmulatorHTTPLimits`.
///
/// A blob is kept as its blocks (a Put Blob body is one block), so committing a block list never copies bytes
/// and a read hands out the blocks themselves, to be sliced piece by piece while streaming. Every operation
/// checks its conditions and applies its change under one lock, so a conditional write is atomic.
final class BlobStore: Sendable {
    struct State: Sendable {
        var containers: [String: StoredContainer] = [:]
        /// Committed and uncommitted block bytes held in total.
        var storedBytes = 0
        var etagCounter: UInt64
    }

    /// Azure's per-blob bounds (Put Block List: 50,000 committed blocks; 100,000 uncommitted; 64-byte ids).
    static let maxCommittedBlocks = 50_000
    static let maxUncommittedBlocks = 100_000
    static let maxBlockIDBytes = 64

    private let state: LockedValue<State>
    let maxBlobBytes: Int
    let maxStoreBytes: Int

    init(limits: EmulatorHTTPLimits) {
        maxBlobBytes = max(0, limits.maxBlobBytes)
        maxStoreBytes = max(0, limits.maxBlobStoreBytes)
        // ETags differ between emulator runs, as they would between two Azure blobs.
        state = LockedValue(State(etagCounter: UInt64.random(in: 1 << 40 ..< 1 << 44)))
    }

    /// Bytes of block data held now (committed and uncommitted).
    var storedBytes: Int { state.withLockedValue { $0.storedBytes } }

    private static func nextETag(_ state: inout State) -> String {
        state.etagCounter &+= 1
        let hex = String(state.etagCounter, radix: 16, uppercase: true)
        return "\"0x8DC" + String(repeating: "0", count: max(0, 13 - hex.count)) + hex + "\""
    }

    private static func now() -> Int { UTCDate.nowUnixSeconds() }

    // MARK: Containers

    /// Valid container names: 3–63 of `a-z0-9-`, starting with a letter or digit, no `--`, not ending in `-`.
    static func isValidContainerName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else { return false }
        var previous: UInt8 = 0
        for byte in bytes {
            let ok = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-")
            if !ok || (byte == UInt8(ascii: "-") && previous == byte) { return false }
            previous = byte
        }
        return true
    }

    /// Containers Azure names itself: `$root` (which an account may create), `$logs` (analytics logs) and `$web`
    /// (static websites). Requests naming them pass the name check; only `$root` can be created here.
    static let specialContainerNames: Set<String> = ["$root", "$logs", "$web"]

    /// Why `name` cannot name a container, answered as Azure answers it on any container or blob request (nil when
    /// it can): 400 `OutOfRangeInput` outside 3–63 characters, else 400 `InvalidResourceName` — also for a special
    /// name other than `$root` when `creating`.
    static func containerNameError(_ name: String, creating: Bool = false) -> BlobError? {
        if specialContainerNames.contains(name), !creating || name == "$root" { return nil }
        guard specialContainerNames.contains(name) || (3...63).contains(name.utf8.count) else {
            return BlobError(400, "OutOfRangeInput", "The specified resource name length is not within the permissible limits.")
        }
        guard isValidContainerName(name) else {
            return BlobError(400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
        }
        return nil
    }

    func createContainer(_ name: String, metadata: [(name: String, value: String)]) -> Result<StoredContainer, BlobError> {
        if let error = Self.containerNameError(name, creating: true) { return .failure(error) }
        return state.withLockedValue { state in
            if state.containers[name] != nil {
                return .failure(BlobError(409, "ContainerAlreadyExists", "The specified container already exists."))
            }
            let now = Self.now()
            let container = StoredContainer(etag: Self.nextETag(&state), created: now, lastModified: now, metadata: metadata)
            state.containers[name] = container
            return .success(container)
        }
    }

    func deleteContainer(_ name: String, conditions: BlobConditions) -> Result<Void, BlobError> {
        state.withLockedValue { state in
            guard let container = state.containers[name] else { return .failure(.containerNotFound()) }
            if let failure = conditions.failure(etag: container.etag, lastModified: container.lastModified, kind: .write) {
                return .failure(failure)
            }
            state.storedBytes -= container.blobs.values.reduce(0) { $0 + $1.size }
                + container.uncommitted.values.reduce(0) { $0 + $1.bytes }
            state.containers[name] = nil
            return .success(())
        }
    }

    /// The container without its blobs (properties and metadata).
    func container(_ name: String) -> Result<StoredContainer, BlobError> {
        state.withLockedValue { state in
            guard var container = state.containers[name] else { return .failure(.containerNotFound()) }
            container.blobs = [:]
            container.uncommitted = [:]
            return .success(container)
        }
    }

    func setContainerMetadata(_ name: String, metadata: [(name: String, value: String)],
                              conditions: BlobConditions) -> Result<StoredContainer, BlobError> {
        state.withLockedValue { state in
            guard var container = state.containers[name] else { return .failure(.containerNotFound()) }
            if let failure = conditions.failure(etag: container.etag, lastModified: container.lastModified, kind: .write) {
                return .failure(failure)
            }
            container.metadata = metadata
            container.etag = Self.nextETag(&state)
            container.lastModified = Self.now()
            state.containers[name] = container
            container.blobs = [:]
            container.uncommitted = [:]
            return .success(container)
        }
    }

    /// Every container's name and properties, sorted by name (blobs left out).
    func containers() -> [(name: String, container: StoredContainer)] {
        state.withLockedValue { state in
            state.containers.map { name, container in
                var bare = container
                bare.blobs = [:]
                bare.uncommitted = [:]
                return (name, bare)
            }
        }.sorted { $0.name < $1.name }
    }

    // MARK: Reading blobs

    /// The blob (its blocks shared, not copied) if it exists and `conditions` allow reading it.
    func blob(_ container: String, _ name: String, conditions: BlobConditions = BlobConditions()) -> Result<StoredBlob, BlobError> {
        state.withLockedValue { state in
            guard let stored = state.containers[container] else { return .failure(.containerNotFound()) }
            guard let blob = stored.blobs[name] else { return .failure(.blobNotFound()) }
            if let failure = conditions.failure(etag: blob.etag, lastModified: blob.lastModified, kind: .read) {
                return .failure(failure)
            }
            return .success(blob)
        }
    }

    /// Whether the blob exists (for SAS create-only permission checks).
    func blobExists(_ container: String, _ name: String) -> Bool {
        state.withLockedValue { $0.containers[container]?.blobs[name] != nil }
    }

    /// Blobs of a container, sorted by name, whose names start with `prefix` and sort at or after `marker`.
    func blobs(_ container: String, prefix: String, from marker: String?) -> Result<[(name: String, blob: StoredBlob)], BlobError> {
        state.withLockedValue { state -> Result<[(name: String, blob: StoredBlob)], BlobError> in
            guard let stored = state.containers[container] else { return .failure(.containerNotFound()) }
            var result: [(name: String, blob: StoredBlob)] = []
            for (name, blob) in stored.blobs where name.hasPrefix(prefix) {
                if let marker, name < marker { continue }
                result.append((name, blob))
            }
            return .success(result)
        }.map { $0.sorted { $0.name < $1.name } }
    }

    /// Committed and uncommitted blocks of a blob (ids and sizes), and the blob when it is committed.
    func blockList(_ container: String, _ name: String, conditions: BlobConditions)
        -> Result<(blob: StoredBlob?, uncommitted: [(id: String, size: Int)]), BlobError>
    {
        state.withLockedValue { state in
            guard let stored = state.containers[container] else { return .failure(.containerNotFound()) }
            let blob = stored.blobs[name]
            let pending = stored.uncommitted[name]
            guard blob != nil || pending != nil else { return .failure(.blobNotFound()) }
            if let blob, let failure = conditions.failure(etag: blob.etag, lastModified: blob.lastModified, kind: .read) {
                return .failure(failure)
            }
            let uncommitted = (pending?.order ?? []).map { ($0, pending?.blocks[$0]?.count ?? 0) }
            return .success((blob, uncommitted))
        }
    }

    // MARK: Writing blobs

    /// Stores `blocks` as the blob's whole content (Put Blob, Put Blob From URL), replacing any earlier blob
    /// and discarding its uncommitted blocks.
    func putBlob(_ container: String, _ name: String, blocks: [BlobBlock], content: BlobContentSettings,
                 metadata: [(name: String, value: String)], conditions: BlobConditions) -> Result<StoredBlob, BlobError> {
        let size = blocks.reduce(0) { $0 + $1.bytes.count }
        if size > maxBlobBytes { return .failure(blobTooLarge(size)) }
        return state.withLockedValue { state in
            guard var stored = state.containers[container] else { return .failure(.containerNotFound()) }
            let existing = stored.blobs[name]
            if let failure = conditions.failure(etag: existing?.etag, lastModified: existing?.lastModified, kind: .write) {
                return .failure(failure)
            }
            return store(blocks, size: size, as: name, in: container, &stored, &state, content: content, metadata: metadata)
        }
    }

    /// Whether a Put Blob with `conditions` would be allowed now (the container exists, the conditions hold).
    func putBlobPrecheck(_ container: String, _ name: String, conditions: BlobConditions) -> Result<Void, BlobError> {
        state.withLockedValue { state in
            guard let stored = state.containers[container] else { return .failure(.containerNotFound()) }
            let existing = stored.blobs[name]
            if let failure = conditions.failure(etag: existing?.etag, lastModified: existing?.lastModified, kind: .write) {
                return .failure(failure)
            }
            return .success(())
        }
    }

    /// Keeps `bytes` as uncommitted block `id` of the blob (Put Block); a block with the same id is replaced.
    func putBlock(_ container: String, _ name: String, id: String, bytes: [UInt8]) -> Result<Void, BlobError> {
        guard let decoded = AuthCrypto.base64Decode(id), !decoded.isEmpty, decoded.count <= Self.maxBlockIDBytes else {
            return .failure(BlobError(400, "InvalidQueryParameterValue",
                                      "Value for one of the query parameters specified in the request URI is invalid: blockid must be base64 of at most 64 bytes."))
        }
        if bytes.count > maxBlobBytes { return .failure(blobTooLarge(bytes.count)) }
        return state.withLockedValue { state in
            // Read what the checks need without keeping a copy of the blob's pending blocks: the block is then
            // added in place. Copying them out and storing them back copied all of them on every Put Block —
            // quadratic, ~85 s for a 50,000-block upload.
            let (found, otherID, replaced, known, pendingCount): (Bool, String?, Int, Bool, Int) = {
                guard let stored = state.containers[container] else { return (false, nil, 0, false, 0) }
                let pending = stored.uncommitted[name]
                return (true, pending?.order.first ?? stored.blobs[name]?.blocks.first?.id, pending?.blocks[id]?.count ?? 0,
                        pending?.blocks[id] != nil, pending?.order.count ?? 0)
            }()
            guard found else { return .failure(.containerNotFound()) }
            // Azure requires one id length per blob.
            // (Put Blob's single block has no id, so it sets no length.)
            if let otherID, !otherID.isEmpty, otherID.utf8.count != id.utf8.count {
                return .failure(BlobError(400, "InvalidBlobOrBlock",
                                          "The specified blob or block content is invalid: all block ids of a blob must have the same length."))
            }
            if !known, pendingCount >= Self.maxUncommittedBlocks {
                return .failure(BlobError(409, "BlockCountExceedsLimit",
                                          "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks."))
            }
            if let failure = storeFull(state.storedBytes - replaced + bytes.count) { return .failure(failure) }
            state.containers[container]?.uncommitted[name, default: UncommittedBlocks()].put(id, bytes, replacing: replaced)
            state.storedBytes += bytes.count - replaced
            return .success(())
        }
    }

    /// Where Put Block List takes a block from.
    enum BlockSource: Sendable, Equatable {
        case latest, committed, uncommitted
    }

    /// Commits the listed blocks as the blob (Put Block List); uncommitted blocks not listed are discarded.
    func commitBlockList(_ container: String, _ name: String, list: [(source: BlockSource, id: String)],
                         content: BlobContentSettings, metadata: [(name: String, value: String)],
                         conditions: BlobConditions) -> Result<StoredBlob, BlobError> {
        if list.count > Self.maxCommittedBlocks {
            return .failure(BlobError(400, "BlockCountExceedsLimit", "The committed block count cannot exceed the maximum limit of 50,000 blocks."))
        }
        return state.withLockedValue { state in
            guard var stored = state.containers[container] else { return .failure(.containerNotFound()) }
            let existing = stored.blobs[name]
            if let failure = conditions.failure(etag: existing?.etag, lastModified: existing?.lastModified, kind: .write) {
                return .failure(failure)
            }
            let pending = stored.uncommitted[name] ?? UncommittedBlocks()
            var committed: [String: [UInt8]] = [:]
            for block in existing?.blocks ?? [] { committed[block.id] = block.bytes }
            var blocks: [BlobBlock] = []
            blocks.reserveCapacity(list.count)
            var size = 0
            for entry in list {
                let bytes: [UInt8]?
                switch entry.source {
                case .latest: bytes = pending.blocks[entry.id] ?? committed[entry.id]
                case .committed: bytes = committed[entry.id]
                case .uncommitted: bytes = pending.blocks[entry.id]
                }
                guard let bytes else {
                    return .failure(BlobError(400, "InvalidBlockList", "The specified block list is invalid."))
                }
                let (sum, overflow) = size.addingReportingOverflow(bytes.count)
                if overflow || sum > maxBlobBytes { return .failure(blobTooLarge(overflow ? Int.max : sum)) }
                size = sum
                blocks.append(BlobBlock(id: entry.id, bytes: bytes))
            }
            return store(blocks, size: size, as: name, in: container, &stored, &state, content: content, metadata: metadata)
        }
    }

    /// The bytes the store could take for a new content of `name` now: what it has left plus what replacing the
    /// blob there (and dropping its uncommitted blocks) would release.
    func room(replacing name: String, in container: String) -> Int {
        state.withLockedValue { state in
            max(0, maxStoreBytes - state.storedBytes).saturatingAdd(Self.releasable(name, in: state.containers[container]))
        }
    }

    /// What replacing `name` in `stored` releases: the blob's bytes and its uncommitted blocks'.
    private static func releasable(_ name: String, in stored: StoredContainer?) -> Int {
        (stored?.blobs[name]?.size ?? 0) + (stored?.uncommitted[name]?.bytes ?? 0)
    }

    /// Makes `blocks` the committed content of `name` (under the lock), replacing the old blob and dropping the
    /// uncommitted blocks, if the store has room once their bytes are released.
    private func store(_ blocks: [BlobBlock], size: Int, as name: String, in container: String, _ stored: inout StoredContainer,
                       _ state: inout State, content: BlobContentSettings,
                       metadata: [(name: String, value: String)]) -> Result<StoredBlob, BlobError> {
        let existing = stored.blobs[name]
        let released = Self.releasable(name, in: stored)
        if let failure = storeFull(state.storedBytes - released + size) { return .failure(failure) }
        let now = Self.now()
        let blob = StoredBlob(blocks: blocks, size: size, content: content, metadata: metadata,
                              etag: Self.nextETag(&state), created: existing?.created ?? now, lastModified: now)
        stored.blobs[name] = blob
        stored.uncommitted[name] = nil
        state.storedBytes += size - released
        state.containers[container] = stored
        return .success(blob)
    }

    /// Changes a blob's metadata and/or content headers (Set Blob Metadata / Properties); new ETag.
    func updateBlob(_ container: String, _ name: String, conditions: BlobConditions,
                    _ change: (inout StoredBlob) -> Void) -> Result<StoredBlob, BlobError> {
        state.withLockedValue { state in
            guard var stored = state.containers[container] else { return .failure(.containerNotFound()) }
            guard var blob = stored.blobs[name] else { return .failure(.blobNotFound()) }
            if let failure = conditions.failure(etag: blob.etag, lastModified: blob.lastModified, kind: .write) {
                return .failure(failure)
            }
            change(&blob)
            blob.etag = Self.nextETag(&state)
            blob.lastModified = Self.now()
            stored.blobs[name] = blob
            state.containers[container] = stored
            return .success(blob)
        }
    }

    func deleteBlob(_ container: String, _ name: String, conditions: BlobConditions) -> Result<Void, BlobError> {
        state.withLockedValue { state in
            guard var stored = state.containers[container] else { return .failure(.containerNotFound()) }
            guard let blob = stored.blobs[name] else { return .failure(.blobNotFound()) }
            if let failure = conditions.failure(etag: blob.etag, lastModified: blob.lastModified, kind: .write) {
                return .failure(failure)
            }
            let released = blob.size + (stored.uncommitted[name]?.bytes ?? 0)
            stored.blobs[name] = nil
            stored.uncommitted[name] = nil
            state.storedBytes -= released
            state.containers[container] = stored
            return .success(())
        }
    }

    // MARK: Limits

    func blobTooLarge(_ size: Int) -> BlobError {
        BlobError(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit: "
            + "the blob would hold \(size) bytes, the emulator allows \(maxBlobBytes) (httpLimits.maxBlobBytes).")
    }

    private func storeFull(_ total: Int) -> BlobError? {
        guard total > maxStoreBytes else { return nil }
        return BlobError(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit: "
            + "the emulator's blob store would hold \(total) bytes, it allows \(maxStoreBytes) "
            + "(httpLimits.maxBlobStoreBytes); delete blobs or raise the limit.")
    }
}
