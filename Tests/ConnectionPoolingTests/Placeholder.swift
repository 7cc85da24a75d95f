import XCTest
@testable import ConnectionPooling
