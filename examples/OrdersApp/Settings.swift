import Foundation
import PostgresNIO

/// Where the app listens and which database it uses, from the environment.
///
/// The database is named by libpq's own variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
/// `PGDATABASE`), so postgres-nio (the app's queries and enqueues) and pgworker's worker (libpq)
/// reach the same one. A `PGHOST` that starts with `/` is a Unix socket folder.
struct Settings {
    /// The HTTP address; `ORDERS_APP_HOST`, default 127.0.0.1.
    var host: String
    /// The HTTP port; `ORDERS_APP_PORT`, default 8080; 0 picks a free one.
    var port: Int
    /// Whether the worker runs in this process; `ORDERS_APP_WORKER=0` leaves jobs to a separate
    /// `pgworker run` (or another instance).
    var runsWorker: Bool
    /// postgres-nio's configuration.
    var postgres: PostgresClient.Configuration
    /// libpq's connection string for the worker: empty, so libpq reads the same variables.
    var conninfo: String { "" }

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        host = environment["ORDERS_APP_HOST"] ?? "127.0.0.1"
        port = environment["ORDERS_APP_PORT"].flatMap(Int.init) ?? 8080
        runsWorker = environment["ORDERS_APP_WORKER"] != "0"
        let pgHost = environment["PGHOST"] ?? "/var/run/postgresql"
        let pgPort = environment["PGPORT"].flatMap(Int.init) ?? 5432
        let user = environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        let database = environment["PGDATABASE"] ?? user
        let password = environment["PGPASSWORD"]
        if pgHost.hasPrefix("/") {
            postgres = .init(unixSocketPath: "\(pgHost)/.s.PGSQL.\(pgPort)", username: user,
                             password: password, database: database)
        } else {
            postgres = .init(host: pgHost, port: pgPort, username: user, password: password,
                             database: database, tls: .disable)
        }
    }
}
