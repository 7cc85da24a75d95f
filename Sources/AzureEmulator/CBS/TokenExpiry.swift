import Dispatch
import Foundation
import ToolboxAMQP

extension BrokerConnection {
    /// Detaches `link` with `amqp:unauthorized-access` when no token put on this connection covers `path` any
    /// more, as Azure does: a client must put a fresh token on `$cbs` before the old one expires (the SDKs do at
    /// 90 % of its life). Checked when the covering token expires; a renewal moves the check to the new expiry.
    func watchTokenExpiry(of link: AMQPLink, path: String) {
        guard let expiry = authorizationExpiry(path) else { return expire(link, path: path) }
        // Tokens count in whole seconds and are valid while their expiry is in the future.
        let delay = max(0, Double(expiry) - Date().timeIntervalSince1970) + 0.01
        handlerQueue.asyncAfter(deadline: .now() + delay) { [weak self, weak link] in
            guard let self, let link else { return }
            if self.isAuthorized(path) {
                self.watchTokenExpiry(of: link, path: path)
            } else {
                self.expire(link, path: path)
            }
        }
    }

    private func expire(_ link: AMQPLink, path: String) {
        logger.info("connection \(id): the token for '\(path)' expired; detaching link '\(link.name)'")
        link.close(error: AMQPRemoteError(
            condition: AMQPRemoteError.unauthorizedAccess,
            description: "Unauthorized access to '\(path)': the token expired; put a new token on $cbs before it does"),
            queue: handlerQueue) { _ in }
    }
}
