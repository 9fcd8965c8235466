import Foundation
import Logging
import PostgresNIO
import PQClient
import XCTest

extension TestDatabase {
    /// postgres-nio's configuration for this database: the test cluster's Unix socket, as `user`
    /// (the cluster trusts local connections, so no password).
    func postgresNIOConfiguration(user: String = "postgres") -> PostgresClient.Configuration {
        PostgresClient.Configuration(
            unixSocketPath: TestCluster.directory.appendingPathComponent("run/.s.PGSQL.5432").path,
            username: user, password: nil, database: name)
    }

    /// Runs `body` with a running postgres-nio client (pool) on this database, as `user`; the
    /// client stops when `body` ends.
    func withPostgresNIOClient<Result: Sendable>(
        user: String = "postgres", _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: postgresNIOConfiguration(user: user), backgroundLogger: nioTestLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// A new non-superuser login role granted `pgworker_app`, dropped after the test, that owns
    /// a table `orders (id bigserial, item text)`: an application as docs/security.md sees it.
    func makeAppRole(for testCase: XCTestCase) async throws -> String {
        let role = "nio_app_\(UInt32.random(in: 0...UInt32.max))"
        let owner = try await connect("owner")
        try await owner.execute("CREATE ROLE \(role) LOGIN NOSUPERUSER; GRANT pgworker_app TO \(role); GRANT CREATE ON SCHEMA public TO \(role)")
        await owner.close()
        let app = try await PQConnection.connect(conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(role)"))
        try await app.execute("CREATE TABLE orders (id bigserial PRIMARY KEY, item text NOT NULL)")
        await app.close()
        testCase.addTeardownBlock {
            let cleanup = try await connect("teardown")
            try await cleanup.execute("DROP OWNED BY \(role) CASCADE; DROP ROLE \(role)")
            await cleanup.close()
        }
        return role
    }
}

/// postgres-nio's logger in tests: warnings only.
let nioTestLogger: Logger = {
    var logger = Logger(label: "test-postgres-nio")
    logger.logLevel = .warning
    return logger
}()

extension PQConnection {
    /// The one value of a one-column, one-row query (a count, say).
    func value<Value: PQDecodable>(_ sql: String, as type: Value.Type = Int64.self) async throws -> Value {
        let result = try query(sql)
        return try XCTUnwrap(result.rows.first, "no row: \(sql)").decode(column: 0, as: type)
    }
}
