import Foundation
@testable import PGWorker
import PostgresClient
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

    func testEmbeddedMigrationsMatchTheSQLFolder() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let folder = root.appendingPathComponent("SQL")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        XCTAssertEqual(files.count, Migration.all.count, "run scripts/embed-sql")
        for (file, migration) in zip(files, Migration.all) {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            XCTAssertEqual(Int(file.prefix(while: \.isNumber)), migration.version)
            XCTAssertEqual(text.trimmingCharacters(in: .newlines), migration.sql.trimmingCharacters(in: .newlines),
                           "\(file) changed: run scripts/embed-sql")
        }
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
