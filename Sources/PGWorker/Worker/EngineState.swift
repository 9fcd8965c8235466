import PQClient
import Synchronization

/// What the turn loop and the jobs it started share, behind one lock because each change below
/// must see the others at once: the claim request, the running jobs, the outcomes not yet
/// written, and the batching deadline. Also the loop's wake-up channel.
///
/// The jobs this worker holds in the database are exactly ``running`` plus the outcomes not yet
/// written (see ``heldJobIDs``): a job leaves `running` in the same step as its outcome is queued.
final class EngineState: Sendable {
    private struct Fields {
        /// Set by notifications, the poll and full claims; cleared when a claim turn starts.
        var claimRequested = true
        /// Jobs whose handler is running.
        var running: Set<Int64> = []
        /// Outcomes not yet known to be written.
        var completions: [Completion] = []
        /// How many of `completions`, from the front, the last turn wrote in a transaction whose
        /// commit has not been confirmed yet (see ``Producer/confirmLastTurn(_:)``).
        var unconfirmed = 0
        /// The connection that turn ran on: after a reconnect its commit can no longer be confirmed.
        /// Held, not just identified, so a new connection can never take its identity.
        var unconfirmedOn: PQConnection?
        /// The latest a turn that waits for running jobs may start (see ``TurnPacer``).
        var batchDeadline: ContinuousClock.Instant?
    }

    private let fields = Mutex(Fields())
    private let wakeups: AsyncStream<Void>.Continuation
    private let progress: WorkerProgress
    /// The loop's wake-ups: any number of signals collapse into one (`bufferingNewest(1)`).
    let wakeupStream: AsyncStream<Void>

    init(progress: WorkerProgress) {
        self.progress = progress
        (wakeupStream, wakeups) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Wakes the turn loop, which then decides whether a turn is due.
    func wakeLoop() { wakeups.yield() }

    /// Asks for a claim turn and wakes the loop.
    func requestClaim() {
        fields.withLock { $0.claimRequested = true }
        wakeups.yield()
    }

    // MARK: Pacing

    /// What ``TurnPacer`` decides on, read and updated in one step.
    enum Pacing {
        /// Nothing to do: no outcome to write and no room or request to claim.
        case idle
        /// A turn is due now.
        case due
        /// Jobs still run: wait for them, at most until the batching deadline.
        case waitForBatch(armTimer: ContinuousClock.Instant?)
    }

    /// Whether a turn is due; arms the batching deadline the first time jobs still run.
    func pacing(concurrency: Int, stopping: Bool, batchingDelay: Duration) -> Pacing {
        let now = ContinuousClock.now
        return fields.withLock { fields -> Pacing in
            let free = concurrency - fields.running.count
            let claims = fields.claimRequested && !stopping && free > 0
            guard claims || !fields.completions.isEmpty else { return .idle }
            // Half the slots free, with no outcome to write (SQL-task batches record their own),
            // make a full claim already: claiming now, while the other half still runs, keeps the
            // next jobs ready. (Outcomes to write wait for more, so one turn writes them all.)
            if fields.running.isEmpty || stopping || (claims && fields.completions.isEmpty && free * 2 >= concurrency)
                || fields.batchDeadline.map({ $0 <= now }) == true {
                fields.batchDeadline = nil
                return .due
            }
            if fields.batchDeadline != nil { return .waitForBatch(armTimer: nil) }
            let deadline = now + batchingDelay
            fields.batchDeadline = deadline
            return .waitForBatch(armTimer: deadline)
        }
    }

    // MARK: The turn

    /// The outcomes to write in this turn (all that are queued, unconfirmed ones included).
    var pendingOutcomes: [Completion] { fields.withLock { $0.completions } }

    /// How many outcomes are not yet known to be written.
    var pendingOutcomeCount: Int { fields.withLock { $0.completions.count } }

    /// Takes the claim request for this turn: returns whether to claim, and how many jobs fit.
    func takeClaimRequest(concurrency: Int, stopping: Bool) -> (claims: Bool, free: Int) {
        fields.withLock { fields in
            let free = concurrency - fields.running.count
            let claims = fields.claimRequested && !stopping && free > 0
            if claims { fields.claimRequested = false }
            return (claims, free)
        }
    }

    /// The first `count` outcomes went out in a transaction on `connection` whose commit is not
    /// confirmed yet.
    func outcomesAwaitCommit(_ count: Int, on connection: PQConnection) {
        fields.withLock { fields in
            fields.unconfirmed = count
            fields.unconfirmedOn = connection
        }
    }

    /// The first `count` outcomes are written (committed).
    func outcomesWritten(_ count: Int) {
        fields.withLock { $0.completions.removeFirst(count) }
    }

    /// The last turn's commit on `connection` is confirmed: its outcomes are written. On another
    /// connection the outcome is unknown, so they stay to be written again (a second write of an
    /// outcome changes nothing).
    func lastTurnCommitted(on connection: PQConnection) {
        fields.withLock { fields in
            if fields.unconfirmedOn === connection {
                fields.completions.removeFirst(fields.unconfirmed)
            }
            fields.unconfirmed = 0
            fields.unconfirmedOn = nil
        }
    }

    /// The last turn's commit failed or cannot be confirmed: its outcomes stay to be written again.
    func lastTurnNotCommitted() {
        fields.withLock { fields in
            fields.unconfirmed = 0
            fields.unconfirmedOn = nil
        }
    }

    /// Registers claimed jobs as running and returns those to start.
    ///
    /// A job can still be running here from a claim that failed to commit, or have finished with
    /// its outcome not yet written: it is not started again, and that run's outcome is written
    /// against this claim. A turn that claimed all it asked for (`claimedAll`) requests another.
    /// Returns the jobs to start, and whether to claim again at once (more may be waiting and
    /// there is room).
    func admit(_ jobs: [ClaimedJob], claimedAll: Bool, concurrency: Int) -> (start: [ClaimedJob], claimAgain: Bool) {
        fields.withLock { fields in
            let unwritten = Set(fields.completions.dropFirst(fields.unconfirmed).map(\.jobID))
            let start = jobs.filter { !fields.running.contains($0.id) && !unwritten.contains($0.id) }
            for job in start { fields.running.insert(job.id) }
            if claimedAll { fields.claimRequested = true }
            progress.runningJobsChanged(fields.running.count)
            return (start, fields.claimRequested && fields.running.count < concurrency)
        }
    }

    /// A job's run ended; queues its outcome (nil when a SQL task recorded it itself). Returns
    /// whether to wake the loop: otherwise it already waits for the batching timer or for the
    /// last running job.
    func jobEnded(_ jobID: Int64, outcome: Completion?, freedCappedSlot: Bool, stopping: Bool) -> Bool {
        fields.withLock { fields in
            fields.running.remove(jobID)
            if let outcome { fields.completions.append(outcome) }
            if freedCappedSlot { fields.claimRequested = true }
            progress.runningJobsChanged(fields.running.count)
            return fields.batchDeadline == nil || fields.running.isEmpty || stopping
        }
    }

    /// How many jobs are running.
    var runningCount: Int { fields.withLock { $0.running.count } }

    /// The jobs this worker holds in the database: running, or finished with the outcome not yet
    /// written. Only the turn loop may act on this list (see ``WorkerRegistration``).
    var heldJobIDs: [Int64] { fields.withLock { Array($0.running) + $0.completions.map(\.jobID) } }

    /// No job runs and every outcome is written.
    var holdsNothing: Bool { fields.withLock { $0.running.isEmpty && $0.completions.isEmpty } }
}
