import ArgumentParser
import ConnectionPooling

/// `--client-limit`, `--max-size` and `--pool-policy`: how `bench pool` and `bench eventhubs` size the connection pool.
struct PoolSizeOptions: ParsableArguments {
    @Option(help: """
        The pool's clientLimit: callers sharing one connection. A limit below the callers in flight spreads them \
        over more connections, as the Python library does (its pool hands each connection to one sender at a time).
        """)
    var clientLimit: Int = 100

    @Option(help: "The pool's maxSize: the most connections.")
    var maxSize: Int = 10

    @Option(help: """
        The pool's selection policy: shareFirst (one connection until it holds clientLimit leases) or spread (a \
        connection per concurrent caller, up to --max-size).
        """)
    var poolPolicy: ConnectionSelectionPolicy = .shareFirst

    func validate() throws {
        guard clientLimit >= 1, clientLimit <= 10_000 else { throw ValidationError("--client-limit must be 1...10000") }
        guard maxSize >= 1, maxSize <= 1000 else { throw ValidationError("--max-size must be 1...1000") }
    }

    func apply(to configuration: inout ConnectionPoolConfiguration) {
        configuration.clientLimit = clientLimit
        configuration.maxSize = maxSize
        configuration.selectionPolicy = poolPolicy
    }
}

extension ConnectionSelectionPolicy: ExpressibleByArgument {}
