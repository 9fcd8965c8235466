import PGWorker
import PQClient
import XCTest

final class SQLTaskTests: XCTestCase {
    /// A function that records its payload and raises when asked to.
    static let setup = """
        CREATE TABLE app_log (n int);
        CREATE FUNCTION app_work(payload jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO app_log VALUES ((payload->>'n')::int);
            IF payload->>'fail' = 'yes' THEN
                RAISE EXCEPTION 'refusing %', payload->>'n' USING ERRCODE = 'P0042', DETAIL = 'asked to fail', HINT = 'do not ask';
            END IF;
            RETURN jsonb_build_object('doubled', (payload->>'n')::int * 2);
        END $$;
        CREATE FUNCTION app_void(payload jsonb) RETURNS void LANGUAGE sql AS $$ INSERT INTO app_log VALUES (-1) $$;
        SELECT pgworker.register_sql_task('work', 'app_work(jsonb)'::regprocedure);
        SELECT pgworker.register_sql_task('void', 'app_void(jsonb)'::regprocedure);
        """

    func testSQLTaskRunsInTheOutcomeTransaction() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute(Self.setup)
        // No Swift handlers at all: the worker still runs registered SQL tasks.
        try await withTestWorker(database, tasks: TaskRegistry()) { running in
            let ok = try await JobClient(connection: app).add("work", json: #"{"n": 21}"#).id
            let void = try await JobClient(connection: app).add("void").id
            let bad = try await JobClient(connection: app).add("work", json: #"{"n": 7, "fail": "yes"}"#, options: JobOptions(maxAttempts: 1)).id

            try await eventually {
                let succeeded = try await app.jobsAll([ok, void], in: "succeeded")
                let dead = try await app.jobsAll([bad], in: "dead")
                return succeeded && dead
            }
            let result: String = try await app.query("SELECT result::text AS r FROM pgworker.jobs WHERE id = $1", [ok]).rows[0].decode("r")
            XCTAssertEqual(result, #"{"doubled": 42}"#)
            let logged = try await app.query("SELECT n FROM app_log ORDER BY n").rows.map { try $0.decode("n", as: Int.self) }
            XCTAssertEqual(logged, [-1, 21], "the failed call's insert was rolled back")
            let error: String = try await app.query("SELECT last_error FROM pgworker.jobs WHERE id = $1", [bad]).rows[0].decode("last_error")
            XCTAssertTrue(error.contains("refusing 7"), error)
            XCTAssertTrue(error.contains("SQLSTATE P0042"), error)
            XCTAssertTrue(error.contains("asked to fail") && error.contains("do not ask"), error)
        }
    }

    func testRegisterRejectsFunctionsWithTheWrongSignature() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("CREATE FUNCTION two_args(a jsonb, b int) RETURNS void LANGUAGE sql AS 'SELECT 1'")
        do {
            try await app.execute("SELECT pgworker.register_sql_task('x', 'two_args(jsonb, int)'::regprocedure)")
            XCTFail("expected rejection")
        } catch let error as PQError {
            XCTAssertTrue(error.message.contains("exactly one jsonb argument"), error.message)
        }
    }
}
