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
            browser, open http://HOST:PORT/?token=TOKEN, or send Authorization: Bearer TOKEN. A token \
            has at least 32 characters (openssl rand -hex 16). Wrong tokens are limited per client \
            address and overall; past the limit the answer is 429 with Retry-After.

            It answers only requests whose Host header is 127.0.0.1, localhost, [::1] or --host, with \
            --port; any other name gets 421, so a web page cannot reach it by DNS rebinding. Reaching it \
            under another name (through a reverse proxy, say) needs --allowed-host NAME.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @OptionGroup var configFile: ConfigFileOption

    @Option(help: "The port (0 picks a free one and logs it).")
    var port: Int = 8080

    @Option(help: "The address to bind.")
    var host: String = "127.0.0.1"

    @Option(help: "The access token, at least 32 characters (default $PGWORKER_DASHBOARD_TOKEN).")
    var token: String?

    @Option(name: .customLong("allowed-host"), help: ArgumentHelp(
        "Another Host name to answer to, NAME (any port) or NAME:PORT (repeatable; default $PGWORKER_DASHBOARD_ALLOWED_HOSTS, comma-separated).",
        valueName: "name"))
    var allowedHosts: [String] = []

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
    }

    func run() async throws {
        var configuration = DashboardConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.token = token ?? ProcessInfo.processInfo.environment["PGWORKER_DASHBOARD_TOKEN"]
        configuration.allowedHosts = Self.allowedHosts(allowedHosts)
        do {
            try configuration.validate()
        } catch let error as DashboardConfigurationError {
            throw ValidationError(error.description)
        }
        let logger = database.bootstrapLogging()
        let (connection, conninfo) = try await database.connect(name: "startup")
        try await Migrator(connection: connection).requireCurrent()
        await connection.close()
        let host = self.host
        let dashboard = try Dashboard(conninfo: conninfo, configuration: configuration, logger: logger) { port in
            logger.notice("serving the dashboard", metadata: ["url": "http://\(host):\(port)/"])
        }
        let group = ServiceGroup(services: [dashboard], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

extension DashboardCommand {
    /// The `--allowed-host` values given, or else those of `$PGWORKER_DASHBOARD_ALLOWED_HOSTS`
    /// (comma-separated).
    static func allowedHosts(_ given: [String]) -> [String] {
        guard given.isEmpty else { return given }
        let variable = ProcessInfo.processInfo.environment["PGWORKER_DASHBOARD_ALLOWED_HOSTS"] ?? ""
        return variable.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
