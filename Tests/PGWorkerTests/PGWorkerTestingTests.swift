import Foundation
import PGWorker
import PGWorkerTesting
import PQClient
import Synchronization
import XCTest

/// The PGWorkerTesting library, tested on itself.
final class PGWorkerTestingTests: XCTestCase {
    struct Note: Codable, Sendable { var n: Int }

    func testWithRunningWorkerIsReadyForNotificationsAndStopsAfterTheBody() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        var tasks = TaskRegistry()
        tasks.register("note", payload: Note.self) { _, _ in }
        // A one-minute poll: only the notification can wake the worker in time, so the job
        // running proves the worker was LISTENing when the body began.
        let id = try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(60) }) { worker in
            let registered = try await app.query("SELECT count(*) AS n FROM pgworker.workers WHERE id = $1", [worker.id])
                .rows[0].decode("n", as: Int.self)
            XCTAssertEqual(registered, 1)
            let id = try await JobClient(connection: app).add("note", payload: Note(n: 1))
            try await eventually(timeout: .seconds(5)) { try await app.jobState(id) == "succeeded" }
            return id
        }
        let state = try await app.jobState(id)
        XCTAssertEqual(state, "succeeded")
        let workers = try await app.query("SELECT count(*) AS n FROM pgworker.workers").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(workers, 0, "the worker stopped and deregistered before withRunningWorker returned")
    }

    func testWithRunningWorkerStopsTheWorkerWhenTheBodyThrows() async throws {
        struct Boom: Error {}
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        do {
            try await withTestWorker(database, tasks: TaskRegistry()) { _ in throw Boom() }
            XCTFail("expected the body's error")
        } catch is Boom {}
        let workers = try await app.query("SELECT count(*) AS n FROM pgworker.workers").rows[0].decode("n", as: Int.self)
        XCTAssertEqual(workers, 0)
    }

    func testWithRunningWorkerReportsWhyTheWorkerCouldNotStart() async throws {
        let database = try await TestDatabase.create(for: self, migrated: false)
        do {
            try await withTestWorker(database, tasks: TaskRegistry()) { _ in XCTFail("the body must not run") }
            XCTFail("expected an error")
        } catch let error as MigrationError {
            XCTAssertEqual(error, .notInstalled)
        }
    }

    func testDrainRunsWhatIsDueIncludingFollowUpJobsThenReturns() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let follower = try await database.connect("follower")
        var tasks = TaskRegistry()
        tasks.register("note", payload: Note.self) { note, _ in
            // Each of the first jobs enqueues a follow-up: drain runs those too.
            if note.n < 100 { _ = try await JobClient(connection: follower).add("note", payload: Note(n: note.n + 100)) }
        }
        // A one-minute poll and no listener: only drain's own turns claim.
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.pollInterval = .seconds(60)
            $0.listen = false
            $0.concurrency = 3
        }) { worker in
            for n in 1...5 { _ = try await JobClient(connection: app).add("note", payload: Note(n: n)) }
            let later = try await JobClient(connection: app).add("note", payload: Note(n: 1000), options: JobOptions(runAt: Date().addingTimeInterval(3600)))
            let last = try await worker.drain()
            XCTAssertTrue(last.foundNothingToDo)
            let succeeded = try await app.jobCount(state: "succeeded")
            XCTAssertEqual(succeeded, 10, "five jobs and their five follow-ups")
            let laterState = try await app.jobState(later)
            XCTAssertEqual(laterState, "available", "a job due later is not waited for")
        }
    }

    func testClaimTurnSeesWhatWasCommittedBeforeIt() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        var tasks = TaskRegistry()
        tasks.register("note", payload: Note.self) { _, _ in }
        try await withTestWorker(database, tasks: tasks, configure: { $0.pollInterval = .seconds(60); $0.listen = false }) { worker in
            let before = worker.claimTurnsBegun
            let empty = try await worker.claimTurn()
            XCTAssertGreaterThan(empty.number, before)
            XCTAssertEqual(empty.startedJobs, 0)
            _ = try await JobClient(connection: app).add("note", payload: Note(n: 1))
            let turn = try await worker.claimTurn()
            XCTAssertEqual(turn.startedJobs, 1, "a claim turn begun after the commit claims the job")
        }
    }

    func testAssertEnqueuedComparesPayloadsAsJSONAndSaysWhatItFound() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        _ = try await JobClient(connection: app).add("mail", json: #"{"to": "a@example.com", "n": 1}"#)
        _ = try await JobClient(connection: app).add("mail", json: #"{"to": "b@example.com", "n": 2}"#, options: JobOptions(queue: "bulk"))

        let found = try await assertEnqueued(on: app, task: "mail", json: #"{"n":1,"to":"a@example.com"}"#)
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(found[0].state, "available")
        try await assertEnqueued(on: app, task: "mail", count: 2)
        try await assertEnqueued(on: app, task: "mail", queue: "bulk", count: 1)
        struct Mail: Encodable { var to: String; var n: Int }
        try await assertEnqueued(on: app, task: "mail", payload: Mail(to: "b@example.com", n: 2), queue: "bulk")

        do {
            try await assertEnqueued(on: app, task: "mail", json: #"{"n": 3}"#)
            XCTFail("expected a failure")
        } catch let failure as EnqueuedJobAssertionFailure {
            XCTAssertEqual(failure.found.count, 2)
            XCTAssertTrue(failure.description.contains(#"with payload {"n": 3}"#), failure.description)
            XCTAssertTrue(failure.description.contains("a@example.com"), failure.description)
        }
        do {
            try await assertEnqueued(on: app, task: "nothing")
            XCTFail("expected a failure")
        } catch is EnqueuedJobAssertionFailure {}
    }
}
