import Dispatch

/// Checks, in debug builds, that the caller runs on `queue`: the entry points of a queue-confined class call it
/// first, so state that a comment says belongs to one queue is checked there at run time. Release builds skip it
/// (the hot paths call it per read and write).
@inline(__always)
package func debugAssertOnQueue(_ queue: DispatchQueue) {
    #if DEBUG
    dispatchPrecondition(condition: .onQueue(queue))
    #endif
}
