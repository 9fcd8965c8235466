import Foundation
import PGWorker
import PQClient

/// A throw-away database for one benchmark run: created and migrated on the configured server,
/// dropped at the end, so a run never touches real jobs.
struct BenchDatabase: Sendable {
    /// The database name, `pgworker_bench_<random hex>`.
    let name: String
    /// The connection string for it.
    let conninfo: String
    /// The connection string of the database used to create and drop it.
    let adminConninfo: String

    /// Creates and migrates a fresh database on the server `adminConninfo` points at.
    static func create(adminConninfo: String) async throws -> BenchDatabase {
        let name = "pgworker_bench_" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let admin = try await PQConnection.connect(adminConninfo, name: "bench-admin")
        do {
            let quoted = try await admin.quoteIdentifier(name)
            try await admin.execute("CREATE DATABASE \(quoted)")
            // Counts calls of complete_and_claim/complete_jobs (pg_stat_user_functions), to show batch sizes.
            // It needs superuser; without it those counts are simply not shown.
            try? await admin.execute("ALTER DATABASE \(quoted) SET track_functions = 'pl'")
        } catch {
            await admin.close()
            throw error
        }
        await admin.close()
        let database = BenchDatabase(
            name: name, conninfo: try ConnectionString.replacingDatabase(in: adminConninfo, with: name),
            adminConninfo: adminConninfo)
        do {
            let connection = try await PQConnection.connect(database.conninfo, name: "bench-migrate")
            try await Migrator(connection: connection).migrate()
            await connection.close()
        } catch {
            try? await database.drop()
            throw error
        }
        return database
    }

    /// Drops the database, disconnecting anything still connected to it.
    func drop() async throws {
        let admin = try await PQConnection.connect(adminConninfo, name: "bench-admin")
        try await admin.execute("DROP DATABASE IF EXISTS \(try await admin.quoteIdentifier(name)) WITH (FORCE)")
        await admin.close()
    }

    /// Opens a connection to it.
    func connect(_ label: String) async throws -> PQConnection {
        try await PQConnection.connect(conninfo, name: label)
    }
}
