import PQClient
import XCTest

final class PQClientTests: XCTestCase {
    func testBoundParametersAreDataNeverSQL() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        try await connection.execute("CREATE TABLE t (name text)")
        let hostile = "x'); DROP TABLE t; --"
        try await connection.query("INSERT INTO t VALUES ($1)", [hostile])
        let row = try await connection.query("SELECT name, $1::text IS NULL AS was_null FROM t", [String?.none]).rows[0]
        XCTAssertEqual(try row.decode("name", as: String.self), hostile)
        XCTAssertTrue(try row.decode("was_null", as: Bool.self))
    }

    func testArraysAndTypedDecoding() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        let row = try await connection.query(
            "SELECT array_length($1::text[], 1) AS n, ($1::text[])[2] AS second, $2::bigint + 1 AS next, $3::float8 AS ratio",
            [["a", "b \"quoted\" \\ back", "c,d"], Int64(41), 0.5]
        ).rows[0]
        XCTAssertEqual(try row.decode("n", as: Int.self), 3)
        XCTAssertEqual(try row.decode("second", as: String.self), "b \"quoted\" \\ back")
        XCTAssertEqual(try row.decode("next", as: Int64.self), 42)
        XCTAssertEqual(try row.decode("ratio", as: Double.self), 0.5)
        XCTAssertThrowsError(try row.decode("second", as: Int.self))
        XCTAssertThrowsError(try row.decode("missing", as: Int.self))
    }

    func testServerErrorsCarrySQLStateAndDetail() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        try await connection.execute("CREATE TABLE u (id int PRIMARY KEY)")
        try await connection.query("INSERT INTO u VALUES (1)")
        do {
            try await connection.query("INSERT INTO u VALUES (1)")
            XCTFail("expected a unique violation")
        } catch let error as PQError {
            XCTAssertEqual(error.kind, .server)
            XCTAssertEqual(error.sqlState, "23505")
            XCTAssertTrue(error.message.contains("duplicate key"), error.message)
            XCTAssertEqual(error.detail, "Key (id)=(1) already exists.")
            XCTAssertFalse(error.isConnectionLoss)
        }
        // The connection is still usable after a statement error.
        let one = try await connection.query("SELECT 1 AS one").rows[0].decode("one", as: Int.self)
        XCTAssertEqual(one, 1)
    }

    /// Rows come back before the commit; the commit is confirmed afterwards, and statements that
    /// follow on the same connection run after it.
    func testRowsBeforeCommitThenTheCommitIsConfirmed() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        let other = try await database.connect("other")
        try await connection.execute("CREATE TABLE early (id int PRIMARY KEY)")
        let rows = try await connection.queryPreparedBeforeCommit("INSERT INTO early VALUES ($1) RETURNING id", [7]).rows
        XCTAssertEqual(try rows.map { try $0.decode("id", as: Int.self) }, [7])
        try await connection.confirmCommit()
        let seen = try await other.query("SELECT count(*) AS n FROM early").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(seen, 1)
        // Again, now followed directly by another statement, which waits for the commit.
        try await connection.queryPreparedBeforeCommit("INSERT INTO early VALUES ($1) RETURNING id", [8])
        let both = try await connection.query("SELECT count(*) AS n FROM early").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(both, 2)
        try await connection.confirmCommit()
    }

    /// A statement and the session reset after it go out together: the statement's rows come
    /// back, a setting given for it applies to it, and what it left in the session is gone after.
    /// A failing statement throws its own error, and the connection stays usable.
    func testQueryThenResetSession() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        let (result, failure) = try await connection.queryThenResetSession(
            """
            SELECT current_setting('statement_timeout') AS timeout, pg_advisory_lock(42)::text AS locked,
                   set_config('work_mem', '7MB', false) AS work_mem
            """, [], settings: [(name: "statement_timeout", value: "1234")])
        XCTAssertNil(failure)
        XCTAssertEqual(try result.rows[0].decode("timeout", as: String.self), "1234ms")
        let after = try await connection.query(
            """
            SELECT current_setting('statement_timeout') AS timeout, current_setting('work_mem') <> '7MB' AS reset,
                   (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks
            """).rows[0]
        XCTAssertEqual(try after.decode("timeout", as: String.self), "0")
        XCTAssertEqual(try after.decode("reset", as: Bool.self), true)
        XCTAssertEqual(try after.decode("locks", as: Int.self), 0, "the session advisory lock was released")
        do {
            _ = try await connection.queryThenResetSession("SELECT 1 / 0 AS never", [])
            XCTFail("the statement's error is thrown")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "22012")
        }
        let one = try await connection.query("SELECT 1 AS one").rows[0].decode("one", as: Int.self)
        XCTAssertEqual(one, 1)
    }

    /// A commit that fails after the rows came back (a deferred constraint here) is reported by
    /// `confirmCommit`, once, even when another statement read it first; nothing was committed.
    func testFailedCommitAfterEarlyRowsIsReportedOnce() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        try await connection.execute("CREATE TABLE deferred (id int UNIQUE DEFERRABLE INITIALLY DEFERRED); INSERT INTO deferred VALUES (1)")
        let rows = try await connection.queryPreparedBeforeCommit("INSERT INTO deferred VALUES ($1) RETURNING id", [1]).rows
        XCTAssertEqual(rows.count, 1, "the row comes back: the check is deferred to the commit")
        let count = try await connection.query("SELECT count(*) AS n FROM deferred").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(count, 1, "the duplicate was not committed")
        do {
            try await connection.confirmCommit()
            XCTFail("expected the failed commit")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "23505")
            XCTAssertFalse(error.isConnectionLoss)
        }
        try await connection.confirmCommit()  // reported once
    }

    /// Two early statements in a row: the first one's failed commit is still reported.
    func testAFailedCommitIsNotHiddenByTheNextEarlyStatement() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        try await connection.execute("CREATE TABLE deferred (id int UNIQUE DEFERRABLE INITIALLY DEFERRED); INSERT INTO deferred VALUES (1)")
        try await connection.queryPreparedBeforeCommit("INSERT INTO deferred VALUES ($1) RETURNING id", [1])
        try await connection.queryPreparedBeforeCommit("INSERT INTO deferred VALUES ($1) RETURNING id", [2])
        do {
            try await connection.confirmCommit()
            XCTFail("the first statement's failed commit was never reported")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "23505")
        }
        let ids = try await connection.query("SELECT array_agg(id ORDER BY id)::text AS ids FROM deferred").rows[0].decode("ids", as: String.self)
        XCTAssertEqual(ids, "{1,2}")
    }

    /// Inside a transaction block it cannot commit on its own, so it refuses to run.
    func testEarlyStatementRefusesToRunInsideATransaction() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        try await connection.execute("BEGIN")
        do {
            try await connection.queryPreparedBeforeCommit("SELECT 1 AS x")
            XCTFail("expected a usage error")
        } catch let error as PQError {
            XCTAssertEqual(error.kind, .usage)
        }
        try await connection.execute("ROLLBACK")
    }

    /// A statement that fails throws at once, and leaves nothing to confirm.
    func testStatementErrorBeforeCommitThrowsAtOnce() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        do {
            try await connection.queryPreparedBeforeCommit("SELECT 1 / $1 AS x", [0])
            XCTFail("expected division by zero")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "22012")
        }
        try await connection.confirmCommit()
        let x = try await connection.queryPreparedBeforeCommit("SELECT 6 / $1 AS x", [2]).rows[0].decode("x", as: Int.self)
        XCTAssertEqual(x, 3)
    }

    func testTransactionRollsBackWhenBodyThrows() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        try await connection.execute("CREATE TABLE v (id int)")
        struct Boom: Error {}
        do {
            try await connection.withTransaction { connection in
                try connection.query("INSERT INTO v VALUES (1)")
                throw Boom()
            }
        } catch is Boom {}
        let count = try await connection.query("SELECT count(*) AS n FROM v").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(count, 0)
    }

    func testListenReceivesNotificationsAndWaitsWithoutBusyPolling() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let listener = try await database.connect("listener")
        let sender = try await database.connect("sender")
        try await listener.listen("chan with \"quotes\"")

        let start = ContinuousClock.now
        let none = try await listener.waitForNotifications(timeout: .milliseconds(200))
        XCTAssertTrue(none.isEmpty)
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(150))

        try await sender.query("SELECT pg_notify($1, $2)", ["chan with \"quotes\"", "hello"])
        let received = try await listener.waitForNotifications(timeout: .seconds(5))
        XCTAssertEqual(received.map(\.payload), ["hello"])
        XCTAssertEqual(received.first?.channel, "chan with \"quotes\"")
    }

    func testInterruptWaitReturnsEarly() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let listener = try await database.connect("listener")
        try await listener.listen("x")
        let start = ContinuousClock.now
        Task {
            try await Task.sleep(for: .milliseconds(100))
            listener.interruptWait()
        }
        _ = try await listener.waitForNotifications(timeout: .seconds(20))
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5))
    }

    func testCancelStopsARunningStatement() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let connection = try await database.connect()
        Task {
            try await Task.sleep(for: .milliseconds(200))
            connection.cancelRunningQuery()
        }
        do {
            try await connection.query("SELECT pg_sleep(30)")
            XCTFail("expected cancellation")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "57014")
        }
    }

    func testLostConnectionIsReportedAsConnectionLoss() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let victim = try await database.connect("victim")
        let killer = try await database.connect("killer")
        let pid = await victim.backendPID
        try await killer.query("SELECT pg_terminate_backend($1)", [Int(pid)])
        do {
            try await victim.query("SELECT 1")
            XCTFail("expected a connection error")
        } catch let error as PQError {
            XCTAssertTrue(error.isConnectionLoss, "\(error)")
        }
    }

    func testUnreachableServerGivesOneLineError() async throws {
        do {
            _ = try await PQConnection.connect("host=/nonexistent port=1 user=nobody connect_timeout=2")
            XCTFail("expected failure")
        } catch let error as PQError {
            XCTAssertEqual(error.kind, .connection)
            XCTAssertFalse(error.description.contains("\n"), error.description)
            XCTAssertTrue(error.description.contains("cannot connect"), error.description)
        }
    }
}
