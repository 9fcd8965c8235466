import Foundation
import Logging
import PGWorkerDashboard
import XCTest

extension XCTestCase {
    /// A dashboard serving `conninfo` on a free loopback port, stopped when the test ends.
    /// Returns its base URL (`http://127.0.0.1:PORT`) and port.
    func serveDashboard(
        conninfo: String, configure: (inout DashboardConfiguration) -> Void = { _ in }
    ) async throws -> (base: String, port: Int) {
        var configuration = DashboardConfiguration()
        configuration.port = 0
        configure(&configuration)
        var logger = Logger(label: "test-dashboard")
        logger.logLevel = .critical
        let (ports, reportPort) = AsyncStream.makeStream(of: Int.self)
        let dashboard = try Dashboard(conninfo: conninfo, configuration: configuration, logger: logger) {
            reportPort.yield($0)
        }
        let serving = Task { try await dashboard.run() }
        addTeardownBlock { serving.cancel(); _ = try? await serving.value }
        var iterator = ports.makeAsyncIterator()
        let reported = await iterator.next()
        let port = try XCTUnwrap(reported)
        return ("http://127.0.0.1:\(port)", port)
    }
}
