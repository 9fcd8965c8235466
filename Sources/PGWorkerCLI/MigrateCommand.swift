import ArgumentParser
import PGWorker
import PQClient

/// `pgworker migrate`: installs or upgrades the `pgworker` schema.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Install or upgrade pgworker's schema (safe to re-run; concurrent runs wait for each other)."
    )

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let (conninfo, _) = try await database.resolve()
        let connection = try await PQConnection.connect(conninfo, name: "migrate")
        let applied = try await Migrator(connection: connection).migrate()
        if applied.isEmpty {
            print("schema is up to date (version \(Migration.latestVersion))")
        } else {
            print("applied migrations \(applied.map(String.init).joined(separator: ", ")); schema is at version \(Migration.latestVersion)")
        }
    }
}
