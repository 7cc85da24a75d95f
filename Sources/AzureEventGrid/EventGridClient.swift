import Dispatch
import ToolboxCore
import ToolboxTransport

/// Publishes to several named Event Grid topics over one connection per topic host, opened on first use — the
/// Python toolbox's `EventGridClient`. For steady traffic use `ManagedEventGridClient` (a pool of warm
/// connections).
///
/// ```swift
/// let config = EventGridConfig([EventGridTopicConfig(name: "orders", url: ordersURL)])
/// let client = try EventGridClient(config: config, credential: .key(Secret(topicKey)))
/// try client.emitEvent(topic: "orders", eventType: "Contoso.Orders.Created", subject: "orders/42",
///                      data: EventGridData(["orderId": 42]))
/// try client.close()
/// ```
///
/// Python → Swift: `emit_event` / `async_emit_event` → `emitEvent` (blocking, completion, async);
/// `EventGridPublisherClient.send` → `send(_:toTopic:)`; `config.topics()` / `url(topic)` → `config.topics` /
/// `config.url(for:)`. There is no sync/async split: every client has all three forms.
public final class EventGridClient: EventGridCoreBacked {
    let core: EventGridCore

    /// - parameter credential: for every topic without its own `EventGridTopicConfig.credential`.
    /// - throws: `.invalidArgument` for no topics, an unusable URL, a topic without a credential, or a token
    ///   credential over plain HTTP; `.invalidKey` for a key that is not base64 (`signedWithKey`);
    ///   `.invalidConfiguration` when the TLS settings cannot be loaded.
    public init(config: EventGridConfig, credential: EventGridCredential? = nil,
                options: EventGridClientOptions = EventGridClientOptions()) throws(ToolboxError) {
        core = try EventGridCore(config: config, credential: credential, options: options, pooled: false)
    }
}
