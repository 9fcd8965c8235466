import Logging
import PQClient
import Synchronization

/// Runs jobs of SQL function tasks many to a transaction (`pgworker.run_sql_jobs`): the jobs of
/// one task that are waiting when a pool connection comes free go together, each in its own
/// subtransaction, and their outcomes commit with their effects. A no-op task then costs a
/// subtransaction, not a transaction, a plan lookup and a commit.
///
/// The turn announces the SQL jobs of a claim (``expect(_:)``) before their tasks start. At most
/// as many jobs' tasks as the pool has connections *drive* a task's jobs at a time: a driver takes
/// its own job and up to ``batchLimit(for:timeout:)`` more of the same task, runs them, and then
/// hands the driving on to the first job still waiting (whose own task then drives). The other
/// jobs' tasks only wait for their outcomes, so they cost no connection lease. A claim's jobs are
/// shared out among the pool's connections (at least ``minimumShare`` jobs a batch, since a batch
/// costs about as much as seven no-op jobs on top of its jobs), so they run in parallel batches.
///
/// A task's timeout holds per job within a batch (see ``runBatch(_:timeout:on:logger:)``). Run
/// one at a time, as before, are: procedures, and every job when the worker has a default
/// timeout (enforced from Swift by cancelling the job's statement, which is the whole batch's).
/// How long a batch may hold its jobs: it starts no new job after its budget (``budget``, less
/// for short timeouts), and the batch limit of a task shrinks as its jobs take longer, to 1 for
/// jobs as long as the budget.
final class SQLTaskBatcher: Sendable {
    /// Longest batch to aim for, and the point after which a batch starts no new job.
    static let budget: Duration = .milliseconds(20)
    /// Most jobs in one batch.
    static let maxBatch = 200
    /// Fewest jobs a batch takes, when that many wait, however small its share of a claim.
    static let minimumShare = 32

    private let pool: ConnectionPool
    private let workerID: String
    /// False when the worker enforces a default timeout: every job then runs alone.
    private let batching: Bool
    private let queues = Mutex(Queues())
    /// Jobs announced by ``expect(_:)`` whose own task has not called ``run(_:logger:)`` yet.
    private let expected = Mutex<[Int64: Entry]>([:])
    /// Per task: the jobs of its last claim shared out among the pool's connections, so they run
    /// in parallel batches rather than one after another.
    private let shares = Mutex<[String: Int]>([:])
    /// Per task: the plan, when it was loaded, and the recent time per job.
    private let tasks = Mutex<[String: TaskInfo]>([:])

    /// Per task: the jobs waiting for a batch, oldest first, and the jobs whose tasks drive (or
    /// were asked to drive) it.
    private struct Queues {
        var waiting: [String: [Entry]] = [:]
        var drivers: [String: Set<ObjectIdentifier>] = [:]
    }

    private struct TaskInfo {
        var plan: SQLTaskPlan?
        var loadedAt: ContinuousClock.Instant
        var perJob: Duration?
        /// When a batch of the task last failed as a whole (cancelled, connection lost).
        var failedAt: ContinuousClock.Instant?
    }

    /// How long after a batch of a task failed as a whole its batches claim no more jobs: a job
    /// claimed inside a batch that never commits counts no attempt, so one that kills its
    /// session would run again and again; claimed by a turn, its attempts count.
    static let noMoreAfterFailure: Duration = .seconds(60)

    /// Where a batch may claim more jobs of its task once its given jobs are done; nil: it may not.
    struct MoreJobs: Sendable {
        /// The worker's queues (nil: all).
        var queues: [String]?
        /// Queues it must not claim from here: those with a limit of this process's own. (Paused and
        /// capped queues `run_sql_jobs` leaves out itself.)
        var excludedQueues: [String]
    }

    /// Asked before each batch: where it may claim more jobs, or nil (stopping, tracing).
    private let moreJobs: @Sendable () -> MoreJobs?

    /// Whether the worker is cancelling its running jobs (a shutdown past its grace): only then
    /// does a cancelled job's task cancel the batch it drives, which holds other jobs too.
    private let cancellingJobs: @Sendable () -> Bool

    init(pool: ConnectionPool, workerID: String, batching: Bool,
         moreJobs: @escaping @Sendable () -> MoreJobs? = { nil }, cancellingJobs: @escaping @Sendable () -> Bool = { true }) {
        self.pool = pool
        self.workerID = workerID
        self.batching = batching
        self.moreJobs = moreJobs
        self.cancellingJobs = cancellingJobs
    }

    /// Runs one claimed job of a SQL task, alone or in a batch: its completion when the outcome
    /// is for the engine loop to record, or the state its transaction recorded.
    /// `startsRunning` is called when the job starts, if it runs alone (one to a transaction):
    /// a worker's default timeout counts from then, not from its wait for a connection.
    func run(_ job: ClaimedJob, logger: Logger, startsRunning: (@Sendable () -> Void)? = nil) async -> SQLTaskRunner.Run {
        let entry: Entry
        if let announced = expected.withLock({ $0.removeValue(forKey: job.id) }) {
            entry = announced
            entry.setStartsRunning(startsRunning)
        } else {
            entry = Entry(job, startsRunning: startsRunning)
            queues.withLock { $0.waiting[job.task, default: []].append(entry) }
            // The jobs of one claim start together: let the others join before a batch is taken.
            await Task.yield()
        }
        var drives = queues.withLock { queues -> Bool in
            let drivers = queues.drivers[job.task, default: []]
            // (One asked to drive already, before it came here, drives when it waits.)
            guard drivers.count < pool.size, !drivers.contains(ObjectIdentifier(entry)),
                  queues.waiting[job.task]?.contains(where: { $0 === entry }) == true else { return false }
            queues.drivers[job.task, default: []].insert(ObjectIdentifier(entry))
            return true
        }
        while true {
            if drives { await drive(task: job.task, own: entry, logger: logger) }
            switch await entry.next() {
            case .outcome(let outcome): return outcome
            case .drive: drives = true
            }
        }
    }

    /// Announces the SQL-task jobs of one claim before their tasks start, so that the first
    /// batch can take them all rather than those whose tasks happened to start first.
    /// Each must then be given to ``run(_:logger:)`` (by its own task).
    func expect(_ jobs: [ClaimedJob]) {
        guard batching, !jobs.isEmpty else { return }
        let entries = jobs.map { Entry($0) }
        let counts = Dictionary(jobs.map { ($0.task, 1) }, uniquingKeysWith: +)
        shares.withLock { shares in
            for (task, count) in counts { shares[task] = (count + pool.size - 1) / pool.size }
        }
        expected.withLock { for entry in entries { $0[entry.job.id] = entry } }
        queues.withLock { queues in
            for entry in entries { queues.waiting[entry.job.task, default: []].append(entry) }
        }
    }

    /// Runs `own` (if no other driver took it) in a batch with other waiting jobs of `task`, again
    /// for as long as it is deferred, then hands the driving on (``retire(task:)``).
    private func drive(task: String, own: Entry, logger: Logger) async {
        do {
            try await pool.withConnection { managed in
                while true {
                    let connection = try await managed.connection()
                    let plan = try await self.plan(for: task, on: connection)
                    let batchable = batching && plan?.kind == .function
                    let limit = batchable ? batchLimit(for: task, timeout: plan?.timeoutMilliseconds) : 1
                    let batch = take(task, own: own, limit: limit)
                    guard !batch.isEmpty else { return }
                    if !batchable {
                        let job = batch[0].job
                        var jobLogger = logger
                        jobLogger.handler.metadata.merge(
                            ["job": .stringConvertible(job.id), "task": .string(job.task), "queue": .string(job.queue)]) { $1 }
                        batch[0].startsRunning()
                        batch[0].resolve(await SQLTaskRunner.run(job, on: managed, workerID: workerID, logger: jobLogger))
                        continue
                    }
                    let deferred = await runBatch(batch, timeout: plan?.timeoutMilliseconds, on: managed, logger: logger)
                    if !deferred.isEmpty {
                        queues.withLock { $0.waiting[task, default: []].insert(contentsOf: deferred, at: 0) }
                    }
                }
            }
        } catch {
            // No connection, or no plan: this driver's own job, if no batch took it, fails; the
            // next driver tries again for the others.
            let mine = queues.withLock { queues -> Bool in
                guard let index = queues.waiting[task]?.firstIndex(where: { $0 === own }) else { return false }
                queues.waiting[task]?.remove(at: index)
                return true
            }
            if mine { own.resolve(SQLTaskRunner.Run(completion: .failure(own.job.id, error: "SQL task could not run: \(error)"))) }
        }
        retire(task: task, own: own)
    }

    /// Ends `own`'s turn to drive: the first waiting job of `task` that is not driving drives next.
    private func retire(task: String, own: Entry) {
        let next = queues.withLock { queues -> Entry? in
            var drivers = queues.drivers.removeValue(forKey: task) ?? []
            drivers.remove(ObjectIdentifier(own))
            defer { if !drivers.isEmpty { queues.drivers[task] = drivers } }
            guard drivers.count < pool.size,
                  let next = queues.waiting[task]?.first(where: { !drivers.contains(ObjectIdentifier($0)) }) else { return nil }
            drivers.insert(ObjectIdentifier(next))
            return next
        }
        next?.askToDrive()
    }

    /// Runs `batch` in one transaction. Resolves the jobs it ran; returns those it deferred
    /// (the batch ran past its budget before reaching them, or a job before them timed out).
    ///
    /// With the task's `timeout` (milliseconds), the statement's `statement_timeout` is the
    /// timeout plus the batch's budget plus ``timeoutSlack``: a job still running when it fires
    /// started within the budget, so it has run longer than its timeout, and `run_sql_jobs` fails
    /// it alone. The budget is a tenth of the timeout (at most ``budget``), so a job is stopped
    /// at most 10% (and 5 ms) past its timeout.
    private func runBatch(_ batch: [Entry], timeout: Int?, on managed: ManagedConnection, logger: Logger) async -> [Entry] {
        let started = ContinuousClock.now
        let budget = Self.budget(timeout: timeout)
        let settings = timeout.map { [(name: "statement_timeout", value: String($0 + budget + Self.timeoutSlack))] } ?? []
        var states: [Int64: String?] = [:]
        var claimedHere: [(queue: String, state: String)] = []
        let resetFailure: PQError?
        do {
            let connection = try await managed.connection()
            let task = batch[0].job.task
            let failedLately = tasks.withLock { $0[task]?.failedAt.map { .now - $0 < Self.noMoreAfterFailure } ?? false }
            // Not for a task with a timeout: the jobs it claims are recorded after its budget,
            // within the statement_timeout that holds the timeout.
            let more = failedLately || timeout != nil ? nil : moreJobs()
            // The batch and the session reset after it go out together: one round trip.
            let (rows, failure) = try await withTaskCancellationHandler {
                try await connection.queryThenResetSession(
                    "SELECT job_id, state, queue FROM pgworker.run_sql_jobs($1::bigint[], $2, $3, $4, $5::text[], $6::text[])",
                    [batch.map(\.job.id), workerID, budget, more != nil, more?.queues, more?.excludedQueues ?? []],
                    settings: settings)
            } onCancel: { [cancellingJobs, alone = batch.count == 1] in
                // A cancel request (cancel_job) for the driving job stops a batch of that job alone;
                // in a batch with others it is left to finish, since the others would fail with it.
                if alone || cancellingJobs() { connection.cancelRunningQuery() }
            }
            resetFailure = failure
            for row in rows.rows {
                let state = try row.decodeIfPresent("state", as: String.self)
                if let queue = try row.decodeIfPresent("queue", as: String.self) {
                    // Claimed and run by the batch itself (it returns their queue, and only theirs).
                    if let state { claimedHere.append((queue, state)) }
                } else {
                    states[try row.decode("job_id", as: Int64.self)] = state
                }
            }
        } catch {
            if !(await managed.invalidate(after: error)) { await SQLTaskRunner.resetSession(managed, logger: logger) }
            tasks.withLock { $0[batch[0].job.task]?.failedAt = .now }
            if let error = error as? PQError, error.sqlState == "57014", Task.isCancelled, batch.count == 1 || cancellingJobs() {
                for entry in batch { entry.resolve(SQLTaskRunner.Run(completion: .cancelledByShutdown(entry.job.id))) }
                return []
            }
            guard batch.count > 1 else {
                batch[0].resolve(SQLTaskRunner.Run(completion: .failure(batch[0].job.id, error: "SQL task could not run: \(error)")))
                return []
            }
            // The batch failed as a whole, not one of its jobs (a job that ended its own session or
            // raised query_canceled, a COMMIT that failed on a deferred constraint, a progress
            // report the table refused): nothing of it happened. Its jobs, still claimed, run
            // again one to a transaction, so that only the one to blame fails.
            logger.warning("a SQL-task batch failed as a whole; running its jobs one at a time",
                           metadata: ["task": .string(batch[0].job.task), "jobs": .stringConvertible(batch.count),
                                      "error": .string("\(error)")])
            for entry in batch {
                var jobLogger = logger
                jobLogger[metadataKey: "job"] = .stringConvertible(entry.job.id)
                entry.resolve(await SQLTaskRunner.run(entry.job, on: managed, workerID: workerID, logger: jobLogger))
            }
            return []
        }
        if let resetFailure {
            logger.warning("could not reset a SQL-task connection; closing it", metadata: ["error": "\(resetFailure)"])
            await managed.close()
        }
        var deferred: [Entry] = []
        var ran = 0
        for entry in batch {
            switch states[entry.job.id] {
            case .some("deferred"):
                deferred.append(entry)
            case .some(let state):
                ran += 1
                WorkerMetrics.sqlJobRecorded(entry.job, state: state)
                entry.resolve(SQLTaskRunner.Run(recordedState: state))
            case .none:
                // Not held by this worker any more (rescued meanwhile): nothing to record.
                entry.resolve(SQLTaskRunner.Run())
            }
        }
        if !claimedHere.isEmpty { WorkerMetrics.sqlJobsClaimedByBatch(task: batch[0].job.task, claimedHere) }
        recordTime(ContinuousClock.now - started, jobs: max(ran + claimedHere.count, 1), task: batch[0].job.task)
        return deferred
    }

    /// Takes `own`, if still waiting, and other waiting jobs of `task`, up to `limit`; none if
    /// `own` is not waiting (another driver took it).
    private func take(_ task: String, own: Entry, limit: Int) -> [Entry] {
        queues.withLock { queues in
            guard var queue = queues.waiting[task], let index = queue.firstIndex(where: { $0 === own }) else { return [] }
            var batch = [queue.remove(at: index)]
            let share = shares.withLock { $0[task] } ?? limit
            let limit = min(limit, max(share, Self.minimumShare))
            let more = min(limit - batch.count, queue.count)
            if more > 0 {
                batch += queue.prefix(more)
                queue.removeFirst(more)
            }
            queues.waiting[task] = queue.isEmpty ? nil : queue
            return batch
        }
    }

    /// The budget of a batch in milliseconds: ``budget``, or a tenth of the task's timeout if less.
    static func budget(timeout: Int?) -> Int {
        let budget = Int(Self.budget / .milliseconds(1))
        guard let timeout else { return budget }
        return min(budget, max(1, timeout / 10))
    }

    /// Added to a timed batch's `statement_timeout`: the time between the statement's arrival
    /// and its last job's start beyond the budget (a check of the clock, a few settings).
    static let timeoutSlack = 5

    /// How many jobs of `task` to run together: as many as fit the budget at their recent speed.
    func batchLimit(for task: String, timeout: Int?) -> Int {
        guard let perJob = tasks.withLock({ $0[task]?.perJob }), perJob > .zero else { return 16 }
        return max(1, min(Self.maxBatch, Int(.milliseconds(Self.budget(timeout: timeout)) / perJob)))
    }

    private func recordTime(_ duration: Duration, jobs: Int, task: String) {
        let sample = duration / jobs
        tasks.withLock { state in
            guard var info = state[task] else { return }
            info.perJob = info.perJob.map { $0 * 0.7 + sample * 0.3 } ?? sample
            state[task] = info
        }
    }

    /// The task's plan, loaded at most once a second: a task registered anew is seen within one.
    private func plan(for task: String, on connection: PQConnection) async throws -> SQLTaskPlan? {
        if let info = tasks.withLock({ $0[task] }), ContinuousClock.now - info.loadedAt < .seconds(1) {
            return info.plan
        }
        let plan = try await SQLTaskPlan.load(connection, task: task)
        tasks.withLock { state in
            state[task] = TaskInfo(plan: plan, loadedAt: .now, perJob: state[task]?.perJob, failedAt: state[task]?.failedAt)
        }
        return plan
    }

    /// One job waiting for its outcome, which any driver may provide, or for its turn to drive.
    private final class Entry: Sendable {
        let job: ClaimedJob
        private let state = Mutex(EntryState())

        private struct EntryState {
            var outcome: SQLTaskRunner.Run?
            /// Asked to drive before its task waited: it drives when it does.
            var drivePending = false
            /// Starts the job's timeout when it runs alone.
            var startsRunning: (@Sendable () -> Void)?
            var waiter: CheckedContinuation<Next, Never>?
        }

        /// What a job's task does next.
        enum Next {
            case outcome(SQLTaskRunner.Run)
            case drive
        }

        init(_ job: ClaimedJob, startsRunning: (@Sendable () -> Void)? = nil) {
            self.job = job
            state.withLock { $0.startsRunning = startsRunning }
        }

        func setStartsRunning(_ call: (@Sendable () -> Void)?) {
            state.withLock { $0.startsRunning = call }
        }

        /// Tells the job's executor that it starts now (once).
        func startsRunning() {
            let call = state.withLock { state -> (@Sendable () -> Void)? in
                defer { state.startsRunning = nil }
                return state.startsRunning
            }
            call?()
        }

        func resolve(_ outcome: SQLTaskRunner.Run) {
            let waiter = state.withLock { state -> CheckedContinuation<Next, Never>? in
                guard state.outcome == nil else { return nil }
                state.outcome = outcome
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: .outcome(outcome))
        }

        /// Tells the job's task to drive, now or when it next waits.
        func askToDrive() {
            let waiter = state.withLock { state -> CheckedContinuation<Next, Never>? in
                defer { state.waiter = nil }
                if state.waiter == nil { state.drivePending = true }
                return state.waiter
            }
            waiter?.resume(returning: .drive)
        }

        /// Waits for the job's outcome or for its turn to drive. A request to drive comes first,
        /// even if the outcome came meanwhile: the task was counted as a driver and must retire.
        func next() async -> Next {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Next? in
                    if state.drivePending {
                        state.drivePending = false
                        return .drive
                    }
                    if let outcome = state.outcome { return .outcome(outcome) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
}
