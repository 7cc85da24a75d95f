import Dispatch
import Foundation

/// SIGINT and SIGTERM handled by the command instead of ending the process: `handler` runs on `queue` for each.
/// The returned sources stop watching when cancelled (the signals stay ignored).
func watchInterruptSignals(on queue: DispatchQueue, _ handler: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
        source.setEventHandler(handler: handler)
        source.resume()
        return source
    }
}
