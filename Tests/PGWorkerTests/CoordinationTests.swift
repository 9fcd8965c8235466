import Foundation
import PGWorker
import PQClient
import Synchronization
import XCTest

/// Unique jobs, per-key mutex, per-queue semaphore, pause/resume and ordering.
final class CoordinationTests: XCTestCase {
    struct Empty: Codable, Sendable {}

    /// Runs `perConnection` rounds of `statement` on 8 connections at once; returns every row.
    private func concurrently(_ database: TestDatabase, rounds: Int, _ statement: String,
                              _ parameters: @escaping @Sendable (Int, Int) -> [(any PQEncodable)?]) async throws -> [PQRow] {
        try await withThrowingTaskGroup(of: [PQRow].self) { group in
            for client in 0..<8 {
                group.addTask {
                    let connection = try await database.connect("client-\(client)")
                    var rows: [PQRow] = []
                    for round in 0..<rounds {
                        rows += try await connection.query(statement, parameters(client, round)).rows
                    }
                    await connection.close()
                    return rows
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    private let addKeyed = """
        SELECT id, payload->>'n' AS n, extract(epoch FROM run_at)::float8 AS run_at
        FROM pgworker.add_job('t', jsonb_build_object('n', $1::int), run_at => to_timestamp($2::float8),
                              job_key => 'k', job_key_mode => $3)
        """

    func testSkipModeKeepsOneJobUnderConcurrentInserts() async throws {
        let database = try await TestDatabase.create(for: self)
        let base = Date().timeIntervalSince1970 + 3600
        let rows = try await concurrently(database, rounds: 25, addKeyed) { client, round in
            [client * 100 + round, base + Double(client * 100 + round), "skip"]
        }
        XCTAssertEqual(rows.count, 200)
        let ids = Set(try rows.map { try $0.decode("id", as: Int64.self) })
        XCTAssertEqual(ids.count, 1, "every insert returned the one waiting job")
        let app = try await database.connect()
        let stored = try await app.query("SELECT count(*) AS n FROM pgworker.jobs").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(stored, 1)
        let runAts = Set(try rows.map { try $0.decode("run_at", as: Double.self) })
        XCTAssertEqual(runAts.count, 1, "skip changes nothing")
    }

    func testReplaceModeDebouncesPayloadAndRunAtTogether() async throws {
        let database = try await TestDatabase.create(for: self)
        let base = Date().timeIntervalSince1970 + 3600
        let rows = try await concurrently(database, rounds: 25, addKeyed) { client, round in
            [client * 100 + round, base + Double(client * 100 + round), "replace"]
        }
        XCTAssertEqual(Set(try rows.map { try $0.decode("id", as: Int64.self) }).count, 1)
        // Every returned row is the caller's own write: its payload and run_at belong together.
        for row in rows {
            let n = Double(try row.decode("n", as: String.self))!
            XCTAssertEqual(try row.decode("run_at", as: Double.self), base + n, accuracy: 0.001)
        }
        let app = try await database.connect()
        let final = try await app.query("SELECT payload->>'n' AS n, extract(epoch FROM run_at)::float8 AS run_at FROM pgworker.jobs").rows
        XCTAssertEqual(final.count, 1)
        XCTAssertEqual(try final[0].decode("run_at", as: Double.self), base + Double(try final[0].decode("n", as: String.self))!, accuracy: 0.001)
    }

    func testPreserveRunAtModeThrottlesKeepingTheFirstRunAt() async throws {
        let database = try await TestDatabase.create(for: self)
        let base = Date().timeIntervalSince1970 + 3600
        let rows = try await concurrently(database, rounds: 25, addKeyed) { client, round in
            [client * 100 + round, base + Double(client * 100 + round), "preserve_run_at"]
        }
        XCTAssertEqual(Set(try rows.map { try $0.decode("id", as: Int64.self) }).count, 1)
        let runAts = Set(try rows.map { try $0.decode("run_at", as: Double.self) })
        XCTAssertEqual(runAts.count, 1, "run_at is the first insert's, whoever came later")
        let payloads = Set(try rows.map { try $0.decode("n", as: String.self) })
        XCTAssertEqual(payloads.count, 200, "each caller's payload was written")
    }

    func testRunningJobDoesNotHoldItsKeyAndBadModesAreRejected() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let first = try await app.query("SELECT id FROM pgworker.add_job('t', job_key => 'k')").rows[0].decode("id", as: Int64.self)
        let claimed = try await app.query("SELECT id FROM pgworker.claim_jobs('w', ARRAY['t'], NULL, 10)").rows
        XCTAssertEqual(try claimed.map { try $0.decode("id", as: Int64.self) }, [first])
        let second = try await app.query("SELECT id FROM pgworker.add_job('t', job_key => 'k')").rows[0].decode("id", as: Int64.self)
        XCTAssertNotEqual(first, second, "a running job does not block a new one with its key")
        do {
            try await app.query("SELECT pgworker.add_job('t', job_key => 'k', job_key_mode => 'merge')")
            XCTFail("an unknown mode must be rejected")
        } catch let error as PQError {
            XCTAssertEqual(error.sqlState, "22023")
            XCTAssertTrue(error.message.contains("skip, replace, preserve_run_at or skip_waiting_or_running"), error.message)
        }
    }

    func testJobClientPassesJobAndLockKeys() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let client = JobClient(connection: app)
        let first = try await client.add("t", json: #"{"v": 1}"#, options: JobOptions(jobKey: "dk", lockKey: "lk"))
        let second = try await client.add("t", json: #"{"v": 2}"#, options: JobOptions(jobKey: "dk", jobKeyMode: .preserveRunAt))
        XCTAssertEqual(first.id, second.id)
        XCTAssertEqual(second.payload, #"{"v": 2}"#)
        XCTAssertEqual(second.runAt, first.runAt)
        let many = try await client.addMany("t", jsonPayloads: ["{}", "{}"], options: JobOptions(lockKey: "lk"))
        let keys = try await app.query("SELECT count(*) AS n FROM pgworker.jobs WHERE lock_key = 'lk'").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(many.count, 2)
        XCTAssertEqual(keys, 3)
    }

    func testSkipWaitingOrRunningTreatsARunningJobAsHoldingItsKey() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let first = try await app.query("SELECT id FROM pgworker.add_job('t', job_key => 'k')").rows[0].decode("id", as: Int64.self)
        try await app.query("SELECT pgworker.claim_jobs('w', ARRAY['t'], NULL, 10)")
        // 8 connections at once, while the keyed job runs: all get the running job back.
        let rows = try await concurrently(database, rounds: 10, """
            SELECT id FROM pgworker.add_job('t', job_key => 'k', job_key_mode => 'skip_waiting_or_running')
            """) { _, _ in [] }
        XCTAssertEqual(Set(try rows.map { try $0.decode("id", as: Int64.self) }), [first])
        // Once it finished, one new job is added and shared by everyone.
        try await app.query("SELECT pgworker.complete_jobs('w', ARRAY[$1::bigint], ARRAY[true], ARRAY[NULL::jsonb], ARRAY[NULL::text], ARRAY[false])", [first])
        let after = try await concurrently(database, rounds: 10, """
            SELECT id FROM pgworker.add_job('t', job_key => 'k', job_key_mode => 'skip_waiting_or_running')
            """) { _, _ in [] }
        let ids = Set(try after.map { try $0.decode("id", as: Int64.self) })
        XCTAssertEqual(ids.count, 1)
        XCTAssertFalse(ids.contains(first))
    }

    func testPriorityLowerFirstThenRunAtThenFIFO() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        try await app.execute("""
            SELECT pgworker.add_job('t', '{"n": 1}', priority => 5, run_at => '2025-01-01');
            SELECT pgworker.add_job('t', '{"n": 2}', priority => 0, run_at => '2025-01-02');
            SELECT pgworker.add_job('t', '{"n": 3}', priority => 0, run_at => '2025-01-01');
            SELECT pgworker.add_job('t', '{"n": 4}', priority => -1, run_at => '2025-01-03');
            SELECT pgworker.add_job('t', '{"n": 5}', priority => 0, run_at => '2025-01-01');
            """)
        var order: [String] = []
        for _ in 0..<5 {
            order += try await app.query("SELECT payload->>'n' AS n FROM pgworker.claim_jobs('w', ARRAY['t'], NULL, 1)")
                .rows.map { try $0.decode("n") }
        }
        XCTAssertEqual(order, ["4", "3", "5", "2", "1"])
    }

    /// One execution of a job: when it started and ended.
    struct Interval: Sendable {
        let id: Int64
        let key: String
        let start: ContinuousClock.Instant
        let end: ContinuousClock.Instant
    }

    func testSameLockKeyJobsNeverOverlapAndRunInOrder() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let intervals = Mutex<[Interval]>([])
        var tasks = TaskRegistry()
        tasks.register("locked", payload: [String: String].self) { payload, job in
            let start = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(15))
            intervals.withLock { $0.append(Interval(id: job.id, key: payload["key"]!, start: start, end: .now)) }
        }
        try await app.execute("""
            SELECT pgworker.add_job('locked', jsonb_build_object('key', 'a'), lock_key => 'a') FROM generate_series(1, 30);
            SELECT pgworker.add_job('locked', jsonb_build_object('key', 'b'), lock_key => 'b') FROM generate_series(1, 15);
            SELECT pgworker.add_job('locked', jsonb_build_object('key', 'a'), lock_key => 'a', priority => 1) FROM generate_series(1, 5);
            """)
        try await withTestWorkers(2, database, tasks: tasks, configure: { $0.concurrency = 10 }) { workers in
            try await eventually(timeout: .seconds(30)) { try await app.jobCount(state: "succeeded") == 50 }
        }

        let all = intervals.withLock { $0 }
        XCTAssertEqual(all.count, 50)
        for key in ["a", "b"] {
            let runs = all.filter { $0.key == key }.sorted { $0.start < $1.start }
            for (earlier, later) in zip(runs, runs.dropFirst()) {
                XCTAssertLessThanOrEqual(earlier.end, later.start, "jobs \(earlier.id) and \(later.id) of key \(key) overlapped")
            }
            // Claim order: the priority-1 jobs last, the rest by id.
            let ids = runs.map(\.id)
            let expected = try await app.query(
                "SELECT id FROM pgworker.jobs WHERE lock_key = $1 ORDER BY priority, id", [key]).rows.map { try $0.decode("id", as: Int64.self) }
            XCTAssertEqual(ids, expected, "key \(key) ran in order")
        }
        let a = all.filter { $0.key == "a" }, b = all.filter { $0.key == "b" }
        XCTAssertTrue(a.contains { x in b.contains { y in x.start < y.end && y.start < x.end } },
                      "different keys run at the same time: the mutex is per key")
    }

    func testConcurrentClaimersNeverHoldTwoJobsOfAKeyEvenWithEarlierJobsArriving() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        try await app.execute("""
            CREATE TABLE claim_log (job_id bigint, lock_key text, claimed_at timestamptz, done_at timestamptz);
            SELECT pgworker.add_job('t', lock_key => 'k' || (g % 3)) FROM generate_series(1, 60) g;
            """)
        // 8 claimers claim, hold briefly and complete, while a writer keeps adding jobs of the same
        // keys that sort *before* the waiting ones (the race the unique index backs up).
        // Claimers stop once the writer is done and they have found nothing 30 times in a row: on a
        // loaded machine the writer can pause longer than 30 empty claims take.
        let writerDone = DoneFlag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let writer = try await database.connect("writer")
                for round in 0..<40 {
                    try await writer.query("SELECT pgworker.add_job('t', lock_key => 'k' || ($1::int % 3), priority => -1)", [round])
                    try await Task.sleep(for: .milliseconds(5))
                }
                writerDone.set()
            }
            for claimer in 0..<8 {
                group.addTask {
                    let connection = try await database.connect("claimer-\(claimer)")
                    var idle = 0
                    while idle < 30 || !writerDone.isSet {
                        let ids: [Int64] = try await connection.query(
                            "SELECT id FROM pgworker.claim_jobs($1, ARRAY['t'], NULL, 5)", ["c\(claimer)"]).rows.map { try $0.decode("id") }
                        if ids.isEmpty {
                            idle += 1
                            try await Task.sleep(for: .milliseconds(5))
                            continue
                        }
                        idle = 0
                        try await connection.query(
                            "INSERT INTO claim_log SELECT id, lock_key, clock_timestamp(), NULL FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [ids])
                        try await Task.sleep(for: .milliseconds(2))
                        try await connection.query("UPDATE claim_log SET done_at = clock_timestamp() WHERE job_id = ANY($1::bigint[])", [ids])
                        try await connection.query(
                            "SELECT pgworker.complete_jobs($1, $2::bigint[], array_fill(true, ARRAY[$3::int]), array_fill(NULL::jsonb, ARRAY[$3::int]), array_fill(NULL::text, ARRAY[$3::int]), array_fill(false, ARRAY[$3::int]))",
                            ["c\(claimer)", ids, ids.count])
                    }
                }
            }
            try await group.waitForAll()
        }
        let succeeded = try await app.jobCount(state: "succeeded")
        XCTAssertEqual(succeeded, 100, "every job ran")
        let overlaps = try await app.query("""
            SELECT count(*) AS n FROM claim_log a JOIN claim_log b
              ON a.lock_key = b.lock_key AND a.job_id < b.job_id
             AND a.claimed_at < b.done_at AND b.claimed_at < a.done_at
            """).rows[0].decode("n", as: Int.self)
        XCTAssertEqual(overlaps, 0, "two jobs of one key were held at the same time")
    }

    func testQueueLimitCapsRunningJobsAcrossWorkers() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        try await app.query("SELECT pgworker.set_queue_limit('limited', 2)")
        let running = Mutex<(now: Int, peak: Int)>((0, 0))
        let peakInDatabase = Mutex(0)
        var tasks = TaskRegistry()
        tasks.register("slow", payload: Empty.self) { _, job in
            if job.queue == "limited" {
                running.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            }
            try await Task.sleep(for: .milliseconds(40))
            if job.queue == "limited" { running.withLock { $0.now -= 1 } }
        }
        try await app.execute("""
            SELECT pgworker.add_job('slow', queue => 'limited') FROM generate_series(1, 40);
            SELECT pgworker.add_job('slow', queue => 'free') FROM generate_series(1, 20);
            """)
        let started = ContinuousClock.now
        let elapsed = try await withTestWorkers(2, database, tasks: tasks, configure: { $0.concurrency = 10 }) { _ in
            let observer = try await database.connect("observer")
            try await eventually(timeout: .seconds(30)) {
                let n = try await observer.query("SELECT count(*) AS n FROM pgworker.jobs WHERE queue = 'limited' AND state = 'running'")
                    .rows[0].decode("n", as: Int.self)
                peakInDatabase.withLock { $0 = max($0, n) }
                return try await observer.jobCount(state: "succeeded") == 60
            }
            return ContinuousClock.now - started
        }
        let peak = running.withLock { $0.peak }
        XCTAssertEqual(peak, 2, "never more than 2 at once, and the limit is used")
        XCTAssertLessThanOrEqual(peakInDatabase.withLock { $0 }, 2)
        // 40 jobs of 40 ms two at a time is 0.8 s of work: slots are refilled at once, not per poll.
        print("40 jobs in a queue limited to 2 (40 ms each) took \(elapsed)")
        XCTAssertLessThan(elapsed, .seconds(6))
    }

    /// A capped queue whose jobs come after a backlog of other queues: turns take the usual claim
    /// while those are next and the guarded one when the capped jobs are, and the cap holds
    /// throughout, also for capped jobs enqueued while the worker is busy.
    func testQueueLimitHoldsWhenCappedJobsWaitBehindOtherQueues() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        try await app.query("SELECT pgworker.set_queue_limit('limited', 2)")
        let running = Mutex<(now: Int, peak: Int)>((0, 0))
        var tasks = TaskRegistry()
        tasks.register("work", payload: Empty.self) { _, job in
            if job.queue == "limited" { running.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
            try await Task.sleep(for: .milliseconds(job.queue == "limited" ? 30 : 2))
            if job.queue == "limited" { running.withLock { $0.now -= 1 } }
        }
        try await app.execute("""
            SELECT pgworker.add_job('work', queue => 'free') FROM generate_series(1, 300);
            SELECT pgworker.add_job('work', queue => 'limited', priority => 5) FROM generate_series(1, 10);
            """)
        try await withTestWorkers(2, database, tasks: tasks, configure: { $0.concurrency = 10 }) { workers in
            try await eventually { try await app.jobCount(state: "succeeded") >= 50 }
            try await app.execute("SELECT pgworker.add_job('work', queue => 'limited') FROM generate_series(1, 10)")
            try await eventually(timeout: .seconds(30)) { try await app.jobCount(state: "succeeded") == 320 }
        }
        XCTAssertEqual(running.withLock { $0.peak }, 2, "never more than 2 at once, and the limit is used")
    }

    /// A capped queue with nothing waiting does not send turns through the guarded claim (complete_and_claim.sql):
    /// counted with function statistics, `claim_jobs_within` is never called.
    func testAnIdleCappedQueueLeavesTurnsOnTheUsualClaim() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let name: String = try await app.query("SELECT current_database() AS name").rows[0].decode("name")
        try await app.execute("ALTER DATABASE \(try await app.quoteIdentifier(name)) SET track_functions = 'pl'")
        try await app.query("SELECT pgworker.set_queue_limit('idle', 1)")
        try await app.execute("SELECT pgworker.add_job('work') FROM generate_series(1, 200)")
        var tasks = TaskRegistry()
        tasks.register("work", payload: Empty.self) { _, _ in }
        try await withTestWorker(database, tasks: tasks, configure: { $0.concurrency = 20 }) { worker in
            try await eventually { try await app.jobCount(state: "succeeded") == 200 }
        }
        // A session reports its function statistics as its backend exits, a moment after the
        // worker has closed it: wait until no other session is left and the turns are counted.
        var calls: [String: Int] = [:]
        try await eventually("the worker's function statistics never arrived") {
            let others: Int = try await app.query(
                "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).rows[0].decode("n")
            calls = try await Dictionary(uniqueKeysWithValues: app.query(
                "SELECT funcname, calls FROM pg_stat_user_functions WHERE schemaname = 'pgworker'"
            ).rows.map { (try $0.decode("funcname", as: String.self), try $0.decode("calls", as: Int.self)) })
            return others == 0 && (calls["complete_and_claim"] ?? 0) > 0
        }
        XCTAssertNil(calls["claim_jobs_within"], "a turn took the guarded claim: \(calls)")
    }

    func testPerProcessQueueLimitCapsThisWorkerOnly() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        let running = Mutex<[String: (now: Int, peak: Int)]>([:])
        var tasks = TaskRegistry()
        tasks.register("slow", payload: Empty.self) { _, job in
            running.withLock { $0[job.queue, default: (0, 0)].now += 1; $0[job.queue]!.peak = max($0[job.queue]!.peak, $0[job.queue]!.now) }
            try await Task.sleep(for: .milliseconds(30))
            running.withLock { $0[job.queue]!.now -= 1 }
        }
        try await app.execute("""
            SELECT pgworker.add_job('slow', queue => 'local') FROM generate_series(1, 30);
            SELECT pgworker.add_job('slow', queue => 'both') FROM generate_series(1, 20);
            SELECT pgworker.add_job('slow', queue => 'free') FROM generate_series(1, 30);
            SELECT pgworker.set_queue_limit('both', 2);
            """)
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.concurrency = 10
            $0.queueLimits = ["local": 3, "both": 5]
        }) { worker in
            try await eventually(timeout: .seconds(30)) { try await app.jobCount(state: "succeeded") == 80 }
        }
        let peaks = running.withLock { $0.mapValues(\.peak) }
        XCTAssertEqual(peaks["local"], 3, "the local cap, and it is used")
        XCTAssertEqual(peaks["both"], 2, "the smaller of the local and the cluster-wide cap")
        XCTAssertGreaterThan(peaks["free"] ?? 0, 3, "other queues use the rest of the concurrency")
    }

    func testPausedQueueIsNotClaimedUntilResumed() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect()
        var tasks = TaskRegistry()
        tasks.register("t", payload: Empty.self) { _, _ in }
        try await withTestWorker(database, tasks: tasks) { worker in
            try await app.query("SELECT pgworker.pause_queue('p')")
            let paused = try await app.query("SELECT id FROM pgworker.add_job('t', queue => 'p')").rows[0].decode("id", as: Int64.self)
            let other = try await app.query("SELECT id FROM pgworker.add_job('t', queue => 'other')").rows[0].decode("id", as: Int64.self)
            try await eventually { try await app.jobState(other) == "succeeded" }
            let turn = try await worker.claimTurn()
            XCTAssertEqual(turn.startedJobs, 0, "a claim turn after the enqueue started nothing")
            let pausedState = try await app.jobState(paused)
            XCTAssertEqual(pausedState, "available", "a paused queue is not claimed")

            // Pausing a queue a worker has just served: its next claim turn takes nothing from it.
            try await app.query("SELECT pgworker.resume_queue('p')")
            let resumedAt = ContinuousClock.now
            try await eventually(timeout: .seconds(3)) { try await app.jobState(paused) == "succeeded" }
            XCTAssertLessThan(ContinuousClock.now - resumedAt, .seconds(1), "resume wakes the workers")
            try await app.query("SELECT pgworker.pause_queue('p')")
            let late = try await app.query("SELECT id FROM pgworker.add_job('t', queue => 'p')").rows[0].decode("id", as: Int64.self)
            let lateTurn = try await worker.claimTurn()
            XCTAssertEqual(lateTurn.startedJobs, 0, "a claim turn after the enqueue started nothing")
            let lateState = try await app.jobState(late)
            XCTAssertEqual(lateState, "available")
        }
    }
}

/// A flag one task sets and others read.
private final class DoneFlag: Sendable {
    private let done = Mutex(false)
    func set() { done.withLock { $0 = true } }
    var isSet: Bool { done.withLock { $0 } }
}
