import PQClient

/// Brings a database's `pgworker` schema up to date: the pending migrations of `SQL/migrations/`,
/// each exactly once, then the current definition of every function and view
/// (`SQL/functions/`, `SQL/views/`).
///
/// Everything applies in one transaction under an advisory lock, so two migrators started at
/// once never race, and a failure leaves nothing half-applied. A database migrated by a newer
/// pgworker is refused rather than touched.
public struct Migrator: Sendable {
    /// The advisory lock key migrators serialize on (an arbitrary constant: "pgwk").
    static let lockKey: Int64 = 0x7067_776B

    private let connection: PQConnection
    private let migrations: [Migration]
    private let definitions: [SchemaDefinition]

    /// Creates a migrator for the migrations and definitions embedded in this build.
    public init(connection: PQConnection) {
        self.init(connection: connection, migrations: Migration.all, definitions: SchemaDefinition.all)
    }

    init(connection: PQConnection, migrations: [Migration], definitions: [SchemaDefinition] = []) {
        self.connection = connection
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.definitions = definitions
    }

    /// The schema version the database is at, or nil when pgworker was never installed there.
    public func installedVersion() async throws -> Int? {
        let exists = try await connection.query("SELECT to_regclass('pgworker.migrations') IS NOT NULL AS present")
        guard try exists.first?.decode("present", as: Bool.self) == true else { return nil }
        let row = try await connection.query("SELECT max(version) AS version FROM pgworker.migrations").first
        return try row?.decodeIfPresent("version", as: Int.self)
    }

    /// Brings the database up to date: applies the pending migrations, then every current
    /// definition. Returns the migration versions applied now (empty when none were due).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let migrations = self.migrations
        let definitions = self.definitions
        return try await connection.withTransaction { connection in
            try connection.query("SELECT pg_advisory_xact_lock($1)", [Migrator.lockKey])
            try connection.execute("""
                CREATE SCHEMA IF NOT EXISTS pgworker;
                CREATE TABLE IF NOT EXISTS pgworker.migrations (
                    version    integer     PRIMARY KEY,
                    name       text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                );
                """)
            let recorded = Set(try connection.query("SELECT version FROM pgworker.migrations").rows
                .map { try $0.decode("version", as: Int.self) })
            let latest = migrations.last?.version ?? 0
            if let newest = recorded.max(), newest > latest {
                throw MigrationError.databaseIsNewer(database: newest, known: latest)
            }
            // Every migration not yet recorded applies, in version order, even one numbered below
            // the newest applied (branches merged out of order); each file is idempotent, and
            // none defines a function or view, so none can overwrite a newer body.
            var applied: [Int] = []
            for migration in migrations where !recorded.contains(migration.version) {
                do {
                    try connection.execute(migration.sql)
                } catch let error as PQError {
                    throw MigrationError.failed(version: migration.version, name: migration.name, error: error)
                }
                try connection.query("INSERT INTO pgworker.migrations (version, name) VALUES ($1, $2)",
                                     [migration.version, migration.name])
                applied.append(migration.version)
            }
            // Bodies are checked when they run (as pg_dump restores them), so definitions may
            // call one another in any order.
            try connection.execute("SET LOCAL check_function_bodies = off")
            for definition in definitions {
                do {
                    try connection.execute(definition.sql)
                } catch let error as PQError {
                    throw MigrationError.definitionFailed(kind: definition.kind.rawValue, name: definition.name, error: error)
                }
            }
            return applied
        }
    }

    /// Throws a clear error unless the database is at exactly the version this build knows.
    public func requireCurrent() async throws {
        let latest = migrations.last?.version ?? 0
        guard let installed = try await installedVersion() else {
            throw MigrationError.notInstalled
        }
        if installed > latest { throw MigrationError.databaseIsNewer(database: installed, known: latest) }
        let recorded = Set(try await connection.query("SELECT version FROM pgworker.migrations").rows
            .map { try $0.decode("version", as: Int.self) })
        if migrations.contains(where: { !recorded.contains($0.version) }) {
            throw MigrationError.outdated(database: installed, latest: latest)
        }
    }
}

/// Why the schema cannot be used or upgraded.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    /// The database has no pgworker schema.
    case notInstalled
    /// The database is older than this build; run `pgworker migrate`.
    case outdated(database: Int, latest: Int)
    /// The database was migrated by a newer pgworker.
    case databaseIsNewer(database: Int, known: Int)
    /// A migration's SQL failed; nothing was applied.
    case failed(version: Int, name: String, error: PQError)
    /// The current definition of a function or view failed to apply; nothing was applied.
    case definitionFailed(kind: String, name: String, error: PQError)

    public var description: String {
        switch self {
        case .notInstalled:
            return "database is not migrated: pgworker's schema is missing; run `pgworker migrate` first"
        case .outdated(let database, let latest):
            return "database schema is at version \(database) but this pgworker needs \(latest); run `pgworker migrate`"
        case .databaseIsNewer(let database, let known):
            return "database was migrated by a newer pgworker (schema version \(database); this build knows up to \(known)); upgrade pgworker"
        case .failed(let version, let name, let error):
            return "migration \(version) (\(name)) failed, nothing was applied: \(error)"
        case .definitionFailed(let kind, let name, let error):
            return "the definition of \(kind) pgworker.\(name) (SQL/\(kind)s/\(name).sql) failed, nothing was applied: \(error)"
        }
    }
}
