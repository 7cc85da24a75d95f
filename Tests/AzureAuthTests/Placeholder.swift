import XCTest
@testable import AzureAuth
