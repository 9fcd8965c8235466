import ArgumentParser
import Foundation
import PGWorker
import PGWorkerDashboard
import ServiceLifecycle

/// `pgworker dashboard`: serves the web dashboard.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve the web dashboard: queues, jobs (retry / cancel / delete), schedules and workers.",
        discussion: """
            It listens on 127.0.0.1 by default. Binding any other address requires an access token \
            (--token or PGWORKER_DASHBOARD_TOKEN), which every request must carry: log in once in the \
            browser, open http://HOST:PORT/?token=TOKEN, or send Authorization: Bearer TOKEN.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The port (0 picks a free one and logs it).")
    var port: Int = 8080

    @Option(help: "The address to bind.")
    var host: String = "127.0.0.1"

    @Option(help: "The access token (default $PGWORKER_DASHBOARD_TOKEN).")
    var token: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
    }

    func run() async throws {
        let logger = database.bootstrapLogging()
        let (connection, conninfo) = try await database.connect(name: "startup")
        try await Migrator(connection: connection).requireCurrent()
        await connection.close()
        var configuration = DashboardConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.token = token ?? ProcessInfo.processInfo.environment["PGWORKER_DASHBOARD_TOKEN"]
        let host = self.host
        let dashboard: Dashboard
        do {
            dashboard = try Dashboard(conninfo: conninfo, configuration: configuration, logger: logger) { port in
                logger.notice("serving the dashboard", metadata: ["url": "http://\(host):\(port)/"])
            }
        } catch let error as DashboardConfigurationError {
            throw ValidationError(error.description)
        }
        let group = ServiceGroup(services: [dashboard], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
