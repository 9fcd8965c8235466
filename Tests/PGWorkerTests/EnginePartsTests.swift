@testable import PGWorker
import Synchronization
import XCTest

/// The engine's parts, each tested alone, without a database.
final class EnginePartsTests: XCTestCase {
    /// A heartbeat interval's claim turns: how many, and the nearest-rank 99th percentile; the
    /// next interval starts empty.
    func testClaimTurnTimesGiveTheP99OfEachInterval() {
        let times = ClaimTurnTimes()
        XCTAssertEqual(times.takeInterval().turns, 0)
        XCTAssertNil(times.takeInterval().p99Milliseconds)
        for milliseconds in (1...200).shuffled() { times.record(.milliseconds(milliseconds)) }
        let interval = times.takeInterval()
        XCTAssertEqual(interval.turns, 200)
        XCTAssertEqual(interval.p99Milliseconds, 198)
        times.record(.microseconds(1500))
        XCTAssertEqual(times.takeInterval().p99Milliseconds, 1.5)
        // Beyond its capacity it keeps the latest turns, and still counts them all.
        for _ in 0..<ClaimTurnTimes.capacity { times.record(.milliseconds(50)) }
        for _ in 0..<100 { times.record(.milliseconds(2)) }
        let full = times.takeInterval()
        XCTAssertEqual(full.turns, ClaimTurnTimes.capacity + 100)
        XCTAssertEqual(full.p99Milliseconds, 50)
    }

    /// Simple commands replace the shell (dash does not exec them itself); anything else runs as written.
    func testSimpleCommandsAreExecutedInPlaceOfTheShell() {
        XCTAssertEqual(ShellCommand.execIfSimple("php worker.php"), "exec php worker.php")
        XCTAssertEqual(ShellCommand.execIfSimple("  python3 'my job.py' --fast"), "exec python3 'my job.py' --fast")
        XCTAssertEqual(ShellCommand.arguments("cat"), ["/bin/sh", "-c", "exec cat"])
        for asWritten in ["exec php w.php", "cd /srv && php w.php", "php w.php; echo done", "php w.php | tee log",
                          "php w.php > out", "FOO=1 php w.php", "php $SCRIPT", "echo hi", "(php w.php)", "php w.php &",
                          "php *.php", "php w.php # comment", "'my tool' x", "php `which x`", "a\nb"] {
            XCTAssertEqual(ShellCommand.execIfSimple(asWritten), asWritten, asWritten)
        }
    }

    func testJobDeadlinesFireEarliestFirstAndAnEarlierOneRearmsTheTimer() async throws {
        let expired = Mutex<[Int64]>([])
        let deadlines = JobDeadlines { ids in expired.withLock { $0 += ids } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await deadlines.run() }
            deadlines.start(1, timeout: .seconds(30))
            // Later, but due much earlier: the timer must wake for it.
            deadlines.start(2, timeout: .milliseconds(50))
            try await eventually(timeout: .seconds(5)) { expired.withLock { $0 } == [2] }
            XCTAssertTrue(deadlines.finish(2), "job 2 timed out")
            XCTAssertFalse(deadlines.finish(1), "job 1 did not")
            group.cancelAll()
        }
        deadlines.start(3, timeout: .milliseconds(1))
        XCTAssertFalse(deadlines.finish(3), "no job times out once the timer has stopped")
    }

    func testPacingWaitsForRunningJobsOnlyUntilTheBatchingDeadline() {
        let state = EngineState(progress: WorkerProgress(needsListener: false))
        let pacer = TurnPacer(state: state, shutdown: ShutdownState(), concurrency: 4)
        XCTAssertTrue(pacer.isTurnDue(), "a new worker claims at once")
        _ = state.takeClaimRequest(concurrency: 4, stopping: false)
        XCTAssertFalse(pacer.isTurnDue(), "nothing requested, nothing to write")

        let jobs = [1, 2].map(Self.job)
        _ = state.admit(jobs, claimedAll: false, concurrency: 4)
        _ = state.jobEnded(1, outcome: .success(1, result: nil), freedCappedSlot: false, stopping: false)
        XCTAssertFalse(pacer.isTurnDue(), "an outcome while a job still runs waits for the batch")
        XCTAssertFalse(pacer.isTurnDue(), "and keeps waiting until the deadline")
        _ = state.jobEnded(2, outcome: .success(2, result: nil), freedCappedSlot: false, stopping: false)
        XCTAssertTrue(pacer.isTurnDue(), "no job runs: the turn is due")
    }

    func testAClaimedJobStillRunningOrUnwrittenIsNotStartedAgain() {
        let state = EngineState(progress: WorkerProgress(needsListener: false))
        _ = state.admit([Self.job(1), Self.job(2)], claimedAll: false, concurrency: 4)
        _ = state.jobEnded(2, outcome: .success(2, result: nil), freedCappedSlot: false, stopping: false)
        let (start, _) = state.admit([Self.job(1), Self.job(2), Self.job(3)], claimedAll: false, concurrency: 4)
        XCTAssertEqual(start.map(\.id), [3], "1 still runs and 2's outcome is not written")
        XCTAssertEqual(Set(state.heldJobIDs), [1, 2, 3])
    }

    func testShutdownGracePeriodEndsOnceAndASecondStopCancelsAtOnce() {
        let shutdown = ShutdownState()
        XCTAssertFalse(shutdown.endGracePeriodIfOver(.zero), "not stopping")
        XCTAssertFalse(shutdown.requestStop())
        XCTAssertTrue(shutdown.isStopping)
        XCTAssertFalse(shutdown.cancelsRunningJobs)
        XCTAssertTrue(shutdown.endGracePeriodIfOver(.zero))
        XCTAssertFalse(shutdown.endGracePeriodIfOver(.zero), "only once")
        XCTAssertTrue(shutdown.cancelsRunningJobs)
        let again = ShutdownState()
        _ = again.requestStop()
        XCTAssertTrue(again.requestStop(), "a second stop")
        XCTAssertTrue(again.cancelsRunningJobs)
    }

    func testProgressWaitsEndWhenTheWorkerEnds() async throws {
        let progress = WorkerProgress(needsListener: true)
        progress.registered()
        progress.queueCapsRead()
        let waiting = Task { try await progress.waitUntilReady() }
        progress.ended()
        do {
            try await waiting.value
            XCTFail("not listening yet: the wait must fail")
        } catch is WorkerStoppedError {}
    }

    private static func job(_ id: Int64) -> ClaimedJob {
        ClaimedJob(id: id, task: "t", queue: "default", payload: "{}", attempt: 1, maxAttempts: 25,
                   waitedSeconds: nil, hasLockKey: false)
    }
}
