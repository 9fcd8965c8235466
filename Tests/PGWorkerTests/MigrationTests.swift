import Foundation
@testable import PGWorker
import PQClient
import XCTest

final class MigrationTests: XCTestCase {
    func testMigrationsApplyOnceAndReapplyIsANoOp() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        let migrator = Migrator(connection: connection)
        let before = try await migrator.installedVersion()
        XCTAssertNil(before)
        let applied = try await migrator.migrate()
        XCTAssertEqual(applied, Migration.all.map(\.version))
        let again = try await migrator.migrate()
        XCTAssertEqual(again, [])
        try await migrator.requireCurrent()
        // Every migration file is itself idempotent: running it again over the schema changes nothing.
        let tablesBefore = try await connection.query("SELECT count(*) AS n FROM pg_class WHERE relnamespace = 'pgworker'::regnamespace").rows[0].decode("n", as: Int.self)
        for migration in Migration.all { try await connection.execute(migration.sql) }
        let tablesAfter = try await connection.query("SELECT count(*) AS n FROM pg_class WHERE relnamespace = 'pgworker'::regnamespace").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(tablesBefore, tablesAfter)
    }

    func testConcurrentMigratorsDoNotRace() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for index in 0..<4 {
                group.addTask {
                    let connection = try await database.connect("migrator-\(index)")
                    return try await Migrator(connection: connection).migrate()
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(results.filter { !$0.isEmpty }.count, 1, "exactly one migrator applies: \(results)")
    }

    func testNewerDatabaseIsRefused() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.query("INSERT INTO pgworker.migrations (version, name) VALUES (9999, 'future')")
        do {
            try await Migrator(connection: connection).migrate()
            XCTFail("expected refusal")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .databaseIsNewer(database: 9999, known: Migration.latestVersion))
            XCTAssertTrue(error.description.contains("newer pgworker"), error.description)
        }
        do {
            try await Migrator(connection: connection).requireCurrent()
            XCTFail("expected refusal")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .databaseIsNewer(database: 9999, known: Migration.latestVersion))
        }
    }

    func testUnmigratedDatabaseGivesClearError() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        do {
            try await Migrator(connection: connection).requireCurrent()
            XCTFail("expected an error")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .notInstalled)
            XCTAssertTrue(error.description.contains("pgworker migrate"))
        }
    }

    func testEmbeddedSQLMatchesTheSQLFolder() throws {
        let folder = SchemaDump.repositoryRoot.appendingPathComponent("SQL")
        let migrations = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("migrations").path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertEqual(migrations.count, Migration.all.count, "run scripts/embed-sql")
        for (file, migration) in zip(migrations, Migration.all) {
            let text = try String(contentsOf: folder.appendingPathComponent("migrations/\(file)"), encoding: .utf8)
            XCTAssertEqual(Int(file.prefix(while: \.isNumber)), migration.version)
            XCTAssertEqual(text.trimmingCharacters(in: .newlines), migration.sql.trimmingCharacters(in: .newlines),
                           "SQL/migrations/\(file) changed: run scripts/embed-sql")
        }
        var files: [String] = []
        for kind in ["functions", "views", "privileges"] {
            files += try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(kind).path)
                .filter { $0.hasSuffix(".sql") }.sorted().map { "\(kind)/\($0)" }
        }
        XCTAssertEqual(files, SchemaDefinition.all.map { "\($0.kind.rawValue)s/\($0.name).sql" }, "run scripts/embed-sql")
        for (file, definition) in zip(files, SchemaDefinition.all) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            XCTAssertEqual(text.trimmingCharacters(in: .newlines), definition.sql.trimmingCharacters(in: .newlines),
                           "SQL/\(file) changed: run scripts/embed-sql")
        }
    }

    /// Each function and view has its one current definition in a file named after it, and no
    /// migration defines one (a migration may only drop an object whose signature changes).
    func testEachDefinitionFileDefinesTheObjectItIsNamedAfter() throws {
        for definition in SchemaDefinition.all where definition.kind != .privilege {
            let keyword = definition.kind == .function ? "FUNCTION" : "VIEW"
            let creates = definition.sql.components(separatedBy: "CREATE OR REPLACE \(keyword) pgworker.").dropFirst()
                .map { String($0.prefix { $0.isLetter || $0.isNumber || $0 == "_" }) }
            XCTAssertEqual(creates, [definition.name], "SQL/\(definition.kind.rawValue)s/\(definition.name).sql")
        }
        for migration in Migration.all {
            for forbidden in ["CREATE OR REPLACE FUNCTION", "CREATE FUNCTION", "CREATE OR REPLACE VIEW", "CREATE VIEW", "CREATE TRIGGER"] {
                XCTAssertFalse(migration.sql.contains(forbidden), "migration \(migration.version) must not \(forbidden)")
            }
        }
    }

    /// The schema a fresh install ends with, dumped by pg_dump, is checked in as
    /// `SQL/schema-dump.sql`, so every change to it shows in review as a readable diff. After a
    /// deliberate change, refresh it with `PGWORKER_UPDATE_SCHEMA_DUMP=1 scripts/test --filter testSchemaDump`.
    func testSchemaDumpMatchesTheCheckedInDump() async throws {
        let database = try await TestDatabase.create(for: self)
        let dump = try await SchemaDump.dump(database)
        let file = SchemaDump.repositoryRoot.appendingPathComponent("SQL/schema-dump.sql")
        if ProcessInfo.processInfo.environment["PGWORKER_UPDATE_SCHEMA_DUMP"] == "1" {
            try (SchemaDump.header + dump).write(to: file, atomically: true, encoding: .utf8)
        }
        let checkedIn = try String(contentsOf: file, encoding: .utf8)
        XCTAssertTrue(checkedIn == SchemaDump.header + dump,
                      "the schema changed; review the difference and refresh SQL/schema-dump.sql (PGWORKER_UPDATE_SCHEMA_DUMP=1):\n"
                      + SchemaDump.difference(SchemaDump.header + dump, checkedIn))
    }

    /// A database migrated by the previous layout (migrations 001-008 with the function bodies in
    /// them) ends, after `migrate`, exactly where a fresh install does.
    func testUpgradeFromVersion8MatchesAFreshInstall() async throws {
        let fresh = try await TestDatabase.create(for: self)
        let old = try await TestDatabase.create(for: self, migrated: false)
        let fixture = SchemaDump.repositoryRoot.appendingPathComponent("Tests/PGWorkerTests/Fixtures/schema-v8.sql")
        let restore = try await runProcess(try SchemaDump.program("psql"),
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", old.conninfo, "-f", fixture.path])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        let connection = try await old.connect()
        let applied = try await Migrator(connection: connection).migrate()
        XCTAssertEqual(applied, Migration.all.map(\.version).filter { $0 > 8 })
        await connection.close()
        let upgraded = try await SchemaDump.dump(old)
        let expected = try await SchemaDump.dump(fresh)
        XCTAssertTrue(upgraded == expected, "an upgraded schema differs from a fresh one:\n\(SchemaDump.difference(upgraded, expected))")
    }

    /// Roles the old grant_app / grant_worker served keep working after the upgrade, through the
    /// groups, and lose the broad rights granted straight on pgworker's objects.
    func testUpgradeMovesRolesOfTheOldGrantFunctionsIntoTheGroups() async throws {
        let old = try await TestDatabase.create(for: self, migrated: false)
        let fixture = SchemaDump.repositoryRoot.appendingPathComponent("Tests/PGWorkerTests/Fixtures/schema-v8.sql")
        let restore = try await runProcess(try SchemaDump.program("psql"),
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", old.conninfo, "-f", fixture.path])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        let connection = try await old.connect()
        let suffix = UInt32.random(in: 0...UInt32.max)
        let app = "legacy_app_\(suffix)", worker = "legacy_worker_\(suffix)"
        try await connection.execute("""
            CREATE ROLE \(app) LOGIN; CREATE ROLE \(worker) LOGIN;
            SELECT pgworker.grant_app('\(app)'); SELECT pgworker.grant_worker('\(worker)');
            """)
        addTeardownBlock {
            let cleanup = try await old.connect("teardown")
            try await cleanup.execute("DROP OWNED BY \(app), \(worker); DROP ROLE \(app); DROP ROLE \(worker)")
            await cleanup.close()
        }
        try await Migrator(connection: connection).migrate()
        let rows = try await connection.query("""
            SELECT pg_has_role($1, 'pgworker_app', 'MEMBER') AS app_in_group,
                   pg_has_role($2, 'pgworker_worker', 'MEMBER') AS worker_in_group,
                   has_table_privilege($1, 'pgworker.jobs', 'UPDATE') AS app_updates,
                   has_table_privilege($2, 'pgworker.sql_tasks', 'INSERT') AS worker_registers,
                   has_function_privilege($2, 'pgworker.set_retention(text, interval)', 'EXECUTE') AS worker_sets_retention,
                   has_function_privilege($2, 'pgworker.complete_and_claim(text, bigint[], boolean[], jsonb[], text[], boolean[], text[], text[], integer, boolean, jsonb)', 'EXECUTE') AS worker_claims,
                   (SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a
                    WHERE c.relnamespace = 'pgworker'::regnamespace AND a.grantee IN ($1::regrole, $2::regrole)) AS direct_grants
            """, [app, worker])
        let row = rows.rows[0]
        XCTAssertEqual(try row.decode("app_in_group", as: Bool.self), true)
        XCTAssertEqual(try row.decode("worker_in_group", as: Bool.self), true)
        XCTAssertEqual(try row.decode("app_updates", as: Bool.self), false)
        XCTAssertEqual(try row.decode("worker_registers", as: Bool.self), false)
        XCTAssertEqual(try row.decode("worker_sets_retention", as: Bool.self), false)
        XCTAssertEqual(try row.decode("worker_claims", as: Bool.self), true)
        XCTAssertEqual(try row.decode("direct_grants", as: Int.self), 0)
    }
}

/// pg_dump of a test database's `pgworker` schema, made comparable.
enum SchemaDump {
    /// The repository's root folder.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The first lines of `SQL/schema-dump.sql`.
    static let header = """
        -- GENERATED: the pgworker schema after a fresh `pgworker migrate`, as pg_dump prints it.
        -- Not applied by anything; the source is SQL/migrations, SQL/functions and SQL/views.
        -- MigrationTests.testSchemaDumpMatchesTheCheckedInDump fails when it is stale.

        """

    /// A PostgreSQL client program from the same installation as the test cluster.
    static func program(_ name: String) throws -> String {
        "\(try LocalPostgres.binaryDirectory())/\(name)"
    }

    /// The schema (with its grants and owners) as pg_dump prints it, without the random
    /// `\restrict` keys of newer pg_dump releases.
    static func dump(_ database: TestDatabase) async throws -> String {
        let output = try await runProcess(try program("pg_dump"),
            ["--schema-only", "--schema=pgworker", "--no-comments", "-d", database.conninfo])
        guard output.status == 0 else { throw LocalPostgresError(message: "pg_dump failed: \(output.stderr)") }
        return output.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") && !$0.hasPrefix("-- Dumped ") }
            .joined(separator: "\n")
    }

    /// The first lines where two dumps differ, for a failure message.
    static func difference(_ left: String, _ right: String) -> String {
        let a = left.split(separator: "\n", omittingEmptySubsequences: false)
        let b = right.split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else {
            return "(one dump is longer: \(a.count) vs \(b.count) lines)"
        }
        let window = first..<min(first + 12, max(a.count, b.count))
        return window.map { "- \($0 < a.count ? a[$0] : "")\n+ \($0 < b.count ? b[$0] : "")" }.joined(separator: "\n")
    }
}

/// Uses the migrator with migrations made up for the test.
final class MigrationOrderTests: XCTestCase {
    func testAMigrationNumberedBelowTheNewestAppliedStillApplies() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        let one = Migration(version: 1, name: "one", sql: "CREATE TABLE pgworker.one (id int)")
        let two = Migration(version: 2, name: "two", sql: "CREATE TABLE pgworker.two (id int)")
        let three = Migration(version: 3, name: "three", sql: "CREATE TABLE pgworker.three (id int)")
        let first = try await Migrator(connection: connection, migrations: [one, three]).migrate()
        XCTAssertEqual(first, [1, 3])
        do {
            try await Migrator(connection: connection, migrations: [one, two, three]).requireCurrent()
            XCTFail("a database without migration 2 is not current")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .outdated(database: 3, latest: 3))
        }
        let second = try await Migrator(connection: connection, migrations: [one, two, three]).migrate()
        XCTAssertEqual(second, [2])
        try await Migrator(connection: connection, migrations: [one, two, three]).requireCurrent()
    }

    func testAFailingMigrationAppliesNothing() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        let good = Migration(version: 1, name: "good", sql: "CREATE TABLE pgworker.good (id int)")
        let bad = Migration(version: 2, name: "bad", sql: "CREATE TABLE pgworker.bad (id int); SELECT no_such_column FROM pgworker.good")
        do {
            try await Migrator(connection: connection, migrations: [good, bad]).migrate()
            XCTFail("expected failure")
        } catch let error as MigrationError {
            guard case .failed(let version, _, let cause) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(version, 2)
            XCTAssertEqual(cause.sqlState, "42703")
        }
        let tables: Int = try await connection.query(
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'pgworker' AND tablename IN ('good', 'bad')").rows[0].decode("n")
        XCTAssertEqual(tables, 0, "the whole run rolled back")
    }
}
