import ArgumentParser
import Foundation
import Logging
import PGWorker
import PQClient

/// Where the database is, shared by every subcommand.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "A postgresql:// URL or libpq connection string. Default: $DATABASE_URL, then PG* variables, then a private cluster in ./.pgworker.")
    var databaseURL: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: "Log format: text, or json (one object per line, for log shippers).")
    var logFormat: LogFormat = .text

    /// The private cluster used when no database is configured.
    static let localCluster = LocalPostgres(directory: URL(fileURLWithPath: ".pgworker"))

    /// The connection string, and whether it is the private local cluster.
    func resolve() async throws -> (conninfo: String, isLocal: Bool) {
        if let databaseURL, !databaseURL.isEmpty { return (databaseURL, false) }
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["DATABASE_URL"], !url.isEmpty { return (url, false) }
        let libpqVariables = ["PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"]
        if libpqVariables.contains(where: { environment[$0] != nil }) { return ("", false) }
        let cluster = Self.localCluster
        let existed = FileManager.default.fileExists(atPath: cluster.dataDirectory.appendingPathComponent("PG_VERSION").path)
        let wasRunning = FileManager.default.fileExists(atPath: cluster.dataDirectory.appendingPathComponent("postmaster.pid").path)
        let conninfo = try await cluster.start()
        if !wasRunning {
            // Said once, when it starts: a private cluster outlives the command, and another folder
            // gets a cluster (and a queue) of its own.
            FileHandle.standardError.write(Data((
                "pgworker: no database configured (--database-url, DATABASE_URL or PG* variables), so "
                + (existed ? "started" : "created and started")
                + " the private PostgreSQL in \(cluster.directory.standardizedFileURL.path) (connect: \(conninfo)); "
                + "it keeps running after this command: `pgworker stop-local` stops it\n").utf8))
        }
        return (conninfo, true)
    }

    /// Connects; for the private cluster, also brings the schema up to date.
    func connect(name: String = "cli") async throws -> (PQConnection, conninfo: String) {
        let (conninfo, isLocal) = try await resolve()
        let connection = try await PQConnection.connect(conninfo, name: name)
        if isLocal { try await Migrator(connection: connection).migrate() }
        return (connection, conninfo)
    }

    /// Sets up swift-log with the chosen level and format.
    func bootstrapLogging() -> Logger {
        let level = logLevel, format = logFormat
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = TextLogHandler(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        return Logger(label: "pgworker")
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
