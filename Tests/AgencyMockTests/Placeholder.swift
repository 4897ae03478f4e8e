import Testing
@testable import AgencyMock
