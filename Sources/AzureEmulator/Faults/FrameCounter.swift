/// Counts whole AMQP frames in a byte stream (protocol headers are skipped, frame bodies are not parsed), so
/// the fault injector can drop a connection after a number of frames without decoding anything.
struct FrameCounter {
    private var header: [UInt8] = []
    private var skip = 0
    private(set) var frames = 0

    /// Feeds bytes; returns how many frames ended in them.
    mutating func feed(_ bytes: [UInt8]) -> Int {
        var ended = 0
        var index = 0
        while index < bytes.count {
            if skip > 0 {
                let take = min(skip, bytes.count - index)
                skip -= take
                index += take
                continue
            }
            header.append(bytes[index])
            index += 1
            if header.count == 4, header != Array("AMQP".utf8) {
                let size = header.reduce(0) { $0 << 8 | Int($1) }
                skip = max(0, size - 4)
                header = []
                frames += 1
                ended += 1
            } else if header.count == 8 {
                header = []  // a protocol header, not a frame
            }
        }
        return ended
    }
}
