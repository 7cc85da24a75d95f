import ArgumentParser
import AzureAuth
import AzureCosmos
import Foundation
import ToolboxCore

/// `toolbox cosmos create|upsert|replace|read|delete|patch|query`: one Cosmos DB operation, its result as JSON
/// lines on stdout; a service error as `{"error": {"status", "substatus", "code", "message"}}` with exit 1.
struct CosmosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cosmos", abstract: "Cosmos DB item operations and queries",
        subcommands: [CosmosCreate.self, CosmosUpsert.self, CosmosReplace.self, CosmosRead.self, CosmosDelete.self,
                      CosmosPatch.self, CosmosQueryCommand.self])
}

/// Where and how to connect: the options every `cosmos` subcommand (and `bench cosmos`) shares.
struct CosmosConnectionOptions: ParsableArguments {
    @Option(help: "Account endpoint (https://acct.documents.azure.com:443/).")
    var endpoint: String?

    @Option(help: "Account (master) key, with --endpoint.")
    var key: String?

    @OptionGroup var entra: DefaultCredentialOption

    @Option(help: "AccountEndpoint=...;AccountKey=...; (instead of --endpoint/--key).")
    var connectionString: String?

    @OptionGroup var tls: CAFileOption

    @Option(help: "Database name.")
    var database: String

    @Option(help: "Container name.")
    var container: String

    @Flag(help: "JSON lines on stdout (the only output format).")
    var json = false

    @Option(help: "Seconds an operation (retries included) may take; for query, the whole query (every page).")
    var timeout: Double = 60

    func validate() throws {
        if connectionString != nil {
            guard endpoint == nil, key == nil, entra.credential == nil else {
                throw ValidationError("pass either --connection-string or --endpoint with --key/--credential")
            }
        } else {
            guard endpoint != nil else { throw ValidationError("pass --endpoint URL (with --key or --credential) or --connection-string") }
            guard (key == nil) != (entra.credential == nil) else {
                throw ValidationError("with --endpoint pass exactly one of --key KEY and --credential default")
            }
        }
        do {
            _ = try tls.readable()
        } catch {
            throw ValidationError(error.message)
        }
        _ = try Duration(cliSeconds: timeout, flag: "--timeout")
    }

    var clientOptions: CosmosClientOptions {
        var options = CosmosClientOptions()
        options.caFile = tls.caFile
        options.timeout = (try? Duration(cliSeconds: timeout, flag: "--timeout")) ?? options.timeout  // checked in validate()
        options.pool.metricsLabel = nil
        return options
    }

    func authorization() throws -> (endpoint: String, authorization: CosmosAuthorization) {
        if let connectionString {
            let parsed = try CosmosConnectionString(parsing: connectionString)
            return (parsed.accountEndpoint, .masterKey(parsed.accountKey))
        }
        let endpoint = self.endpoint ?? ""
        if let key { return (endpoint, .masterKey(Secret(key))) }
        return (endpoint, .credential(try DefaultCredentialOption.make(caFile: tls.caFile)))
    }

    /// A basic or pooled client bound to `--database`/`--container`.
    func makeClient(pooled: Bool = false) throws -> any CosmosContainerOperations {
        let (endpoint, authorization) = try authorization()
        if pooled {
            return try ManagedCosmos(endpoint: endpoint, authorization: authorization, databaseName: database,
                                     containerName: container, options: clientOptions)
        }
        return try Cosmos(endpoint: endpoint, authorization: authorization, databaseName: database,
                          containerName: container, options: clientOptions)
    }

    /// Runs `body` with a client; prints a failure as the error line (stdout) and its reason (stderr), exit 1.
    func run(_ body: (any CosmosContainerOperations) throws -> Void) throws {
        do {
            let client = try makeClient()
            defer { try? client.close() }
            try body(client)
        } catch let error as ToolboxError {
            CosmosOutput.printError(error)
            throw ExitCode(1)
        }
    }
}

enum CosmosOutput {
    /// One result as one JSON line (documents come back compact; keys are re-emitted sorted).
    static func printDocument(_ bytes: [UInt8]) throws(ToolboxError) {
        let line = try CosmosJSON(parsing: bytes, what: "the service's answer").jsonBytes
        FileHandle.standardOutput.write(Data(line + [0x0A]))
    }

    /// An item the service returned (create, upsert, replace, read, patch): a JSON object, or the service's answer
    /// is refused (`null`, `[]` or `7` is no item).
    static func printItem(_ bytes: [UInt8]) throws(ToolboxError) {
        let item = try CosmosJSON(parsing: bytes, what: "the service's answer")
        let kind: String
        switch item {
        case .object: kind = ""
        case .null: kind = "null"
        case .array: kind = "an array"
        case .string: kind = "a string"
        case .bool: kind = "a boolean"
        case .integer, .double: kind = "a number"
        }
        guard kind.isEmpty else {
            throw ToolboxError(.invalidResponse, "the service answered with \(kind), not an item (a JSON object)")
        }
        FileHandle.standardOutput.write(Data(item.jsonBytes + [0x0A]))
    }

    static func printError(_ error: ToolboxError) {
        let condition = error.serviceCondition
        JSONOutput.printLine(["error": [
            "status": condition?.httpStatus ?? 0, "substatus": condition?.subStatus ?? 0,
            "code": condition?.errorCode ?? error.code.rawValue,
            "message": condition?.serviceMessage ?? error.message,
        ] as [String: Any]])
        JSONOutput.printError("\(error)")
    }

    /// A JSON value from the command line: JSON, or a bare word taken as a string.
    static func value(_ text: String) -> CosmosJSON {
        (try? CosmosJSON(parsing: text)) ?? .string(text)
    }

    static func partitionKey(_ text: String?) throws -> CosmosPartitionKey? {
        guard let text else { return nil }
        do {
            return try CosmosPartitionKey(commandLine: text)
        } catch {
            throw ValidationError("--partition-key: \(error.message)")
        }
    }

    /// The most bytes `--item @FILE` reads: twice the service's 2 MB item limit, so an item the service refuses
    /// is refused by the service, with its own message.
    static let maxItemFileBytes = 4 << 20

    /// An `--item` that can be read only once (standard input, a FIFO, `/dev/stdin`): run() reads it, validate()
    /// leaves it alone.
    static func readsOnce(_ item: String) -> Bool {
        guard item.hasPrefix("@") else { return false }
        let path = String(item.dropFirst())
        var info = stat()
        return path == "-" || stat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG
    }

    /// `--item`: the JSON itself, or `@FILE` / `@-` (standard input) for an item too large for a command line
    /// (Linux caps one argument at 128 KiB; a JSON text never starts with `@`).
    static func item(_ text: String) throws -> [UInt8] {
        let bytes: [UInt8]
        if text.hasPrefix("@") {
            let path = String(text.dropFirst())
            guard let handle = path == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: path) else {
                throw ValidationError("--item \(text): cannot open '\(path)' for reading")
            }
            let data: Data?
            do {
                data = try handle.read(upToCount: maxItemFileBytes + 1)
            } catch {
                throw ValidationError("--item \(text): reading '\(path)' failed: \(error.localizedDescription)")
            }
            bytes = data.map { [UInt8]($0) } ?? []
            guard bytes.count <= maxItemFileBytes else {
                throw ValidationError("--item \(text): more than \(maxItemFileBytes) bytes; a Cosmos DB item is at most 2 MB")
            }
        } else {
            bytes = Array(text.utf8)
        }
        let parsed: CosmosJSON
        do {
            parsed = try CosmosJSON(parsing: bytes, what: "--item")
        } catch {
            throw ValidationError(error.message)  // what is wrong with it, and where
        }
        guard case .object = parsed else {
            throw ValidationError("--item must be a JSON object like '{\"id\": \"1\", \"pk\": \"a\"}'")
        }
        return bytes
    }
}

/// `--item` and `--partition-key` of create and upsert, and the write itself.
struct CosmosWriteOptions: ParsableArguments {
    @OptionGroup var connection: CosmosConnectionOptions
    @Option(help: "The item, a JSON object with an id; @FILE reads it from a file, @- from standard input.") var item: String
    @Option(help: "Partition key value (JSON; a bare word is a string); default: read from the item.")
    var partitionKey: String?

    // Checked in validate() too, so a bad value shows the subcommand's usage, not the root's (standard input,
    // `@-`, can be read once only: in run()).
    func validate() throws {
        if !CosmosOutput.readsOnce(item) { _ = try CosmosOutput.item(item) }
        _ = try CosmosOutput.partitionKey(partitionKey)
    }

    /// Creates (or upserts) the item and prints what the service stored.
    func write(upsert: Bool) throws {
        let body = try CosmosOutput.item(item)
        let key = try CosmosOutput.partitionKey(partitionKey)
        try connection.run { client in
            let stored = upsert ? try client.upsertItem(body, partitionKey: key) : try client.createItem(body, partitionKey: key)
            try CosmosOutput.printItem(stored.value)
        }
    }
}

struct CosmosCreate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create an item; prints the stored item")
    @OptionGroup var write: CosmosWriteOptions

    func run() throws { try write.write(upsert: false) }
}

struct CosmosUpsert: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "upsert", abstract: "Create or replace an item")
    @OptionGroup var write: CosmosWriteOptions

    func run() throws { try write.write(upsert: true) }
}

struct CosmosReplace: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replace", abstract: "Replace an item (its id is in --item)")
    @OptionGroup var connection: CosmosConnectionOptions
    @Option(help: "The new item, a JSON object with the id to replace; @FILE or @- (standard input) to read it.") var item: String
    @Option(help: "Partition key value; default: read from the item.") var partitionKey: String?
    @Option(help: "Only if the stored item's _etag is this (else 412).") var ifMatch: String?

    /// The item and the id it replaces. Called from validate() too, so a bad value shows this subcommand's usage.
    func itemAndID() throws -> (body: [UInt8], id: String) {
        let body = try CosmosOutput.item(item)
        guard let id = (try? CosmosJSON(parsing: body))?["id"]?.stringValue, !id.isEmpty else {
            throw ValidationError("--item needs a non-empty string \"id\"")
        }
        return (body, id)
    }

    func validate() throws {
        if !CosmosOutput.readsOnce(item) { _ = try itemAndID() }
        _ = try CosmosOutput.partitionKey(partitionKey)
    }

    func run() throws {
        let (body, id) = try itemAndID()
        let key = try CosmosOutput.partitionKey(partitionKey)
        try connection.run { client in
            let replaced = try client.replaceItem(id: id, with: body, partitionKey: key,
                                                  options: CosmosItemOptions(ifMatch: ifMatch))
            try CosmosOutput.printItem(replaced.value)
        }
    }
}

struct CosmosRead: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "read", abstract: "Read an item")
    @OptionGroup var connection: CosmosConnectionOptions
    @Option(help: "The item id.") var id: String
    @Option(help: "Partition key value (JSON; a bare word is a string).") var partitionKey: String

    func validate() throws { _ = try CosmosOutput.partitionKey(partitionKey) }

    func run() throws {
        let key = try CosmosOutput.partitionKey(partitionKey)!
        try connection.run { client in try CosmosOutput.printItem(try client.readItem(id: id, partitionKey: key).value) }
    }
}

struct CosmosDelete: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete an item; prints {\"deleted\": true}")
    @OptionGroup var connection: CosmosConnectionOptions
    @Option(help: "The item id.") var id: String
    @Option(help: "Partition key value (JSON; a bare word is a string).") var partitionKey: String
    @Option(help: "Only if the stored item's _etag is this (else 412).") var ifMatch: String?

    func validate() throws { _ = try CosmosOutput.partitionKey(partitionKey) }

    func run() throws {
        let key = try CosmosOutput.partitionKey(partitionKey)!
        try connection.run { client in
            let response = try client.deleteItem(id: id, partitionKey: key, options: CosmosItemOptions(ifMatch: ifMatch))
            JSONOutput.printLine(["deleted": true, "request_charge": response.requestCharge])
        }
    }
}

struct CosmosPatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patch", abstract: "Patch an item; prints the patched item",
        discussion: #"--ops is a JSON array of {"op": "add|remove|replace|set|incr|move", "path": ..., "value"|"from": ...}"#)
    @OptionGroup var connection: CosmosConnectionOptions
    @Option(help: "The item id.") var id: String
    @Option(help: "Partition key value (JSON; a bare word is a string).") var partitionKey: String
    @Option(help: "The patch operations, a JSON array.") var ops: String
    @Option(help: "Apply only if this holds, e.g. 'from c where c.n > 3' (else 412).") var condition: String?
    @Option(help: "Only if the stored item's _etag is this (else 412).") var ifMatch: String?

    func parsedOperations() throws -> [CosmosPatchOperation] {
        do throws(ToolboxError) {
            guard let list = try CosmosJSON(parsing: ops, what: "--ops").arrayValue else {
                throw ToolboxError(.invalidArgument, "--ops must be a JSON array")
            }
            return try list.map { value throws(ToolboxError) in try CosmosPatchOperation(json: value) }
        } catch {
            throw ValidationError("--ops: \(error.message)")
        }
    }

    // In validate(), so a bad --ops or --partition-key shows this subcommand's usage, not the root's.
    func validate() throws {
        _ = try CosmosOutput.partitionKey(partitionKey)
        _ = try parsedOperations()
    }

    func run() throws {
        let key = try CosmosOutput.partitionKey(partitionKey)!
        let operations = try parsedOperations()
        try connection.run { client in
            let patched = try client.patchItem(id: id, partitionKey: key, operations: operations, condition: condition,
                                               options: CosmosItemOptions(ifMatch: ifMatch))
            try CosmosOutput.printItem(patched.value)
        }
    }
}

struct CosmosQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Run a SQL query; one JSON line per result, then {count, pages, request_charge}")
    @OptionGroup var connection: CosmosConnectionOptions
    @Option(help: "The SQL text.") var query: String
    @Option(help: "A parameter, @NAME=JSON (repeatable).") var param: [String] = []
    @Option(help: "Confine to one partition (JSON; a bare word is a string); default: cross-partition.")
    var partitionKey: String?
    @Option(help: "Most results per page.") var maxItemCount: Int?

    func parsedParameters() throws -> [(name: String, value: CosmosJSON)] {
        var parameters: [(name: String, value: CosmosJSON)] = []
        for entry in param {
            guard let equals = entry.firstIndex(of: "="), entry.hasPrefix("@") else {
                throw ValidationError("--param takes @NAME=JSON, got '\(entry)'")
            }
            parameters.append((String(entry[..<equals]), CosmosOutput.value(String(entry[equals...].dropFirst()))))
        }
        return parameters
    }

    // In validate(), so a bad --param or --max-item-count shows this subcommand's usage, not the root's.
    func validate() throws {
        _ = try parsedParameters()
        _ = try CosmosOutput.partitionKey(partitionKey)
        if let maxItemCount, maxItemCount < 1 { throw ValidationError("--max-item-count must be >= 1") }
    }

    func run() throws {
        let parameters = try parsedParameters()
        let key = try CosmosOutput.partitionKey(partitionKey)
        let sql = CosmosQuery(query, parameters: parameters)
        // --timeout bounds the whole query, every page: each page gets what is left of it.
        let deadline = Deadline.after(seconds: connection.timeout)
        try connection.run { client in
            var options = CosmosQueryOptions(partitionKey: key, maxItemCount: maxItemCount)
            var count = 0
            var pages = 0
            var charge = 0.0
            var followed = CosmosContinuationLog(start: options.continuation)
            repeat {
                let remaining = deadline.secondsRemaining
                guard remaining > 0 else {
                    throw ToolboxError(.timedOut, "the query did not end within --timeout \(connection.timeout) s "
                        + "(\(pages) pages, \(count) results printed)")
                }
                options.timeout = .clampingSeconds(remaining)
                let page = try client.queryPage(sql, options: options)
                // A continuation already followed (A, B, A …) is refused before its page is printed.
                try followed.follow(page.continuation, page: pages + 1, what: "the query")
                for item in page.items { try CosmosOutput.printDocument(item) }
                count += page.items.count
                pages += 1
                charge += page.requestCharge
                options.continuation = page.continuation
            } while options.continuation != nil
            JSONOutput.printLine(["count": count, "pages": pages, "request_charge": JSONOutput.rounded(charge, 2)])
        }
    }
}
