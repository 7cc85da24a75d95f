import XCTest

@testable import ToolboxAMQP

final class RecoveryTests: XCTestCase {
    func testConditionsAndCodesMapToRecoveryActions() {
        func remote(_ condition: AMQPSymbol, _ code: AMQPError.Code = .linkDetached) -> AMQPError {
            AMQPError(code, "x", remote: AMQPRemoteError(condition: condition))
        }
        XCTAssertEqual(remote(AMQPRemoteError.detachForced).recoveryAction, .rebuildLink)
        XCTAssertEqual(remote(AMQPRemoteError.connectionForced, .connectionClosed).recoveryAction, .rebuildConnection)
        XCTAssertEqual(remote("com.microsoft:server-busy").recoveryAction, .retry)
        XCTAssertEqual(remote("com.microsoft:timeout").recoveryAction, .retry)
        for fatal: AMQPSymbol in [AMQPRemoteError.unauthorizedAccess, AMQPRemoteError.notFound,
                                  AMQPRemoteError.messageSizeExceeded, "com.microsoft:entity-disabled", "vendor:unknown"] {
            XCTAssertEqual(remote(fatal).recoveryAction, .fail, fatal.rawValue)
        }
        XCTAssertEqual(AMQPError(.transport, "reset").recoveryAction, .rebuildConnection)
        XCTAssertEqual(AMQPError(.linkDetached, "gone").recoveryAction, .rebuildLink)
        XCTAssertEqual(AMQPError(.timedOut, "slow").recoveryAction, .retry)
        XCTAssertEqual(AMQPError(.authentication, "no").recoveryAction, .fail)
    }
}
