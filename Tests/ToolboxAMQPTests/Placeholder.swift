import XCTest
@testable import ToolboxAMQP
