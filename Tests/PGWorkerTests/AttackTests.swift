import Foundation
@testable import PGWorker
import PQClient
import XCTest

/// Attacks on the least-privilege contract (docs/security.md), each run as a real non-superuser
/// role against a real server. Every test asserts that the attack fails *and* that what it aimed
/// at is unchanged.
final class AttackTests: XCTestCase {
    // MARK: - Roles

    /// A fresh database with an `orders` table owned by the login role `app` (not a superuser),
    /// an attachment made by the schema's owner, and connections for the owner and for `app`.
    private struct Scene {
        let database: TestDatabase
        let owner: PQConnection
        let appRole: String
        let app: PQConnection
    }

    private func makeRole(_ database: TestDatabase, _ owner: PQConnection, grant group: String?) async throws -> String {
        let role = "attacker_\(UInt32.random(in: 0...UInt32.max))"
        try await owner.execute("CREATE ROLE \(role) LOGIN")
        if let group { try await owner.execute("GRANT \(group) TO \(role)") }
        addTeardownBlock {
            let cleanup = try await database.connect("teardown")
            try await cleanup.execute("DROP OWNED BY \(role) CASCADE; DROP ROLE \(role)")
            await cleanup.close()
        }
        return role
    }

    private func connect(_ database: TestDatabase, as role: String) async throws -> PQConnection {
        try await PQConnection.connect(database.conninfo.replacingOccurrences(of: "user=postgres", with: "user=\(role)"))
    }

    private func scene(group: String? = "pgworker_app") async throws -> Scene {
        let database = try await TestDatabase.create(for: self)
        let owner = try await database.connect("owner")
        let role = try await makeRole(database, owner, grant: group)
        try await owner.execute("""
            CREATE SCHEMA shop AUTHORIZATION \(role);
            GRANT CREATE ON SCHEMA public TO \(role);
            """)
        let app = try await connect(database, as: role)
        try await app.execute("CREATE TABLE shop.orders (id serial PRIMARY KEY, email text, total numeric)")
        try await owner.execute("SELECT pgworker.attach_trigger('shop.orders', task => 'send_receipt', columns => '{id,email}')")
        return Scene(database: database, owner: owner, appRole: role, app: app)
    }

    private func assertDenied(_ connection: PQConnection, _ statements: [String],
                              file: StaticString = #filePath, line: UInt = #line) async {
        for statement in statements {
            do {
                try await connection.execute(statement)
                XCTFail("allowed: \(statement)", file: file, line: line)
            } catch let error as PQError {
                XCTAssertEqual(error.sqlState, "42501", "\(statement): \(error)", file: file, line: line)
            } catch {
                XCTFail("\(statement): \(error)", file: file, line: line)
            }
        }
    }

    private func isSuperuser(_ connection: PQConnection, _ role: String) async throws -> Bool {
        try await connection.query("SELECT rolsuper FROM pg_roles WHERE rolname = $1", [role]).rows[0].decode("rolsuper")
    }

    /// Every pgworker table, as text, so "unchanged" compares whole contents.
    private func snapshot(_ connection: PQConnection) async throws -> String {
        var text = ""
        for table in ["jobs", "staged_jobs", "workers", "sql_tasks", "trigger_attachments", "queues",
                      "cancel_requests", "schedules", "retention", "migrations"] {
            let rows = try await connection.query(
                "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') AS s FROM pgworker.\(table) t")
            text += "\(table):\n" + (try rows.rows[0].decode("s", as: String.self)) + "\n"
        }
        return text
    }

    // MARK: - App role

    func testAppRoleCannotTamperWithJobsOrCallOperatorFunctions() async throws {
        let scene = try await scene()
        let job: Int64 = try await scene.owner.query(
            "SELECT id FROM pgworker.add_job('charge', '{\"amount\": 5}', job_key => 'k')").rows[0].decode("id")
        let before = try await snapshot(scene.owner)
        await assertDenied(scene.app, [
            "UPDATE pgworker.jobs SET payload = '{\"amount\": 5000}'",
            "UPDATE pgworker.jobs SET state = 'succeeded', finished_at = now() - interval '1 year'",
            "DELETE FROM pgworker.jobs",
            // A fake claim or outcome at insert time: only the enqueue columns are open.
            "INSERT INTO pgworker.jobs (task, state, locked_by, locked_at) VALUES ('charge', 'running', 'ghost', now())",
            "INSERT INTO pgworker.jobs (task, state, finished_at) VALUES ('charge', 'succeeded', now())",
            "INSERT INTO pgworker.staged_jobs (task, queue, priority, run_at, max_attempts, payload) VALUES ('x', 'default', 0, now(), 1, '{}')",
            "SELECT * FROM pgworker.staged_jobs",
            "SELECT * FROM pgworker.trigger_attachments",
            "INSERT INTO pgworker.sql_tasks (task, function) VALUES ('x', 'pg_catalog.now()')",
            "UPDATE pgworker.retention SET keep = '0'",
            "INSERT INTO pgworker.queues (queue, paused) VALUES ('default', true)",
            "INSERT INTO pgworker.cancel_requests (job_id, reason) VALUES (\(job), 'x')",
            "SELECT pgworker.cancel_job(\(job))",
            "SELECT pgworker.retry_job(\(job))",
            "SELECT pgworker.delete_job(\(job))",
            "SELECT pgworker.reschedule_job(\(job), now() + interval '1 year')",
            "SELECT pgworker.claim_jobs('ghost', ARRAY['charge'])",
            "SELECT pgworker.complete_jobs('ghost', ARRAY[\(job)]::bigint[], ARRAY[true], ARRAY[NULL::jsonb], ARRAY[NULL::text], ARRAY[false])",
            "SELECT pgworker.release_jobs('ghost')",
            "SELECT pgworker.rescue_stale_jobs('0')",
            "SELECT pgworker.prune_jobs()",
            "SELECT pgworker.move_staged_jobs()",
            "SELECT pgworker.set_retention('succeeded', '0')",
            "SELECT pgworker.pause_queue('default')",
            "SELECT pgworker.schedule('x', '* * * * *', 'charge')",
            "SELECT pgworker.register_sql_task('x', 'pg_catalog.jsonb_typeof(jsonb)')",
            "SELECT pgworker.attach_trigger('shop.orders', task => 'other')",
            "SELECT pgworker.detach_trigger('shop.orders', 'send_receipt')",
            "SELECT pgworker.grant_admin('\(scene.appRole)')",
            "SELECT pgworker.trigger_1()",
        ])
        let after = try await snapshot(scene.owner)
        XCTAssertEqual(before, after)
    }

    func testAppRoleEnqueuesWithEveryJobKeyModeAndReadsStatus() async throws {
        let scene = try await scene()
        let first: Int64 = try await scene.app.query(
            "SELECT id FROM pgworker.add_job('mail', '{\"n\": 1}', job_key => 'k')").rows[0].decode("id")
        for mode in ["skip", "replace", "preserve_run_at", "skip_waiting_or_running"] {
            let id: Int64 = try await scene.app.query(
                "SELECT id FROM pgworker.add_job('mail', '{\"n\": 2}', job_key => 'k', job_key_mode => $1)", [mode])
                .rows[0].decode("id")
            XCTAssertEqual(id, first, mode)
        }
        let payload: String = try await scene.app.query("SELECT payload::text AS p FROM pgworker.jobs WHERE id = $1", [first])
            .rows[0].decode("p")
        XCTAssertEqual(payload, #"{"n": 2}"#)
        try await scene.app.query("SELECT * FROM pgworker.add_jobs('[{\"task\": \"mail\", \"job_key\": \"j\"}]')")
        try await scene.app.execute("INSERT INTO pgworker.jobs (task, payload, lock_key) VALUES ('mail', '{}', 'l')")
        // What `pgworker status` reads.
        try await Migrator(connection: scene.app).requireCurrent()
        _ = try await QueueStatus.read(scene.app)
    }

    // MARK: - Worker role

    func testWorkerRoleCannotChangeRegistrationsSchedulesOrRetention() async throws {
        let scene = try await scene(group: "pgworker_worker")
        try await scene.owner.execute("""
            CREATE FUNCTION public.noop(jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
            SELECT pgworker.register_sql_task('noop', 'public.noop(jsonb)');
            SELECT pgworker.schedule('nightly', '0 3 * * *', 'noop');
            """)
        let worker = scene.app
        try await worker.execute("CREATE FUNCTION shop.evil(jsonb) RETURNS void LANGUAGE sql AS 'SELECT'")
        let before = try await snapshot(scene.owner)
        await assertDenied(worker, [
            "INSERT INTO pgworker.sql_tasks (task, function) VALUES ('evil', 'shop.evil(jsonb)')",
            "UPDATE pgworker.sql_tasks SET function = 'shop.evil(jsonb)'",
            "DELETE FROM pgworker.sql_tasks",
            "UPDATE pgworker.trigger_attachments SET condition = 'true'",
            "DELETE FROM pgworker.trigger_attachments",
            "INSERT INTO pgworker.schedules (name, cron, task) VALUES ('x', '* * * * *', 'noop')",
            "UPDATE pgworker.schedules SET task = 'evil', payload = '{\"x\": 1}'",
            "UPDATE pgworker.retention SET keep = '0'",
            "INSERT INTO pgworker.cancel_requests (job_id, reason) VALUES (1, 'x')",
            "SELECT pgworker.register_sql_task('evil', 'shop.evil(jsonb)')",
            "SELECT pgworker.unregister_sql_task('noop')",
            "SELECT pgworker.attach_trigger('shop.orders', task => 'evil')",
            "SELECT pgworker.detach_trigger('shop.orders', 'send_receipt')",
            "SELECT pgworker.schedule('x', '* * * * *', 'evil')",
            "SELECT pgworker.set_retention('succeeded', '0')",
            "SELECT pgworker.cancel_job(1)",
            "SELECT pgworker.grant_admin('\(scene.appRole)')",
            "SELECT pgworker.refresh_sql_task_defaults()",
            "SELECT pgworker.refresh_trigger_functions('send_receipt')",
            "SELECT pgworker.trigger_1()",
            // Deleting claim rewinds, or a false horizon (after which prune deletes them), would
            // strand jobs below other workers' floors (found by an outside trial).
            "DELETE FROM pgworker.claim_rewinds",
            "UPDATE pgworker.claim_rewinds SET txid = '1'",
            "INSERT INTO pgworker.claim_rewind_horizons (taken_at, oldest_xid) VALUES (now() - interval '1 hour', pg_current_xact_id())",
            "DELETE FROM pgworker.claim_rewind_horizons",
        ])
        let after = try await snapshot(scene.owner)
        XCTAssertEqual(before, after)
        // Pruning is the worker's to run, as pgworker_stager.
        let pruned = try await worker.query("SELECT pgworker.prune_claim_rewinds() AS n").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(pruned, 0)
        let horizons = try await scene.owner.query("SELECT count(*)::int AS n FROM pgworker.claim_rewind_horizons").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(horizons, 1, "the worker's call took a horizon")
    }

    // MARK: - Definer code

    /// A table's owner plants code where building the payload would call it -- casts to json and
    /// to text on a type of its own, an enum with a cast, functions and operators planted in a
    /// schema on its search_path -- and inserts a row. None of it runs: the generated function is
    /// owned by pgworker_stager and turns user-defined types into text with their output function.
    func testTriggerPayloadRunsNoCodeOfTheTableOwner() async throws {
        let scene = try await scene(group: nil)
        let app = scene.app
        try await app.execute("""
            CREATE TABLE shop.planted (who text, what text);
            CREATE TYPE shop.money AS (amount numeric);
            CREATE TYPE shop.mood AS ENUM ('happy', 'sad');
            CREATE FUNCTION shop.evil(shop.money) RETURNS json LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO shop.planted VALUES (current_user, 'cast to json');
                BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', '\(scene.appRole)'); EXCEPTION WHEN OTHERS THEN NULL; END;
                RETURN '{}';
            END $$;
            CREATE CAST (shop.money AS json) WITH FUNCTION shop.evil(shop.money);
            CREATE FUNCTION shop.evil_text(shop.mood) RETURNS text LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'cast to text'); RETURN 'x'; END $$;
            CREATE CAST (shop.mood AS text) WITH FUNCTION shop.evil_text(shop.mood);
            CREATE FUNCTION shop.evil_json(shop.mood) RETURNS json LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'enum to json'); RETURN '{}'; END $$;
            CREATE CAST (shop.mood AS json) WITH FUNCTION shop.evil_json(shop.mood);
            CREATE TABLE shop.payments (id serial PRIMARY KEY, amount shop.money, mood shop.mood, moods shop.mood[]);
            GRANT INSERT ON shop.planted TO PUBLIC;
            """)
        try await scene.owner.execute("""
            SELECT pgworker.attach_trigger('shop.payments', task => 'pay', columns => '{*}', job_key => 'mood');
            SELECT pgworker.attach_trigger('shop.payments', task => 'pay_direct', columns => '{amount,moods}', staged => false);
            """)
        // Planted where an unqualified name would find it first.
        try await app.execute("""
            CREATE FUNCTION shop.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'now()'); RETURN pg_catalog.now(); END $$;
            CREATE FUNCTION shop.concat_jsonb(jsonb, jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'operator ||'); RETURN $1; END $$;
            CREATE OPERATOR shop.|| (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = shop.concat_jsonb);
            CREATE FUNCTION shop.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'operator ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
            CREATE OPERATOR shop.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shop.text_eq);
            SET search_path = shop, pg_catalog;
            INSERT INTO shop.payments (amount, mood, moods) VALUES (ROW(5), 'sad', ARRAY['happy']::shop.mood[]);
            RESET search_path;
            """)
        let planted: Int = try await scene.owner.query("SELECT count(*) AS n FROM shop.planted").rows[0].decode("n")
        XCTAssertEqual(planted, 0, "code planted by the table's owner ran")
        let superuser = try await isSuperuser(scene.owner, scene.appRole)
        XCTAssertFalse(superuser)
        try await scene.owner.moveStagedJobs()
        let payloads: [String] = try await scene.owner.query(
            "SELECT task || ' ' || payload::text || ' ' || coalesce(job_key, '-') AS p FROM pgworker.jobs ORDER BY task").rows.map { try $0.decode("p") }
        XCTAssertEqual(payloads, [
            #"pay {"id": 1, "mood": "sad", "moods": "{happy}", "amount": "(5)"} pay:sad"#,
            #"pay_direct {"moods": "{happy}", "amount": "(5)"} -"#,
        ])
        let owners: [String] = try await scene.owner.query("""
            SELECT DISTINCT pg_get_userbyid(p.proowner) AS o FROM pgworker.trigger_attachments a
            JOIN pg_proc p ON p.oid = to_regprocedure(a.function)
            """).rows.map { try $0.decode("o") }
        XCTAssertEqual(owners, ["pgworker_stager"])
    }

    /// Found by the outside review: the table's owner changes a payload or key column's type, or
    /// adds a column to a whole-row table, to a type of its own with casts, after the trigger was
    /// generated. The trigger refuses the statement instead of calling the casts.
    func testTriggerRefusesColumnTypesChangedAfterAttaching() async throws {
        let scene = try await scene(group: nil)
        try await scene.app.execute("""
            CREATE TABLE shop.planted (who text, what text);
            GRANT INSERT ON shop.planted TO PUBLIC;
            GRANT USAGE ON SCHEMA shop TO PUBLIC;
            CREATE TYPE shop.evil AS ENUM ('a@x', 'b@x');
            CREATE FUNCTION shop.evil_json(shop.evil) RETURNS json LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'json'); RETURN to_json('x'::text); END $$;
            CREATE FUNCTION shop.evil_text(shop.evil) RETURNS text LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'text'); RETURN 'k'; END $$;
            CREATE CAST (shop.evil AS json) WITH FUNCTION shop.evil_json(shop.evil);
            CREATE CAST (shop.evil AS text) WITH FUNCTION shop.evil_text(shop.evil);
            CREATE TABLE shop.keyed (id serial PRIMARY KEY, email text);
            CREATE TABLE shop.whole (id serial PRIMARY KEY, note text);
            """)
        try await scene.owner.execute("""
            SELECT pgworker.attach_trigger('shop.keyed', task => 'k', columns => '{id,email}', job_key => 'email', staged => false);
            SELECT pgworker.attach_trigger('shop.whole', task => 'w', columns => '{*}');
            """)
        try await scene.app.execute("""
            ALTER TABLE shop.keyed ALTER COLUMN email TYPE shop.evil USING email::shop.evil;
            ALTER TABLE shop.whole ADD COLUMN mood shop.evil;
            """)
        for statement in ["INSERT INTO shop.keyed (email) VALUES ('a@x')", "INSERT INTO shop.whole (note, mood) VALUES ('n', 'b@x')"] {
            do {
                try await scene.app.execute(statement)
                XCTFail("allowed: \(statement)")
            } catch let error as PQError {
                XCTAssertEqual(error.sqlState, "55000", "\(error)")
            }
        }
        let planted: Int = try await scene.owner.query("SELECT count(*) AS n FROM shop.planted").rows[0].decode("n")
        XCTAssertEqual(planted, 0)
        // Attaching again makes the trigger safe for the new types.
        try await scene.owner.execute("SELECT pgworker.attach_trigger('shop.whole', task => 'w', columns => '{*}')")
        try await scene.app.execute("INSERT INTO shop.whole (note, mood) VALUES ('n', 'b@x')")
        let plantedAfter: Int = try await scene.owner.query("SELECT count(*) AS n FROM shop.planted").rows[0].decode("n")
        XCTAssertEqual(plantedAfter, 0)
    }

    /// Found by the outside review: a SQL task function (SECURITY DEFINER, so it runs as its
    /// owner) changes search_path for the rest of the transaction, or returns a type with a cast
    /// to json, to get its owner's code run as the worker's login.
    func testSQLTaskCannotReachTheWorkersLoginThroughSearchPathOrItsResultType() async throws {
        let scene = try await scene(group: nil)
        let role = scene.appRole
        try await scene.app.execute("""
            CREATE TABLE shop.planted (who text, what text);
            GRANT INSERT ON shop.planted TO PUBLIC;
            GRANT USAGE ON SCHEMA shop TO PUBLIC;
            CREATE FUNCTION shop.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'operator ='); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
            CREATE OPERATOR shop.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shop.text_eq);
            CREATE FUNCTION shop.shift(jsonb) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN PERFORM set_config('search_path', 'shop, pg_catalog', true); RETURN '{}'; END $$;
            CREATE TYPE shop.evil AS ENUM ('x');
            CREATE FUNCTION shop.evil_json(shop.evil) RETURNS json LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'cast'); RETURN '{}'; END $$;
            CREATE CAST (shop.evil AS json) WITH FUNCTION shop.evil_json(shop.evil);
            CREATE FUNCTION shop.typed(jsonb) RETURNS jsonb LANGUAGE sql SECURITY DEFINER AS $$ SELECT '{}'::jsonb $$;
            """)
        try await scene.owner.execute("""
            SELECT pgworker.register_sql_task('shift', 'shop.shift(jsonb)');
            SELECT pgworker.register_sql_task('typed', 'shop.typed(jsonb)');
            SELECT pgworker.add_job('shift'); SELECT pgworker.add_job('typed');
            """)
        // After registering, the owner swaps in a function returning its own type.
        try await scene.app.execute("""
            DROP FUNCTION shop.typed(jsonb);
            CREATE FUNCTION shop.typed(jsonb) RETURNS shop.evil LANGUAGE sql SECURITY DEFINER AS $$ SELECT 'x'::shop.evil $$;
            """)
        try await withTestWorker(scene.database, tasks: TaskRegistry()) { _ in
            try await eventually { try await scene.owner.query(
                "SELECT count(*) AS n FROM pgworker.jobs WHERE state <> 'available' AND state <> 'running'").rows[0].decode("n", as: Int.self) == 2 }
        }
        let planted: [String] = try await scene.owner.query("SELECT who || ': ' || what AS p FROM shop.planted").rows.map { try $0.decode("p") }
        XCTAssertEqual(planted, [])
        let superuser = try await isSuperuser(scene.owner, role)
        XCTAssertFalse(superuser)
        let typed: String = try await scene.owner.query("SELECT coalesce(last_error, '') AS e FROM pgworker.jobs WHERE task = 'typed'").rows[0].decode("e")
        XCTAssertTrue(typed.contains("must return void, jsonb or another built-in type"), typed)
    }

    /// Found by the second outside review: a column that was built in when the trigger was made
    /// moved to a user-defined type the table already had; a trigger function's settings altered
    /// (as its owner could); an update attachment whose key is of the owner's type, paired with
    /// the owner's `=`. None of it runs the owner's code.
    func testTriggerRefusesSwappedColumnTypesAlteredFunctionsAndPairsUserTypedKeysByText() async throws {
        let scene = try await scene(group: nil)
        try await scene.app.execute("""
            CREATE TABLE shop.planted (who text, what text);
            GRANT INSERT ON shop.planted TO PUBLIC;
            GRANT USAGE ON SCHEMA shop TO PUBLIC;
            CREATE TYPE shop.color AS ENUM ('red', 'green');
            CREATE TABLE shop.paints (id int PRIMARY KEY, a int, b shop.color);
            CREATE TYPE shop.code AS ENUM ('k1', 'k2');
            CREATE TABLE shop.keyed (k shop.code PRIMARY KEY, note text);
            """)
        try await scene.owner.execute("""
            SELECT pgworker.attach_trigger('shop.paints', task => 'p', columns => '{*}');
            SELECT pgworker.attach_trigger('shop.keyed', task => 'u', columns => '{k,note}', events => '{update}');
            """)
        try await scene.app.execute("""
            CREATE FUNCTION shop.color_json(shop.color) RETURNS json LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'json'); RETURN '"x"'; END $$;
            CREATE CAST (shop.color AS json) WITH FUNCTION shop.color_json(shop.color);
            CREATE FUNCTION shop.code_text(shop.code) RETURNS text LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'implicit cast'); RETURN $1::text; END $$;
            CREATE CAST (shop.code AS text) WITH FUNCTION shop.code_text(shop.code) AS IMPLICIT;
            CREATE FUNCTION shop.code_eq(shop.code, shop.code) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO shop.planted VALUES (current_user, 'operator ='); RETURN true; END $$;
            CREATE OPERATOR shop.= (LEFTARG = shop.code, RIGHTARG = shop.code, FUNCTION = shop.code_eq);
            ALTER TABLE shop.paints ALTER COLUMN a TYPE shop.color USING 'red';
            """)
        do {
            try await scene.app.execute("INSERT INTO shop.paints VALUES (1, 'red', 'green')")
            XCTFail("a column moved to a user-defined type was allowed")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "55000", "\(error)")
        }
        // The update pairing compares the key by its output text.
        try await scene.app.execute("""
            INSERT INTO shop.keyed VALUES ('k1', 'a');
            SET search_path = shop, pg_catalog;
            UPDATE shop.keyed SET note = 'b';
            RESET search_path;
            """)
        let planted: [String] = try await scene.owner.query("SELECT who || ': ' || what AS p FROM shop.planted").rows.map { try $0.decode("p") }
        XCTAssertEqual(planted, [])
        try await scene.owner.moveStagedJobs()
        let update: String = try await scene.owner.query("SELECT payload->'old'->>'k' AS k FROM pgworker.jobs WHERE task = 'u'").rows[0].decode("k")
        XCTAssertEqual(update, "k1", "old and new rows paired by the key")

        // A trigger function whose settings were altered refuses to run: made to run as the
        // inserting role (either kind of trigger), or, for one that pins its search_path (it has
        // a condition), given another search_path.
        try await scene.owner.execute("SELECT pgworker.attach_trigger('shop.orders', task => 'big', columns => '{id}', condition => 'id > 0')")
        for (task, alteration) in [("send_receipt", "SECURITY INVOKER"), ("big", "SECURITY INVOKER"),
                                   ("big", "SET search_path = shop, pg_catalog")] {
            let attached = try await scene.owner.query(
                "SELECT function FROM pgworker.trigger_attachments WHERE task = $1", [task]).rows[0].decode("function", as: String.self)
            try await scene.owner.execute("ALTER FUNCTION \(attached) \(alteration)")
            // Inserted by a superuser, as in the review's chain, so nothing but the check can refuse it.
            do {
                try await scene.owner.execute("INSERT INTO shop.orders (email) VALUES ('x')")
                XCTFail("\(task) ran after ALTER FUNCTION ... \(alteration)")
            } catch let error as PQError {
                XCTAssertEqual(error.sqlState, "55000", "\(task), \(alteration): \(error)")
            }
            let columns = task == "big" ? "'{id}', condition => 'id > 0'" : "'{id,email}'"
            try await scene.owner.execute("SELECT pgworker.attach_trigger('shop.orders', task => '\(task)', columns => \(columns))")
            try await scene.app.execute("INSERT INTO shop.orders (email) VALUES ('y')")
        }
    }

    /// Found by the second outside review: a SQL task creates a temporary type named `text` with
    /// an implicit cast; pgworker's statements after the task must not resolve to it.
    func testSQLTaskCannotPlantTemporaryTypesForTheWorker() async throws {
        let scene = try await scene(group: nil)
        try await scene.app.execute("""
            CREATE TABLE shop.planted (who text, what text);
            GRANT INSERT ON shop.planted TO PUBLIC;
            GRANT USAGE ON SCHEMA shop TO PUBLIC;
            CREATE FUNCTION shop.plant(payload jsonb) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                CREATE TYPE pg_temp.text AS ENUM ('x');
                EXECUTE 'CREATE FUNCTION shop.tcast(pg_temp.text) RETURNS pg_catalog.text LANGUAGE plpgsql AS $b$
                    BEGIN INSERT INTO shop.planted VALUES (current_user, $w$temp cast$w$); RETURN NULL; END $b$';
                CREATE CAST (pg_temp.text AS pg_catalog.text) WITH FUNCTION shop.tcast(pg_temp.text) AS IMPLICIT;
                RETURN '{"ok": 1}';
            END $$;
            """)
        try await scene.owner.execute("""
            SELECT pgworker.register_sql_task('plant', 'shop.plant(jsonb)');
            SELECT pgworker.add_job('plant');
            """)
        try await withTestWorker(scene.database, tasks: TaskRegistry()) { _ in
            try await eventually { try await scene.owner.query(
                "SELECT count(*) AS n FROM pgworker.jobs WHERE state <> 'available' AND state <> 'running'").rows[0].decode("n", as: Int.self) == 1 }
        }
        let planted: [String] = try await scene.owner.query("SELECT who || ': ' || what AS p FROM shop.planted").rows.map { try $0.decode("p") }
        XCTAssertEqual(planted, [])
        let superuser = try await isSuperuser(scene.owner, scene.appRole)
        XCTAssertFalse(superuser)
    }

    /// The role that runs the trigger code may only insert jobs: no other right on pgworker, no
    /// superuser, no login.
    func testStagerAndEnqueuerHoldOnlyTheirFewRights() async throws {
        let database = try await TestDatabase.create(for: self)
        let owner = try await database.connect()
        for role in ["pgworker_stager", "pgworker_enqueuer"] {
            let attributes: String = try await owner.query("""
                SELECT concat_ws(',', rolsuper, rolcanlogin, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication) AS a
                FROM pg_roles WHERE rolname = $1
                """, [role]).rows[0].decode("a")
            XCTAssertEqual(attributes, "f,f,f,f,f,f", role)
            let memberships: Int = try await owner.query(
                "SELECT count(*) AS n FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1", [role])
                .rows[0].decode("n")
            XCTAssertEqual(memberships, 0, "\(role) belongs to no role")
        }
        let definers: [String] = try await owner.query("""
            SELECT p.proname || ':' || pg_get_userbyid(p.proowner) AS d FROM pg_proc p
            WHERE p.pronamespace = 'pgworker'::regnamespace AND p.prosecdef ORDER BY 1
            """).rows.map { try $0.decode("d") }
        XCTAssertEqual(definers, ["add_job:pgworker_enqueuer", "add_jobs:pgworker_enqueuer", "apply_sql_task_defaults:pgworker_enqueuer",
                                  "prune_claim_rewinds:pgworker_stager", "rewind_claims_after_insert:pgworker_stager", "rewind_claims_after_update:pgworker_stager"])
        let unpinned: [String] = try await owner.query("""
            SELECT p.proname AS n FROM pg_proc p
            WHERE p.pronamespace = 'pgworker'::regnamespace AND p.prosecdef
              AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp']
            """).rows.map { try $0.decode("n") }
        XCTAssertEqual(unpinned, [], "every SECURITY DEFINER function pins its search_path")
    }

    // MARK: - Text read back from tables

    /// Even with the attachment registry tampered with (by a superuser here: no granted role may
    /// write it), detaching and regenerating execute nothing read back from it.
    func testTamperedAttachmentTextIsNeverExecuted() async throws {
        let scene = try await scene()
        let role = scene.appRole
        try await scene.owner.execute("""
            UPDATE pgworker.trigger_attachments
            SET function = 'pgworker.trigger_1(); ALTER ROLE \(role) SUPERUSER; --',
                condition = 'true)) AS new; ALTER ROLE \(role) SUPERUSER; SELECT ((true'
            """)
        // Regenerating (a SQL task's queue option changed) validates the stored condition first.
        try await scene.owner.execute("""
            CREATE FUNCTION public.receipt(jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
            """)
        do {
            try await scene.owner.execute("SELECT pgworker.register_sql_task('send_receipt', 'public.receipt(jsonb)', queue => 'mail')")
        } catch {}  // refused or warned: either way nothing ran
        let afterRefresh = try await isSuperuser(scene.owner, role)
        XCTAssertFalse(afterRefresh)
        try await scene.owner.execute("SELECT pgworker.detach_trigger('shop.orders', 'send_receipt')")
        let afterDetach = try await isSuperuser(scene.owner, role)
        XCTAssertFalse(afterDetach)
        let triggers: Int = try await scene.owner.query(
            "SELECT count(*) AS n FROM pg_trigger WHERE tgrelid = 'shop.orders'::regclass").rows[0].decode("n")
        XCTAssertEqual(triggers, 0, "the attachment's own trigger, found by its id, is gone")
    }

    // MARK: - SQL tasks

    /// A SQL task runs with its function owner's rights, not the worker's login (a superuser in
    /// these tests); a function another role owns must be SECURITY DEFINER (for any worker: see
    /// SQLTaskBatchTests.testATaskFunctionOfAnotherOwnerRunsOnlyAsDefinerAndCannotBecomeTheWorker).
    func testSQLTaskRunsAsItsFunctionsOwner() async throws {
        let scene = try await scene(group: nil)
        let role = scene.appRole
        try await scene.app.execute("""
            CREATE FUNCTION shop.whoami(jsonb) RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
            BEGIN
                BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', current_user); EXCEPTION WHEN OTHERS THEN NULL; END;
                RETURN to_jsonb(current_user::text);
            END $$;
            CREATE FUNCTION shop.invoker(jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT to_jsonb(current_user::text)';
            """)
        // A non-superuser may not register a superuser's function, so an owner cannot lend rights it lacks.
        let operatorRole = try await makeRole(scene.database, scene.owner, grant: "pgworker_admin")
        let operatorConnection = try await connect(scene.database, as: operatorRole)
        await assertDenied(operatorConnection, ["SELECT pgworker.register_sql_task('x', 'pg_catalog.jsonb_typeof(jsonb)')"])
        try await scene.owner.execute("""
            SELECT pgworker.register_sql_task('whoami', 'shop.whoami(jsonb)');
            SELECT pgworker.register_sql_task('invoker', 'shop.invoker(jsonb)');
            SELECT pgworker.add_job('whoami'); SELECT pgworker.add_job('invoker');
            """)
        try await withTestWorker(scene.database, tasks: TaskRegistry()) { _ in
            try await eventually { try await scene.owner.query(
                "SELECT count(*) AS n FROM pgworker.jobs WHERE state IN ('succeeded', 'retryable', 'dead')").rows[0].decode("n", as: Int.self) == 2 }
        }
        let whoami: String = try await scene.owner.query(
            "SELECT state || ' ' || result::text AS r FROM pgworker.jobs WHERE task = 'whoami'").rows[0].decode("r")
        XCTAssertEqual(whoami, "succeeded \"\(role)\"")
        let superuser = try await isSuperuser(scene.owner, role)
        XCTAssertFalse(superuser)
        let invoker: String = try await scene.owner.query(
            "SELECT state || ' ' || last_error AS r FROM pgworker.jobs WHERE task = 'invoker'").rows[0].decode("r")
        XCTAssertTrue(invoker.hasPrefix("retryable") && invoker.contains("SECURITY DEFINER"), invoker)
    }
}
