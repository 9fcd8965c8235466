import Foundation
import InMemoryTracing
import PGWorker
import PGWorkerTesting
import PQClient
import Tracing
import XCTest

/// Distributed tracing: a job followed from the span that enqueued it, through the trace context
/// stored in its row, to the span of each attempt and the handler's own spans. Each test binds
/// its own tracer with `withTracer`, so nothing is bootstrapped process-wide.
final class TracingTests: XCTestCase {
    struct Greeting: Codable, Sendable { var name: String }

    func testEnqueueInASpanStoresTraceparentAndTheAttemptSpanIsItsChild() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let tracer = W3CTestTracer()
        var tasks = TaskRegistry()
        tasks.register("greet", payload: Greeting.self) { greeting, _ in
            // The handler's own span nests under the attempt's.
            withSpan("handler work") { _ in "hello \(greeting.name)" }
        }
        try await withTracer(tracer) {
            let id = try await withSpan("POST /orders") { _ in
                try await JobClient(connection: app).add("greet", payload: Greeting(name: "Ada"), options: JobOptions(queue: "mail"))
            }
            _ = try await withTestWorker(database, tasks: tasks) { worker in try await worker.drain() }

            let request = try XCTUnwrap(tracer.finished("POST /orders").first)
            let enqueue = try XCTUnwrap(tracer.finished("send greet").first)
            XCTAssertEqual(enqueue.kind, .producer)
            XCTAssertEqual(enqueue.traceID, request.traceID)
            XCTAssertEqual(enqueue.parentSpanID, request.spanID)
            XCTAssertEqual(enqueue.int("pgworker.job.id"), id)
            XCTAssertEqual(enqueue.string("pgworker.job.task"), "greet")
            XCTAssertEqual(enqueue.string("pgworker.job.queue"), "mail")

            let stored = try await app.query("SELECT trace_context::text AS c FROM pgworker.jobs WHERE id = $1", [id])
                .rows[0].decode("c", as: String.self)
            XCTAssertEqual(stored, #"{"traceparent": "00-\#(request.traceID)-\#(enqueue.spanID)-01"}"#)

            let attempt = try XCTUnwrap(tracer.finished("process greet").first)
            XCTAssertEqual(attempt.kind, .consumer)
            XCTAssertEqual(attempt.traceID, request.traceID)
            XCTAssertEqual(attempt.parentSpanID, enqueue.spanID)
            XCTAssertEqual(attempt.int("pgworker.job.id"), id)
            XCTAssertEqual(attempt.string("pgworker.job.task"), "greet")
            XCTAssertEqual(attempt.string("pgworker.job.queue"), "mail")
            XCTAssertEqual(attempt.int("pgworker.job.attempt"), 1)
            XCTAssertEqual(attempt.string("pgworker.job.outcome"), "succeeded")
            XCTAssertNil(attempt.status)
            XCTAssertTrue(attempt.errors.isEmpty)

            let handler = try XCTUnwrap(tracer.finished("handler work").first)
            XCTAssertEqual(handler.traceID, request.traceID)
            XCTAssertEqual(handler.parentSpanID, attempt.spanID)
        }
    }

    func testFailedDeadTimedOutAttemptsRecordTheirOutcomeAndError() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let tracer = W3CTestTracer()
        var tasks = TaskRegistry()
        tasks.register("flaky", payload: Greeting.self) { _, _ in throw JobFailure.retry("flaky failed") }
        tasks.register("refused", payload: Greeting.self) { _, _ in throw JobFailure.discard("refused for good") }
        tasks.register("slow", payload: Greeting.self, timeout: .milliseconds(200)) { _, _ in
            try await Task.sleep(for: .seconds(30))
        }
        try await withTracer(tracer) {
            let client = JobClient(connection: app)
            let failed = try await client.add("flaky", json: #"{"name": "a"}"#, options: JobOptions(maxAttempts: 3)).id
            let lastAttempt = try await client.add("flaky", json: #"{"name": "b"}"#, options: JobOptions(maxAttempts: 1)).id
            let discarded = try await client.add("refused", json: #"{"name": "c"}"#).id
            let timedOut = try await client.add("slow", json: #"{"name": "d"}"#, options: JobOptions(maxAttempts: 1)).id
            _ = try await withTestWorker(database, tasks: tasks) { worker in try await worker.drain() }

            let attempts = Dictionary(tracer.finishedSpans.filter { $0.operationName.hasPrefix("process ") }
                .map { ($0.int("pgworker.job.id")!, $0) }) { first, _ in first }
            let expected: [(Int64, String, String)] = [
                (failed, "failed", "flaky failed"), (lastAttempt, "dead", "flaky failed"),
                (discarded, "dead", "refused for good"), (timedOut, "timed_out", "timed out after 0.2 s and was cancelled"),
            ]
            for (id, outcome, message) in expected {
                let span = try XCTUnwrap(attempts[id], "no span for job \(id)")
                XCTAssertEqual(span.string("pgworker.job.outcome"), outcome, "job \(id)")
                XCTAssertEqual(span.status?.code, .error, "job \(id)")
                XCTAssertEqual(span.status?.message, message, "job \(id)")
                XCTAssertEqual(span.errors.map { "\($0.error)" }, [message], "job \(id)")
                // Each attempt's parent is its own enqueue span.
                let enqueue = tracer.finishedSpans.first { $0.operationName.hasPrefix("send ") && $0.int("pgworker.job.id") == id }
                XCTAssertEqual(span.parentSpanID, enqueue?.spanID, "job \(id)")
            }
            let state = try await app.query("SELECT state FROM pgworker.jobs WHERE id = $1", [lastAttempt])
                .rows[0].decode("state", as: String.self)
            XCTAssertEqual(state, "dead")
        }
    }

    func testSQLCallersPassTraceContextByHand() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        // The application's role may pass it to add_job and add_jobs, and INSERT it.
        try await app.execute("SET ROLE pgworker_app")
        let traceID = "0af7651916cd43dd8448eb211c80319c"
        let one = try await app.query("""
            SELECT id FROM pgworker.add_job('greet', '{"name": "sql"}',
                trace_context => '{"traceparent": "00-\(traceID)-b7ad6b7169203331-01"}')
            """).rows[0].decode("id", as: Int64.self)
        let batch = try await app.query(#"""
            SELECT id FROM pgworker.add_jobs('[{"task": "greet", "payload": {"name": "batch"},
                "trace_context": {"traceparent": "00-\#(traceID)-00000000000000b2-01"}}]')
            """#).rows[0].decode("id", as: Int64.self)
        let inserted = try await app.query("""
            INSERT INTO pgworker.jobs (task, payload, trace_context)
            VALUES ('greet', '{"name": "insert"}', '{"traceparent": "00-\(traceID)-00000000000000b3-01"}') RETURNING id
            """).rows[0].decode("id", as: Int64.self)
        // Old call forms still work and store none.
        let plain = try await app.query("SELECT id FROM pgworker.add_job('greet', '{\"name\": \"plain\"}', 'default', NULL, 0, 25, NULL, 'skip', NULL)")
            .rows[0].decode("id", as: Int64.self)
        // Only an object is a trace context.
        do {
            try await app.query("SELECT pgworker.add_job('greet', trace_context => '[\"00-x\"]')")
            XCTFail("an array was accepted as a trace context")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "23514")
        }
        try await app.execute("RESET ROLE")

        let tracer = W3CTestTracer()
        var tasks = TaskRegistry()
        tasks.register("greet", payload: Greeting.self) { _, _ in }
        try await withTracer(tracer) {
            _ = try await withTestWorker(database, tasks: tasks) { worker in try await worker.drain() }
        }
        let attempts = Dictionary(tracer.finished("process greet").map { ($0.int("pgworker.job.id")!, $0) }) { a, _ in a }
        XCTAssertEqual(attempts[one]?.traceID, traceID)
        XCTAssertEqual(attempts[one]?.parentSpanID, "b7ad6b7169203331")
        XCTAssertEqual(attempts[batch]?.parentSpanID, "00000000000000b2")
        XCTAssertEqual(attempts[inserted]?.parentSpanID, "00000000000000b3")
        // No stored context: the attempt starts a trace of its own.
        XCTAssertNotNil(attempts[plain])
        XCTAssertNil(attempts[plain]?.parentSpanID)
        XCTAssertNotEqual(attempts[plain]?.traceID, traceID)
    }

    func testCommandGetsTraceparentAndSQLTasksGetASpan() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        try await app.execute("""
            CREATE FUNCTION app_double(payload jsonb) RETURNS jsonb LANGUAGE sql
                AS $$ SELECT jsonb_build_object('n', (payload->>'n')::int * 2) $$;
            SELECT pgworker.register_sql_task('double', 'app_double(jsonb)'::regprocedure);
            """)
        let tracer = W3CTestTracer()
        var tasks = TaskRegistry()
        tasks.register("shell", handler: CommandTask(command: #"printf '"%s"' "$TRACEPARENT""#))
        try await withTracer(tracer) {
            let (command, sql) = try await withSpan("request") { _ in
                let client = JobClient(connection: app)
                return (try await client.add("shell").id, try await client.add("double", json: #"{"n": 21}"#).id)
            }
            _ = try await withTestWorker(database, tasks: tasks) { worker in try await worker.drain() }

            let shell = try XCTUnwrap(tracer.finished("process shell").first)
            XCTAssertEqual(shell.string("pgworker.job.outcome"), "succeeded")
            let result = try await app.query("SELECT result #>> '{}' AS r FROM pgworker.jobs WHERE id = $1", [command])
                .rows[0].decodeIfPresent("r", as: String.self)
            XCTAssertEqual(result, "00-\(shell.traceID)-\(shell.spanID)-01")

            let double = try XCTUnwrap(tracer.finished("process double").first)
            XCTAssertEqual(double.int("pgworker.job.id"), sql)
            XCTAssertEqual(double.string("pgworker.job.outcome"), "succeeded")
            XCTAssertEqual(double.traceID, tracer.finished("request").first?.traceID)
        }
    }

    func testWithoutATracerNothingIsStoredAndJobsRun() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        let id = try await client.add("greet", payload: Greeting(name: "untraced"))
        let many = try await client.addMany("greet", jsonPayloads: [#"{"name": "m"}"#])
        // A span with no tracer bound is a no-op one: still nothing to store.
        let inSpan = try await withSpan("no tracer") { _ in try await client.add("greet", payload: Greeting(name: "s")) }
        // A context that is not a trace context never fails its job.
        let garbage = try await app.query(#"SELECT id FROM pgworker.add_job('greet', '{"name": "g"}', trace_context => '{"traceparent": 5, "x": "y"}')"#)
            .rows[0].decode("id", as: Int64.self)
        let stored = try await app.query("SELECT count(*)::int AS n FROM pgworker.jobs WHERE trace_context IS NOT NULL")
            .rows[0].decode("n", as: Int.self)
        XCTAssertEqual(stored, 1)

        var tasks = TaskRegistry()
        tasks.register("greet", payload: Greeting.self) { _, _ in }
        _ = try await withTestWorker(database, tasks: tasks) { worker in try await worker.drain() }
        try await eventually { try await app.jobsAll([id, inSpan, garbage] + many, in: "succeeded") }

        // And with a tracer, the bad context gives a root span rather than a failure.
        let tracer = W3CTestTracer()
        let again = try await app.query(#"SELECT id FROM pgworker.add_job('greet', '{"name": "g"}', trace_context => '{"traceparent": "nonsense"}')"#)
            .rows[0].decode("id", as: Int64.self)
        try await withTracer(tracer) {
            _ = try await withTestWorker(database, tasks: tasks) { worker in try await worker.drain() }
        }
        let span = try XCTUnwrap(tracer.finished("process greet").first)
        XCTAssertEqual(span.int("pgworker.job.id"), again)
        XCTAssertNil(span.parentSpanID)
        XCTAssertEqual(span.string("pgworker.job.outcome"), "succeeded")
    }

    func testOtelFlagNamesTheTraitWhenBuiltWithoutIt() async throws {
        #if OpenTelemetry
        throw XCTSkip("built with the OpenTelemetry trait")
        #else
        let database = try await TestDatabase.create(for: self)
        let run = try await runProduct("pgworker", ["run", "--database-url", database.conninfo, "--otel", "--task", "x=true"])
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("built without OpenTelemetry export"), run.stderr)
        XCTAssertTrue(run.stderr.contains("--traits OpenTelemetry"), run.stderr)
        #endif
    }
}
