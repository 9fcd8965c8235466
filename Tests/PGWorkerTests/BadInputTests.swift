import Foundation
import PGWorker
import PQClient
import XCTest

/// Each kind of bad input gets a clear error on the job row, and the worker keeps running.
final class BadInputTests: XCTestCase {
    /// Enqueues jobs, runs a worker until they are all finished (or dead), then stops it.
    private func run(
        _ tasks: TaskRegistry, jobs: [(task: String, json: String, queue: String)], on database: TestDatabase,
        configure: (inout WorkerConfiguration) -> Void = { _ in }
    ) async throws -> [JobRecord] {
        let app = try await database.connect("app")
        let client = JobClient(connection: app)
        var ids: [Int64] = []
        for job in jobs {
            ids.append(try await client.add(job.task, json: job.json, options: JobOptions(queue: job.queue, maxAttempts: 1)).id)
        }
        try await withTestWorker(database, tasks: tasks, configure: configure) { running in
            try await eventually(timeout: .seconds(30)) {
                try await app.query("SELECT count(*) AS n FROM pgworker.jobs WHERE id = ANY($1::bigint[]) AND state IN ('succeeded', 'dead')", [ids])
                    .rows[0].decode("n", as: Int.self) == ids.count
            }
        }
        var records: [JobRecord] = []
        for id in ids { records.append(try await client.job(id: id)!) }
        return records
    }

    func testOneMegabytePayloadReachesSwiftAndCommandHandlers() async throws {
        let database = try await TestDatabase.create(for: self)
        struct Blob: Codable, Sendable { var data: String }
        var tasks = TaskRegistry()
        tasks.register("swift_size", payload: Blob.self) { blob, _ in ["bytes": blob.data.utf8.count] }
        tasks.register("command_size", handler: CommandTask(command: "wc -c | tr -d ' \\n'"))
        let big = String(repeating: "x", count: 1 << 20)
        let json = #"{"data": "\#(big)"}"#
        let records = try await run(tasks, jobs: [("swift_size", json, "default"), ("command_size", json, "default")], on: database)
        XCTAssertEqual(records[0].state, .succeeded)
        XCTAssertEqual(records[0].result, #"{"bytes": 1048576}"#)
        XCTAssertEqual(records[1].state, .succeeded)
        // jsonb prints this payload exactly as written, so the command reads every byte of it.
        XCTAssertEqual(records[1].result, String(json.utf8.count))
    }

    func testNonUTF8AndMegabytesOfOutputAreTruncatedAndRecorded() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("binary", handler: CommandTask(command: #"printf 'ok \377\376 \000 end'"#))
        tasks.register("flood", handler: CommandTask(command: "head -c 5000000 /dev/zero | tr '\\0' a"))
        tasks.register("flood_fail", handler: CommandTask(command: "head -c 3000000 /dev/zero | tr '\\0' e >&2; echo last words >&2; exit 9"))
        let records = try await run(tasks, jobs: [("binary", "{}", "default"), ("flood", "{}", "default"), ("flood_fail", "{}", "default")], on: database)

        XCTAssertEqual(records[0].state, .succeeded)
        XCTAssertEqual(records[0].result, #""ok \#u{FFFD}\#u{FFFD}  end""#, "invalid UTF-8 replaced, NUL dropped")

        XCTAssertEqual(records[1].state, .succeeded)
        let flood = try XCTUnwrap(records[1].result)
        XCTAssertLessThan(flood.utf8.count, 1_100_000, "stdout kept to about 1 MiB")
        XCTAssertTrue(flood.contains("[output truncated: 5000000 bytes in all, first 1048576 kept]"), String(flood.suffix(100)))

        XCTAssertEqual(records[2].state, .dead)
        let error = try XCTUnwrap(records[2].lastError)
        XCTAssertTrue(error.hasPrefix("command exited with status 9; stderr: "), String(error.prefix(80)))
        XCTAssertTrue(error.hasSuffix("last words"), String(error.suffix(40)))
        XCTAssertLessThan(error.utf8.count, 5000, "only stderr's tail is kept")
    }

    func testHostileTaskAndQueueNamesAreStoredAsData() async throws {
        let database = try await TestDatabase.create(for: self)
        let task = "x'); DROP TABLE pgworker.jobs; --"
        let queue = "q\"; SELECT pg_sleep(10); --"
        var tasks = TaskRegistry()
        tasks.register(task, payload: [String: String].self) { payload, job in ["queue": job.queue, "echo": payload["v"] ?? ""] }
        let records = try await run(tasks, jobs: [(task, #"{"v": "'; DELETE FROM pgworker.workers; --"}"#, queue)], on: database)
        XCTAssertEqual(records[0].state, .succeeded)
        XCTAssertEqual(records[0].task, task)
        XCTAssertEqual(records[0].queue, queue)
        XCTAssertEqual(records[0].result, #"{"echo": "'; DELETE FROM pgworker.workers; --", "queue": "q\"; SELECT pg_sleep(10); --"}"#)
    }

    func testThrowingHandlerNulBytesAndInvalidResultsGetClearErrors() async throws {
        let database = try await TestDatabase.create(for: self)
        struct Oops: Error, CustomStringConvertible { var description: String { "disk \u{0}full" } }
        struct RawJSON: TaskHandler {
            func handle(_ job: JobContext) async throws -> String? { "{not json" }
        }
        var tasks = TaskRegistry()
        tasks.register("throws", payload: [String: Int].self) { _, _ in throw Oops() }
        tasks.register("bad_result", handler: RawJSON())
        tasks.register("fine", payload: [String: Int].self) { _, _ in ["ok": true] }
        let records = try await run(tasks, jobs: [("throws", "{}", "default"), ("bad_result", "{}", "default"), ("fine", "{}", "default")], on: database)
        XCTAssertEqual(records[0].state, .dead)
        XCTAssertEqual(records[0].lastError, "disk full")
        XCTAssertEqual(records[1].state, .dead)
        XCTAssertEqual(records[1].lastError, "handler returned a result that is not valid JSON: {not json")
        XCTAssertEqual(records[2].state, .succeeded, "the worker kept running")
    }

    func testTimeoutsCancelSwiftAndCommandHandlers() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("slow_swift", payload: [String: Int].self, timeout: .milliseconds(300)) { _, _ in
            try await Task.sleep(for: .seconds(30))
        }
        tasks.register("slow_command", handler: CommandTask(command: "sleep 30"))
        let start = ContinuousClock.now
        let records = try await run(tasks, jobs: [("slow_swift", "{}", "default"), ("slow_command", "{}", "default")], on: database) {
            $0.defaultTimeout = .milliseconds(500)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10))
        XCTAssertEqual(records[0].state, .dead)
        XCTAssertEqual(records[0].lastError, "timed out after 0.3 s and was cancelled")
        XCTAssertEqual(records[1].state, .dead)
        XCTAssertEqual(records[1].lastError, "timed out after 0.5 s and was cancelled")
    }

    func testCLIRejectsInvalidJSONBeforeInserting() async throws {
        let database = try await TestDatabase.create(for: self)
        let result = try await runProduct("pgworker", ["add", "--database-url", database.conninfo, "task", "{not: json}"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr, "pgworker: the payload is not valid JSON: {not: json}\n")
        let app = try await database.connect()
        let count: Int = try await app.query("SELECT count(*) AS n FROM pgworker.jobs").rows[0].decode("n")
        XCTAssertEqual(count, 0)
    }

    func testWorkerWithInvalidOptionOrUnreachableDatabaseExitsWithOneLine() async throws {
        let invalid = try await runProduct("pgworker", ["run", "--database-url", "host=/nonexistent", "--concurrency", "0", "--task", "a=true"])
        XCTAssertNotEqual(invalid.status, 0)
        XCTAssertEqual(invalid.stderr, "pgworker: --concurrency must be 1...100000\n")
        // Found by an outside trial: a value beyond PostgreSQL's integer was accepted, and the
        // worker then failed every claim, forever.
        let huge = try await runProduct("pgworker", ["run", "--database-url", "host=/nonexistent", "--concurrency", "3000000000", "--task", "a=true"])
        XCTAssertEqual(huge.stderr, "pgworker: --concurrency must be 1...100000\n")
        // Found by an outside trial: a --task without NAME= said only that the value was invalid.
        let noName = try await runProduct("pgworker", ["run", "--database-url", "host=/nonexistent", "--task", "php worker.php"])
        XCTAssertEqual(noName.status, 64)
        XCTAssertEqual(noName.stderr, "pgworker: The value 'php worker.php' is invalid for '--task <task>': "
                       + "expected NAME='shell command' (a task name, '=', then the command)\n")

        let unreachable = try await runProduct("pgworker", ["run", "--database-url", "postgresql://nobody@127.0.0.1:1/none", "--task", "a=true"])
        XCTAssertNotEqual(unreachable.status, 0)
        XCTAssertEqual(unreachable.stderr.filter { $0 == "\n" }.count, 1, unreachable.stderr)
        XCTAssertTrue(unreachable.stderr.hasPrefix("pgworker: cannot connect to PostgreSQL"), unreachable.stderr)

        let badURL = try await runProduct("pgworker", ["status", "--database-url", "postgresql://%zz"])
        XCTAssertNotEqual(badURL.status, 0)
        XCTAssertEqual(badURL.stderr.filter { $0 == "\n" }.count, 1, badURL.stderr)
    }

    func testUnmigratedDatabaseIsReportedByTheCLI() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        let result = try await runProduct("pgworker", ["run", "--database-url", database.conninfo, "--task", "a=true"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.stderr, "pgworker: database is not migrated: pgworker's schema is missing; run `pgworker migrate` first\n")
        let migrate = try await runProduct("pgworker", ["migrate", "--database-url", database.conninfo])
        XCTAssertEqual(migrate.status, 0, migrate.stderr)
        XCTAssertTrue(migrate.stdout.hasPrefix("applied migrations 1"), migrate.stdout)
        let again = try await runProduct("pgworker", ["migrate", "--database-url", database.conninfo])
        XCTAssertTrue(again.stdout.hasPrefix("schema is up to date"), again.stdout)
    }
}
