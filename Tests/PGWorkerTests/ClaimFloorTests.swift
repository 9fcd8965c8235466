import Foundation
import PGWorker
import PQClient
import XCTest

/// A worker's turn claims from a floor (SQL/migrations/015, complete_and_claim): the claim key
/// below which nothing is runnable for it. These are the ways a job can appear below a floor that
/// has moved past it, each of which must still be claimed, and the reason for the floor: under a
/// snapshot held open elsewhere, a turn reads only the claim index entries past it.
final class ClaimFloorTests: XCTestCase {
    /// One turn of worker `w` for `tasks`: completes `finished` (succeeded) and claims up to `limit`.
    private func turn(_ connection: PQConnection, finished: [Int64] = [], tasks: [String] = ["t"],
                      queues: [String]? = nil, limit: Int = 100) async throws -> [Int64] {
        try await connection.query(
            """
            SELECT id FROM pgworker.complete_and_claim('w', $1::bigint[], array_fill(true, ARRAY[$2::int]),
                array_fill(NULL::jsonb, ARRAY[$2::int]), array_fill(NULL::text, ARRAY[$2::int]), array_fill(false, ARRAY[$2::int]),
                $3::text[], $4::text[], $5, false)
            """, [finished, finished.count, tasks, queues, limit]
        ).rows.map { try $0.decode("id") }
    }

    /// Claims and completes until a turn claims nothing; returns every id claimed.
    private func drain(_ connection: PQConnection, tasks: [String] = ["t"], limit: Int = 100) async throws -> [Int64] {
        var all: [Int64] = []
        var claimed = try await turn(connection, tasks: tasks, limit: limit)
        while !claimed.isEmpty {
            all += claimed
            claimed = try await turn(connection, finished: claimed, tasks: tasks, limit: limit)
        }
        return all
    }

    private func insert(_ connection: PQConnection, _ count: Int, task: String = "t") async throws -> [Int64] {
        try await connection.query(
            "INSERT INTO pgworker.jobs (task) SELECT $1 FROM generate_series(1, $2) RETURNING id", [task, count]
        ).rows.map { try $0.decode("id") }
    }

    /// The floor's job id as the session keeps it (pgworker.claim_floor).
    private func floorID(_ connection: PQConnection) async throws -> String {
        try await connection.query(
            "SELECT split_part(current_setting('pgworker.claim_floor', true), '|', 4) AS id"
        ).rows[0].decode("id")
    }

    func testAJobOfATransactionThatBeganEarlierAndCommittedLaterIsClaimed() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let late = try await database.connect("late")
        let other = try await database.connect("other")
        // `late` enqueues first (its run_at is its transaction's start) but commits last.
        try await late.execute("BEGIN")
        let early: Int64 = try await late.query("INSERT INTO pgworker.jobs (task) VALUES ('t') RETURNING id").rows[0].decode("id")
        try await Task.sleep(for: .milliseconds(20))
        let first = try await insert(other, 20)
        let claimed = try await drain(worker)
        XCTAssertEqual(Set(claimed), Set(first))
        let observed1 = try await floorID(worker)
        XCTAssertEqual(observed1, "9223372036854775807", "nothing left: the floor waits for a rewind")
        try await late.execute("COMMIT")
        let observed2 = try await turn(worker)
        XCTAssertEqual(observed2, [early], "the late commit's job is claimed by the next turn")
    }

    func testAPastRunAtALowerPriorityNumberAndASubtransactionAreClaimed() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let app = try await database.connect("app")
        _ = try await insert(app, 30)
        _ = try await drain(worker)
        let past: Int64 = try await app.query(
            "INSERT INTO pgworker.jobs (task, run_at) VALUES ('t', now() - interval '1 day') RETURNING id").rows[0].decode("id")
        let urgent: Int64 = try await app.query(
            "INSERT INTO pgworker.jobs (task, priority) VALUES ('t', -5) RETURNING id").rows[0].decode("id")
        try await app.execute("BEGIN")
        try await app.execute("SAVEPOINT s")
        let nested: Int64 = try await app.query(
            "INSERT INTO pgworker.jobs (task, run_at) VALUES ('t', now() - interval '2 days') RETURNING id").rows[0].decode("id")
        try await app.execute("RELEASE SAVEPOINT s")
        try await app.execute("SAVEPOINT u")
        try await app.execute("INSERT INTO pgworker.jobs (task, run_at) VALUES ('t', now() - interval '3 days')")
        try await app.execute("ROLLBACK TO SAVEPOINT u")
        try await app.execute("COMMIT")
        let observed3 = try await turn(worker)
        XCTAssertEqual(observed3, [urgent, nested, past])
        let observed4 = try await turn(worker)
        XCTAssertEqual(observed4, [])
    }

    /// Found by an outside trial: the floor's run_at went through microseconds since the epoch,
    /// which overflowed for a far-future job (every turn failed) and lost a microsecond far in
    /// the past (a due job was skipped). Any session time zone and date style.
    func testFarPastAndFarFutureRunAtsKeepTheirExactPlace() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        try await worker.execute(#"SET "TimeZone" = 'America/New_York'; SET "DateStyle" = 'SQL, DMY'"#)
        let poison: Int64 = try await worker.query(
            "INSERT INTO pgworker.jobs (task, priority, run_at) VALUES ('t', -2147483648, '294270-01-01 00:00:00+00') RETURNING id"
        ).rows[0].decode("id")
        let past = try await worker.query(
            "INSERT INTO pgworker.jobs (task, run_at) SELECT 't', timestamptz '1500-01-01 00:00:00+00' + n * interval '2 microseconds' "
            + "FROM generate_series(1, 3) n RETURNING id"
        ).rows.map { try $0.decode("id", as: Int64.self) }
        var claimed: [Int64] = []
        for _ in 0..<4 { claimed += try await turn(worker, limit: 1) }
        XCTAssertEqual(claimed, past, "each claimed in order, none skipped, and the far-future job breaks no turn")
        let floor = try await floorID(worker)
        XCTAssertEqual(floor, String(poison), "the far-future job with the smallest priority number holds the floor")
    }

    func testRetriedRescuedAndRescheduledJobsAreClaimedAgain() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let admin = try await database.connect("admin")
        let ids = try await insert(admin, 10)
        let claimed = try await turn(worker, limit: 3)
        XCTAssertEqual(claimed, Array(ids.prefix(3)))
        // Jobs 0-2 are running. One is rescued as if its worker had died (it keeps its run_at);
        _ = try await admin.query("UPDATE pgworker.jobs SET locked_at = now() - interval '1 hour' WHERE id = $1", [ids[0]])
        _ = try await admin.query("SELECT * FROM pgworker.rescue_stale_jobs(interval '1 minute')")
        // the other two finish; then the rest is drained, leaving the floor past all of them.
        let rest = try await turn(worker, finished: [ids[1], ids[2]])
        XCTAssertEqual(rest, [ids[0]] + Array(ids.suffix(7)), "the rescued job keeps its place")
        let observed5 = try await turn(worker, finished: rest)
        XCTAssertEqual(observed5, [])
        // A dead job retried by hand keeps its run_at, so its key is far below the floor.
        _ = try await admin.query("UPDATE pgworker.jobs SET state = 'dead' WHERE id = $1", [ids[5]])
        _ = try await admin.query("SELECT pgworker.retry_job($1)", [ids[5]])
        let observed6 = try await turn(worker)
        XCTAssertEqual(observed6, [ids[5]])
        let observed7 = try await turn(worker, finished: [ids[5]])
        XCTAssertEqual(observed7, [])
        // A job waiting for tomorrow, rescheduled to now.
        let tomorrow: Int64 = try await admin.query(
            "INSERT INTO pgworker.jobs (task, run_at) VALUES ('t', now() + interval '1 day') RETURNING id").rows[0].decode("id")
        let observed8 = try await turn(worker)
        XCTAssertEqual(observed8, [])
        _ = try await admin.query("UPDATE pgworker.jobs SET run_at = now() - interval '1 second' WHERE id = $1", [tomorrow])
        let observed9 = try await turn(worker)
        XCTAssertEqual(observed9, [tomorrow])
    }

    func testJobsAnotherClaimerHeldAndGaveBackAreClaimedNext() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let claimer = try await database.connect("claimer")
        let ids = try await insert(worker, 10)
        // Another claimer holds the first five, as a claim in flight does, then rolls back.
        try await claimer.execute("BEGIN")
        _ = try await claimer.query("SELECT id FROM pgworker.jobs WHERE id = ANY ($1::bigint[]) FOR UPDATE", [Array(ids.prefix(5))])
        let later = try await turn(worker)
        XCTAssertEqual(later, Array(ids.suffix(5)), "locked rows are skipped")
        let observed10 = try await floorID(worker)
        XCTAssertEqual(observed10, String(ids[0]), "the floor stays at the first skipped row")
        try await claimer.execute("ROLLBACK")
        let observed11 = try await turn(worker, finished: later)
        XCTAssertEqual(observed11, Array(ids.prefix(5)))
    }

    func testANotYetDueJobWithALowerPriorityNumberIsClaimedWhenDue() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let soon: Int64 = try await worker.query(
            "INSERT INTO pgworker.jobs (task, priority, run_at) VALUES ('t', -1, now() + interval '1 second') RETURNING id"
        ).rows[0].decode("id")
        let ids = try await insert(worker, 5)
        let claimed = try await turn(worker)
        XCTAssertEqual(claimed, ids)
        let observed12 = try await floorID(worker)
        XCTAssertEqual(observed12, String(soon), "the waiting job holds the floor")
        try await Task.sleep(for: .milliseconds(1_100))
        let observed13 = try await turn(worker, finished: claimed)
        XCTAssertEqual(observed13, [soon])
    }

    func testOtherTasksAndPausedQueuesNeitherHoldTheFloorNorGetLost() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let admin = try await database.connect("admin")
        let foreign: Int64 = try await admin.query(
            "INSERT INTO pgworker.jobs (task, run_at) VALUES ('other', now() - interval '1 day') RETURNING id").rows[0].decode("id")
        try await admin.execute("INSERT INTO pgworker.jobs (task, queue) VALUES ('t', 'held')")
        let held: Int64 = try await admin.query("SELECT id FROM pgworker.jobs WHERE queue = 'held'").rows[0].decode("id")
        _ = try await admin.query("SELECT pgworker.pause_queue('held')")
        let ids = try await insert(admin, 5)
        let claimed = try await turn(worker)
        XCTAssertEqual(claimed, ids)
        let observed14 = try await floorID(worker)
        XCTAssertEqual(observed14, "9223372036854775807",
                       "a job of another task or of a paused queue does not hold this worker's floor")
        let observed15 = try await turn(worker, finished: claimed)
        XCTAssertEqual(observed15, [])
        // Resuming the queue changes what the turn may claim: the floor starts again at the front.
        _ = try await admin.query("SELECT pgworker.resume_queue('held')")
        let observed16 = try await turn(worker)
        XCTAssertEqual(observed16, [held])
        // A worker of the other task has its own floor and finds its job.
        let other = try await database.connect("other-worker")
        let observed17 = try await turn(other, tasks: ["other"])
        XCTAssertEqual(observed17, [foreign])
    }

    func testAFailedTurnKeepsThePreviousFloorAndANewSessionStartsAtTheFront() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let ids = try await insert(worker, 4)
        try await worker.execute("BEGIN")
        let observed18 = try await turn(worker)
        XCTAssertEqual(observed18, ids)
        try await worker.execute("ROLLBACK")
        let observed19 = try await floorID(worker)
        XCTAssertEqual(observed19, "", "the rolled-back turn left no floor")
        let observed20 = try await turn(worker)
        XCTAssertEqual(observed20, ids)
        // The rows change behind the session's back with triggers off (a replica's apply): a new
        // session starts at the front; this one finds them once maintenance has rewound its tasks.
        try await worker.execute("SET session_replication_role = replica")
        _ = try await worker.query("UPDATE pgworker.jobs SET state = 'available', attempts = 0, locked_by = NULL WHERE id = ANY ($1::bigint[])",
                                   [[ids[0], ids[1]]])
        try await worker.execute("RESET session_replication_role")
        let missed = try await turn(worker, limit: 1)
        XCTAssertEqual(missed, [], "no trigger fired: this session's floor is past them")
        let fresh = try await database.connect("fresh")
        let sweep = try await turn(fresh, limit: 1)
        XCTAssertEqual(sweep, [ids[0]], "a new session starts at the front")
        let maintenance = try await database.connect("maintenance")
        let written: Int = try await maintenance.query(
            "SELECT pgworker.rewind_claims_to_first_runnable(ARRAY['t', 'unknown'], false) AS n").rows[0].decode("n")
        XCTAssertEqual(written, 1, "one rewind for the task that has a runnable job")
        let found = try await turn(worker)
        XCTAssertEqual(found, [ids[1]], "the maintenance rewind brings this session's floor back")
    }

    /// The point of the floor: with a snapshot held open, vacuum keeps the claim index's entries
    /// of finished jobs, and a claim from the front reads every one of them.
    func testUnderAPinnedSnapshotATurnReadsOnlyTheIndexEntriesPastItsFloor() async throws {
        let database = try await TestDatabase.create(for: self)
        let worker = try await database.connect("worker")
        let pin = try await database.connect("pin")
        try await pin.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try await pin.execute("SELECT 1")
        _ = try await insert(worker, 3_000)
        let observed23 = try await drain(worker).count
        XCTAssertEqual(observed23, 3_000)
        try await worker.execute("VACUUM pgworker.jobs")
        let fresh = try await insert(worker, 10)
        func entriesRead(_ connection: PQConnection) async throws -> (claimed: [Int64], entries: Int) {
            // The session's counts not yet reported include earlier transactions': take the difference.
            let read = "SELECT pg_stat_get_xact_tuples_returned('pgworker.jobs_claim_idx'::regclass)::int AS n"
            try await connection.execute("BEGIN")
            let before: Int = try await connection.query(read).rows[0].decode("n")
            let claimed = try await turn(connection)
            let after: Int = try await connection.query(read).rows[0].decode("n")
            try await connection.execute("ROLLBACK")
            return (claimed, after - before)
        }
        let floored = try await entriesRead(worker)
        XCTAssertEqual(floored.claimed, fresh)
        XCTAssertLessThan(floored.entries, 200, "the turn started at its floor")
        let sweep = try await entriesRead(try await database.connect("new-session"))
        XCTAssertEqual(sweep.claimed, fresh)
        XCTAssertGreaterThan(sweep.entries, 3_000, "from the front, the pinned entries of finished jobs are read")
        try await pin.execute("ROLLBACK")
    }

    func testRewindsArePrunedOnceNoFloorCanNeedThem() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        _ = try await insert(connection, 3)
        _ = try await insert(connection, 3)
        func rewinds() async throws -> Int {
            try await connection.query("SELECT count(*)::int AS n FROM pgworker.claim_rewinds").rows[0].decode("n")
        }
        let observed24 = try await rewinds()
        XCTAssertEqual(observed24, 2, "one rewind per INSERT statement")
        let observed25 = try await connection.query("SELECT pgworker.prune_claim_rewinds() AS n").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(observed25, 0)
        let observed26 = try await rewinds()
        XCTAssertEqual(observed26, 2, "a horizon recorded now lets nothing go yet")
        try await connection.execute("UPDATE pgworker.claim_rewind_horizons SET taken_at = taken_at - interval '4 minutes'")
        _ = try await insert(connection, 1)
        let observed27 = try await connection.query("SELECT pgworker.prune_claim_rewinds() AS n").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(observed27, 2)
        let observed28 = try await rewinds()
        XCTAssertEqual(observed28, 1, "the rewind written after the horizon stays")
    }
}
