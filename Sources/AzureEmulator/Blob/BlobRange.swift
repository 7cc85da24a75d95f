import Foundation
import ToolboxCore

/// A `bytes=a-b` / `bytes=a-` range of a blob (`x-ms-range` wins over `Range`, as on Azure).
struct BlobRange: Sendable, Equatable {
    var start: Int
    /// Inclusive; nil: to the end.
    var end: Int?

    /// nil when `text` is not a single `bytes=` range with a start.
    static func parse(_ text: String) -> BlobRange? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return nil }
        let spec = trimmed.dropFirst("bytes=".count)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        guard let start = Int(spec[..<dash]), start >= 0 else { return nil }
        let endText = spec[spec.index(after: dash)...]
        if endText.isEmpty { return BlobRange(start: start, end: nil) }
        guard let end = Int(endText), end >= 0 else { return nil }
        return BlobRange(start: start, end: end)
    }

    /// The inclusive byte bounds within a blob of `size` bytes, or 416 `InvalidRange`.
    func bounds(size: Int) -> Result<ClosedRange<Int>, BlobError> {
        guard size > 0, start < size, end.map({ $0 >= start }) ?? true else {
            var error = BlobError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
            error.headers["Content-Range"] = "bytes */\(size)"
            return .failure(error)
        }
        return .success(start...min(end ?? (size - 1), size - 1))
    }
}

/// A blob's bytes `range` pulled piece by piece from its blocks, for `HTTPServerResponse.Body.stream`: at most
/// one piece (≤ `pieceSize`) is copied at a time, so serving a 1 GiB blob costs a piece of memory, not a blob.
/// A block the range covers whole goes out as it is, shared rather than copied (the connection stages a large
/// write in bounded slices): a download in ranges of the block size copies nothing here.
final class BlobContentStream: Sendable {
    private struct Cursor {
        var blockIndex: Int
        var offset: Int
        var remaining: Int
    }

    /// 256 KiB: each piece costs a queue hop and a write; 64 KiB pieces made 4,096 of them per 256 MiB.
    static let defaultPieceSize = 256 << 10

    private let blocks: [BlobBlock]
    private let pieceSize: Int
    private let cursor: LockedValue<Cursor>

    init(blocks: [BlobBlock], range: ClosedRange<Int>, pieceSize: Int = BlobContentStream.defaultPieceSize) {
        self.blocks = blocks
        self.pieceSize = max(1, pieceSize)
        var index = 0
        var skip = range.lowerBound
        while index < blocks.count, skip >= blocks[index].bytes.count {
            skip -= blocks[index].bytes.count
            index += 1
        }
        cursor = LockedValue(Cursor(blockIndex: index, offset: skip, remaining: range.count))
    }

    /// The next piece, or nil when the range is done.
    func next() -> [UInt8]? {
        cursor.withLockedValue { cursor in
            while cursor.remaining > 0, cursor.blockIndex < blocks.count {
                let bytes = blocks[cursor.blockIndex].bytes
                let available = bytes.count - cursor.offset
                if available <= 0 {
                    cursor.blockIndex += 1
                    cursor.offset = 0
                    continue
                }
                if cursor.offset == 0, cursor.remaining >= bytes.count {
                    cursor.blockIndex += 1
                    cursor.remaining -= bytes.count
                    return bytes
                }
                let count = min(available, pieceSize, cursor.remaining)
                let piece = Array(bytes[cursor.offset..<(cursor.offset + count)])
                cursor.offset += count
                cursor.remaining -= count
                return piece
            }
            return nil
        }
    }

    /// All of the range at once (small ranges: `x-ms-range-get-content-md5`).
    func collect() -> [UInt8] {
        var all: [UInt8] = []
        while let piece = next() { all += piece }
        return all
    }
}
