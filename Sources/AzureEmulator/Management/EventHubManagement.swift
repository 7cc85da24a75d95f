import ToolboxAMQP

extension BrokerConnection {
    /// Event Hubs `$management` READ of `com.microsoft:eventhub` and `com.microsoft:partition`; hyphenated
    /// status keys, no body in the request, the token repeated as `security_token`.
    func handleEventHubManagement(_ delivery: AMQPDelivery) {
        let request = delivery.message
        let properties = request.applicationProperties ?? AMQPMap()
        func fail(_ status: Int32, _ description: String) {
            reply(to: request, node: "$management", status: status, description: description, camelCase: false)
        }
        guard properties["operation"] == "READ", case .string(let name)? = properties["name"] else {
            fail(400, "the $management node supports operation READ with a 'name'")
            return
        }
        var allowed = isAuthorized(name)
        if !allowed, case .string(let token)? = properties["security_token"],
            case .granted(let path, let expiry) = broker.authority.verify(token: token, audience: name) {
            grant(path: path, expiry: expiry)
            allowed = TokenAuthority.covers(path, name)
        }
        guard allowed else {
            fail(401, "Unauthorized access to '\(name)': put a token for it on $cbs or send a valid security_token")
            return
        }
        let hub: EventHub
        switch broker.eventHub(name) {
        case .success(let found): hub = found
        case .failure(let error):
            fail(404, error.remote.errorDescription ?? "event hub '\(name)' not found")
            return
        }
        switch properties["type"] {
        case "com.microsoft:eventhub":
            reply(to: request, node: "$management", status: 200, description: "OK", body: hub.properties(), camelCase: false)
        case "com.microsoft:partition":
            guard case .string(let id)? = properties["partition"], let index = hub.partitionIndex(id) else {
                fail(404, "event hub '\(name)' has no such partition; ids are 0...\(hub.partitionCount - 1)")
                return
            }
            reply(to: request, node: "$management", status: 200, description: "OK",
                  body: hub.partitionProperties(index), camelCase: false)
        default:
            fail(400, "READ supports type com.microsoft:eventhub and com.microsoft:partition")
        }
    }
}
