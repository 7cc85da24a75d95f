import XCTest
@testable import ToolboxTransport
