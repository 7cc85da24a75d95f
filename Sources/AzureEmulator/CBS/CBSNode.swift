import ToolboxAMQP

extension BrokerConnection {
    /// `$cbs` put-token: verify the SAS against the namespace key and authorize its audience on this connection.
    /// Answers 202 "Accepted", or 401 with the reason (never the token).
    func handleCBS(_ delivery: AMQPDelivery) {
        let request = delivery.message
        let properties = request.applicationProperties
        guard properties?["operation"] == "put-token" else {
            reply(to: request, node: "$cbs", status: 400, description: "the $cbs node only supports operation put-token",
                  camelCase: false)
            return
        }
        guard case .string(let audience)? = properties?["name"], case .value(.string(let token)) = request.body else {
            reply(to: request, node: "$cbs", status: 400,
                  description: "put-token needs a 'name' application property and the token as an amqp-value string",
                  camelCase: false)
            return
        }
        if broker.configuration.faults.refuseAuthentication {
            reply(to: request, node: "$cbs", status: 401, description: "authentication refused (fault injection)", camelCase: false)
            return
        }
        switch broker.authority.verify(token: token, audience: audience) {
        case .granted(let path, let expiry):
            grant(path: path, expiry: expiry)
            logger.debug("connection \(id): authorized '\(path)'")
            reply(to: request, node: "$cbs", status: 202, description: "Accepted", camelCase: false)
        case .refused(let status, let description):
            logger.info("connection \(id): put-token for '\(audience)' refused: \(description)")
            reply(to: request, node: "$cbs", status: status, description: description, camelCase: false)
        }
    }
}
