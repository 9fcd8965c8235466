import Foundation
import PGWorker
import PGWorkerNIO
import PGWorkerTesting
import PostgresNIO
import PQClient
import Synchronization
import Tracing
import XCTest

/// Enqueueing through postgres-nio (`PGWorkerNIO`) inside the app's own transaction, as a
/// non-superuser role granted only `pgworker_app`, against the real server.
final class PostgresNIOEnqueueTests: XCTestCase {
    struct Shipment: JobParameters, Equatable {
        static let jobName = "ship"
        static let defaultOptions = JobOptions(queue: "shipping", priority: -2, maxAttempts: 4)
        struct Line: Codable, Equatable, Sendable { let sku: String; let quantity: Int }
        let orderID: Int64
        let address: String
        let lines: [Line]
        let note: String?
    }

    /// The closure's error that makes `withTransaction` roll back, carrying what it enqueued.
    struct Rollback: Error { let jobIDs: [Int64] }

    /// Found by an outside trial: jobs enqueued through postgres-nio carried no trace context, so
    /// their attempts started new traces. Now the request's span is the parent of the enqueue
    /// span, stored with the job (single and batch), and of the attempt span.
    func testEnqueueThroughPostgresNIOCarriesTheTraceToTheAttempt() async throws {
        let database = try await TestDatabase.create(for: self)
        let role = try await database.makeAppRole(for: self)
        let tracer = W3CTestTracer()
        var tasks = TaskRegistry()
        tasks.register(Shipment.self) { _, _ in }
        try await withTracer(tracer) {
            let ids: [Int64] = try await withSpan("POST /orders") { _ in
                try await database.withPostgresNIOClient(user: role) { client in
                    try await client.withTransaction(logger: nioTestLogger) { connection in
                        let single = try await connection.addJob(Shipment(orderID: 1, address: "a", lines: [], note: nil))
                        let batch = try await connection.addJobs([Shipment(orderID: 2, address: "b", lines: [], note: nil)])
                        return [single.id] + batch.map(\.id)
                    }
                }
            }
            _ = try await withTestWorker(database, tasks: tasks) { worker in try await worker.drain() }
            let request = try XCTUnwrap(tracer.finished("POST /orders").first)
            let enqueues = tracer.finished("send ship")
            XCTAssertEqual(enqueues.count, 2)
            XCTAssertTrue(enqueues.allSatisfy { $0.parentSpanID == request.spanID && $0.traceID == request.traceID })
            let attempts = tracer.finished("process ship")
            XCTAssertEqual(Set(attempts.compactMap { $0.int("pgworker.job.id") }), Set(ids))
            XCTAssertTrue(attempts.allSatisfy { attempt in
                attempt.traceID == request.traceID && enqueues.contains { $0.spanID == attempt.parentSpanID }
            }, "each attempt is a child of its enqueue span")
        }
    }

    func testRolledBackTransactionEnqueuesNothing() async throws {
        let database = try await TestDatabase.create(for: self)
        let role = try await database.makeAppRole(for: self)
        try await database.withPostgresNIOClient(user: role) { client in
            do {
                try await client.withTransaction(logger: nioTestLogger) { connection in
                    try await connection.query("INSERT INTO orders (item) VALUES ('lamp')", logger: nioTestLogger)
                    let typed = try await connection.addJob(Shipment(orderID: 1, address: "1 Main St", lines: [], note: nil))
                    let untyped = try await connection.addJob("audit", payload: ["order": 1])
                    let batch = try await connection.addJobs([NewJob(task: "audit", payload: ["order": 2])])
                    throw Rollback(jobIDs: [typed.id, untyped.id] + batch.map(\.id))
                }
                XCTFail("the transaction committed")
            } catch let error as PostgresTransactionError {
                let rollback = try XCTUnwrap(error.closureError as? Rollback, "\(error)")
                // The jobs were really added inside the transaction...
                XCTAssertEqual(rollback.jobIDs.count, 3)
                XCTAssertTrue(rollback.jobIDs.allSatisfy { $0 > 0 })
            }
        }
        // ...and left with it, as the order did.
        let check = try await database.connect("check")
        let value1 = try await check.value("SELECT count(*) AS n FROM pgworker.jobs")
        XCTAssertEqual(value1, 0)
        let value2 = try await check.value("SELECT count(*) AS n FROM orders")
        XCTAssertEqual(value2, 0)
    }

    func testCommittedTypedJobRunsAndItsPayloadDecodesInTheHandler() async throws {
        let database = try await TestDatabase.create(for: self)
        let role = try await database.makeAppRole(for: self)
        let sent = Shipment(orderID: 42, address: "Ünïcode \"quoted\" \\ street, 7",
                            lines: [.init(sku: "lamp", quantity: 2), .init(sku: "bulb", quantity: 10)], note: nil)
        let added = try await database.withPostgresNIOClient(user: role) { client in
            try await client.withTransaction(logger: nioTestLogger) { connection in
                try await connection.query("INSERT INTO orders (item) VALUES ('lamp')", logger: nioTestLogger)
                return try await connection.addJob(sent)
            }
        }
        XCTAssertEqual(added.task, "ship")
        XCTAssertEqual(added.queue, "shipping")
        XCTAssertEqual(added.priority, -2)
        XCTAssertEqual(added.maxAttempts, 4)
        XCTAssertEqual(added.state, .available)

        let received = Mutex<[Shipment]>([])
        var tasks = TaskRegistry()
        tasks.register(Shipment.self) { shipment, job in
            XCTAssertEqual(job.id, added.id)
            received.withLock { $0.append(shipment) }
        }
        let check = try await database.connect("check")
        try await assertEnqueued(on: check, task: "ship", payload: sent, queue: "shipping", state: "available", count: 1)
        _ = try await withTestWorker(database, tasks: tasks) { worker in
            try await worker.drain()
        }
        XCTAssertEqual(received.withLock { $0 }, [sent])
        try await assertEnqueued(on: check, task: "ship", state: "succeeded", count: 1)
    }

    func testEveryAddJobOptionLandsInTheRowAndJobKeyModesApply() async throws {
        let database = try await TestDatabase.create(for: self)
        let role = try await database.makeAppRole(for: self)
        // Whole microseconds: PostgreSQL's precision.
        let later = Date(timeIntervalSince1970: 4_102_444_800.123456)
        let options = JobOptions(queue: "reports", runAt: later, priority: 7, maxAttempts: 2,
                                 jobKey: "report:7", jobKeyMode: .skip, lockKey: "account:7")
        try await database.withPostgresNIOClient(user: role) { client in
            try await client.withConnection { connection in
                let first = try await connection.addJob("report", json: #"{"version": 1}"#, options: options)
                XCTAssertEqual(first.queue, "reports")
                XCTAssertEqual(first.runAt.timeIntervalSince1970, later.timeIntervalSince1970, accuracy: 0.000_001)
                XCTAssertEqual(first.priority, 7)
                XCTAssertEqual(first.maxAttempts, 2)
                XCTAssertEqual(first.jobKey, "report:7")
                XCTAssertEqual(first.lockKey, "account:7")
                XCTAssertEqual(first.payload, #"{"version": 1}"#)

                // skip: the waiting job comes back unchanged.
                let skipped = try await connection.addJob("report", json: #"{"version": 2}"#, options: options)
                XCTAssertEqual(skipped, first)
                // preserve_run_at: new payload, same run_at.
                var throttle = options
                throttle.jobKeyMode = .preserveRunAt
                throttle.runAt = nil
                let throttled = try await connection.addJob("report", payload: ["version": 3], options: throttle)
                XCTAssertEqual(throttled.id, first.id)
                XCTAssertEqual(throttled.payload, #"{"version": 3}"#)
                XCTAssertEqual(throttled.runAt, first.runAt)
                // replace: new payload and run_at.
                var debounce = options
                debounce.jobKeyMode = .replace
                debounce.runAt = later.addingTimeInterval(60)
                let replaced = try await connection.addJob("report", payload: ["version": 4], options: debounce)
                XCTAssertEqual(replaced.id, first.id)
                XCTAssertEqual(replaced.payload, #"{"version": 4}"#)
                XCTAssertEqual(replaced.runAt.timeIntervalSince(first.runAt), 60, accuracy: 0.000_001)
                // skip_waiting_or_running with a waiting job: that job.
                var either = options
                either.jobKeyMode = .skipWaitingOrRunning
                let waiting = try await connection.addJob("report", json: "{}", options: either)
                XCTAssertEqual(waiting.id, first.id)
            }
        }
        // What the table holds, read through libpq rather than the returned row.
        let check = try await database.connect("check")
        let row = try await check.query("""
            SELECT count(*) OVER () AS n, queue, extract(epoch FROM run_at)::float8 - 60 AS run_at, priority,
                   max_attempts, job_key, lock_key, payload::text AS payload, state
            FROM pgworker.jobs
            """).rows[0]
        XCTAssertEqual(try row.decode("n", as: Int64.self), 1)
        XCTAssertEqual(try row.decode("queue", as: String.self), "reports")
        XCTAssertEqual(try row.decode("run_at", as: Double.self), later.timeIntervalSince1970, accuracy: 0.000_01)
        XCTAssertEqual(try row.decode("priority", as: Int.self), 7)
        XCTAssertEqual(try row.decode("max_attempts", as: Int.self), 2)
        XCTAssertEqual(try row.decode("job_key", as: String.self), "report:7")
        XCTAssertEqual(try row.decode("lock_key", as: String.self), "account:7")
        XCTAssertEqual(try row.decode("payload", as: String.self), #"{"version": 4}"#)
        XCTAssertEqual(try row.decode("state", as: String.self), "available")
    }

    func testTypedJobTakesItsDefaultOptionsUnlessGivenOthersAndBadValuesFailInPostgreSQL() async throws {
        let database = try await TestDatabase.create(for: self)
        let role = try await database.makeAppRole(for: self)
        try await database.withPostgresNIOClient(user: role) { client in
            try await client.withConnection { connection in
                let shipment = Shipment(orderID: 1, address: "x", lines: [], note: "fragile")
                let own = try await connection.addJob(shipment, options: JobOptions(queue: "express"))
                XCTAssertEqual(own.queue, "express")
                XCTAssertEqual(own.priority, 0)
                XCTAssertEqual(own.maxAttempts, 25)
                XCTAssertEqual(try JSONDecoder().decode(Shipment.self, from: Data(own.payload.utf8)), shipment)
                // Bound values are checked by PostgreSQL, never spliced into the statement.
                await XCTAssertThrowsErrorAsync(try await connection.addJob("bad", json: "{not json"))
                await XCTAssertThrowsErrorAsync(try await connection.addJob("bad", options: JobOptions(maxAttempts: 0)))
                let quote = try await connection.addJob("it's'); DROP TABLE orders; --", json: "{}")
                XCTAssertEqual(quote.task, "it's'); DROP TABLE orders; --")
            }
        }
        let check = try await database.connect("check")
        let value3 = try await check.value("SELECT count(*) AS n FROM orders")
        XCTAssertEqual(value3, 0)
    }

    func testBatchAddsJobsInOrderWithTheirOptionsAndSkipsWaitingKeys() async throws {
        let database = try await TestDatabase.create(for: self)
        let role = try await database.makeAppRole(for: self)
        let later = Date(timeIntervalSince1970: 4_102_444_800.654321)
        try await database.withPostgresNIOClient(user: role) { client in
            let waiting = try await client.withConnection {
                try await $0.addJob("index", payload: ["page": 0], options: JobOptions(jobKey: "page:0"))
            }
            let added = try await client.withTransaction(logger: nioTestLogger) { connection in
                try await connection.addJobs([
                    NewJob(Shipment(orderID: 1, address: "a", lines: [.init(sku: "s", quantity: 1)], note: nil)),
                    NewJob(task: "index", payload: ["page": 1],
                           options: JobOptions(queue: "search", runAt: later, priority: 3, maxAttempts: 9,
                                               jobKey: "page:1", lockKey: "site")),
                    NewJob(task: "index", payload: ["page": 99], options: JobOptions(jobKey: "page:0")),
                    NewJob(task: "index", payload: ["page": 98], options: JobOptions(jobKey: "page:1")),
                ])
            }
            // Added jobs in batch order, then the waiting job the key matched; the repeated key adds nothing.
            XCTAssertEqual(added.map(\.task), ["ship", "index", "index"])
            XCTAssertEqual(added[0].queue, "shipping")
            XCTAssertEqual(added[0].priority, -2)
            XCTAssertEqual(added[0].maxAttempts, 4)
            XCTAssertEqual(added[1].queue, "search")
            XCTAssertEqual(added[1].runAt.timeIntervalSince1970, later.timeIntervalSince1970, accuracy: 0.000_001)
            XCTAssertEqual(added[1].priority, 3)
            XCTAssertEqual(added[1].maxAttempts, 9)
            XCTAssertEqual(added[1].jobKey, "page:1")
            XCTAssertEqual(added[1].lockKey, "site")
            XCTAssertEqual(added[1].payload, #"{"page": 1}"#)
            XCTAssertEqual(added[2], waiting)

            // The typed form, with the type's options; an empty batch sends nothing.
            let typed = try await client.withConnection { connection in
                try await connection.addJobs([Shipment(orderID: 2, address: "b", lines: [], note: nil),
                                              Shipment(orderID: 3, address: "c", lines: [], note: nil)])
            }
            XCTAssertEqual(typed.map(\.queue), ["shipping", "shipping"])
            XCTAssertLessThan(typed[0].id, typed[1].id)
            let none = try await client.withConnection { try await $0.addJobs([NewJob]()) }
            XCTAssertEqual(none, [])

            // Only add_job has the other job-key modes: refused before anything is sent.
            do {
                _ = try await client.withConnection { connection in
                    try await connection.addJobs([NewJob(task: "index", payload: ["page": 5]),
                                                  NewJob(task: "index", payload: ["page": 6],
                                                         options: JobOptions(jobKey: "page:6", jobKeyMode: .replace))])
                }
                XCTFail("a replace-mode job was accepted in a batch")
            } catch let error as UnsupportedBatchJobKeyMode {
                XCTAssertEqual(error.index, 1)
                XCTAssertEqual(error.mode, .replace)
            }
        }
        let check = try await database.connect("check")
        let value4 = try await check.value("SELECT count(*) AS n FROM pgworker.jobs")
        XCTAssertEqual(value4, 5)
        try await assertEnqueued(on: check, task: "index", json: #"{"page": 5}"#, count: 0)
    }
}

/// Asserts that an async expression throws.
func XCTAssertThrowsErrorAsync<T>(
    _ expression: @autoclosure () async throws -> T, file: StaticString = #filePath, line: UInt = #line
) async {
    do {
        _ = try await expression()
        XCTFail("no error was thrown", file: file, line: line)
    } catch {}
}
