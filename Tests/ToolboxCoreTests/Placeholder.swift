import XCTest
@testable import ToolboxCore
