import Foundation
import PGWorker
import PQClient
import XCTest

/// The PostgreSQL cluster the tests run against: a private one started with initdb/pg_ctl.
///
/// `scripts/test` chooses its folder (`PGWORKER_TEST_CLUSTER`) and stops it afterwards; a bare
/// `swift test` uses `/tmp/pgworker-test-cluster` and leaves it running for the next run.
enum TestCluster {
    /// The cluster's folder.
    static let directory = URL(fileURLWithPath:
        ProcessInfo.processInfo.environment["PGWORKER_TEST_CLUSTER"] ?? "/tmp/pgworker-test-cluster")

    /// The cluster; `pg_ctl` tests use it to restart the server.
    static let cluster = LocalPostgres(directory: directory, port: 5432, settings: [
        // Tests need speed, not durability.
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300",
    ])

    private static let started = Task<String, any Error> {
        let adminConninfo = try await cluster.start()
        let admin = try await PQConnection.connect(adminConninfo, name: "test-admin")
        // A migrated template makes each test's fresh database a quick file copy.
        try await admin.execute("DROP DATABASE IF EXISTS pgworker_template")
        try await admin.execute("CREATE DATABASE pgworker_template")
        let template = try await PQConnection.connect(TestCluster.conninfo(database: "pgworker_template"), name: "test-template")
        try await Migrator(connection: template).migrate()
        await template.close()
        await admin.close()
        return adminConninfo
    }

    /// Starts the cluster once per test process. Returns the admin connection string.
    static func start() async throws -> String {
        try await started.value
    }

    /// The connection string for one database of the cluster.
    static func conninfo(database: String) -> String {
        "host='\(directory.appendingPathComponent("run").path)' port=5432 user=postgres dbname='\(database)'"
    }
}

/// A database of its own for one test, dropped when the test ends.
struct TestDatabase: Sendable {
    /// The database name.
    let name: String
    /// Its connection string.
    var conninfo: String { TestCluster.conninfo(database: name) }

    /// Creates a fresh database, migrated unless `migrated` is false, and drops it after the test.
    static func create(for testCase: XCTestCase, migrated: Bool = true) async throws -> TestDatabase {
        let admin = try await PQConnection.connect(try await TestCluster.start(), name: "test-admin")
        let name = "t_\(UInt64.random(in: 0...UInt64.max))"
        try await admin.execute("CREATE DATABASE \(name) TEMPLATE \(migrated ? "pgworker_template" : "template0")")
        await admin.close()
        let database = TestDatabase(name: name)
        testCase.addTeardownBlock {
            let admin = try await PQConnection.connect(try await TestCluster.start(), name: "test-admin")
            try await admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            await admin.close()
        }
        return database
    }

    /// Opens a connection to the database.
    func connect(_ label: String = "test") async throws -> PQConnection {
        try await PQConnection.connect(conninfo, name: label)
    }
}

/// Waits until `condition` holds, checking every 20 ms; fails the test after `timeout`.
func eventually(
    timeout: Duration = .seconds(10), _ message: @autoclosure () -> String = "condition never became true",
    file: StaticString = #filePath, line: UInt = #line,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    XCTFail("timed out after \(timeout): \(message())", file: file, line: line)
    throw CancellationError()
}
