import Foundation
import Logging
import PostgresClient
import ServiceLifecycle
import Synchronization

/// Runs jobs from `pgworker.jobs`: listens for new-job notifications, claims runnable jobs with
/// `FOR UPDATE SKIP LOCKED` up to its free capacity, runs their handlers, and records every
/// outcome on the job's row.
///
/// A worker is a swift-service-lifecycle `Service`: run it in a `ServiceGroup` and SIGTERM or
/// SIGINT stop it gracefully (stop claiming, let running jobs finish within
/// ``WorkerConfiguration/shutdownGracePeriod``, then cancel what is left and record it as
/// retryable). Outside a service group, call ``stop()``. A worker runs once.
public final class Worker: Service, Sendable {
    /// This worker's id, as stored in `pgworker.workers` and `jobs.locked_by`.
    public var id: String { configuration.workerID }

    private let conninfo: String
    private let registry: TaskRegistry
    /// The registry's task names, sorted once: every claim sends them.
    private let taskNames: [String]
    private let configuration: WorkerConfiguration
    private let logger: Logger
    private let state = Mutex(EngineState())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let listenerConnection = Mutex<PostgresConnection?>(nil)
    private let runningJobs: RunningJobs
    /// Timeouts of running jobs, enforced by one timer.
    private let deadlines: JobDeadlines
    private let jobMetrics = JobMetricsCache()
    private let limitedQueues = LimitedQueues()
    private let localQueueLimits: LocalQueueLimits
    /// A trailing claim is scheduled (see ``requestTrailingClaim()``).
    private let trailingClaimPending = Mutex(false)

    /// What the engine loop and the tasks around it share.
    private struct EngineState {
        /// Set by notifications, the poll and full claims; cleared when a claim starts.
        var claimRequested = true
        /// Jobs whose handler is running.
        var running: Set<Int64> = []
        /// Outcomes not yet known to be written.
        var completions: [Completion] = []
        /// How many of `completions`, from the front, the last turn wrote in a transaction whose
        /// commit has not been confirmed yet (see ``confirmLastTurn(_:)``).
        var unconfirmed = 0
        /// The connection that turn ran on: after a reconnect its commit can no longer be confirmed.
        /// Held, not just identified, so a new connection can never take its identity.
        var unconfirmedOn: PostgresConnection?
        /// When graceful shutdown began.
        var stopRequestedAt: ContinuousClock.Instant?
        /// Set when running jobs must be cancelled (grace period over, or second signal).
        var cancelRunning = false
        /// The main connection was lost; the next successful statement logs the recovery.
        var disconnected = false
        /// The latest a turn that waits for running jobs may start (see ``turnIsDue()``).
        var batchDeadline: ContinuousClock.Instant?
    }

    /// While jobs still run, a turn waits for them, since claiming the whole free capacity costs
    /// the database little more than claiming one job (a round trip and a commit each); but no
    /// longer than this after the loop learnt of the first outcome or free slot.
    static let batchingDelay: Duration = .milliseconds(2)

    /// Creates a worker.
    ///
    /// - Parameters:
    ///   - conninfo: a `postgresql://` URL or libpq connection string.
    ///   - tasks: the Swift and command handlers this worker runs. Registered SQL tasks run too
    ///     unless ``WorkerConfiguration/handlesSQLTasks`` is off.
    public init(conninfo: String, tasks: TaskRegistry, configuration: WorkerConfiguration = WorkerConfiguration(),
                logger: Logger = Logger(label: "pgworker")) {
        self.conninfo = conninfo
        self.registry = tasks
        self.taskNames = tasks.taskNames
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "worker"] = .string(configuration.workerID)
        self.logger = logger
        localQueueLimits = LocalQueueLimits(configuration.queueLimits)
        let runningJobs = RunningJobs()
        self.runningJobs = runningJobs
        deadlines = JobDeadlines { runningJobs.cancel($0) }
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Begins a graceful stop: no new claims; running jobs get the grace period to finish.
    /// Calling it again cancels the running jobs at once.
    public func stop() {
        let again = state.withLock { state -> Bool in
            if state.stopRequestedAt != nil {
                state.cancelRunning = true
                return true
            }
            state.stopRequestedAt = .now
            return false
        }
        logger.info(again ? "stop requested again: cancelling running jobs" : "stopping: no new jobs will be claimed")
        listenerConnection.withLock { $0 }?.interruptWait()
        wake.yield()
    }

    /// Runs until stopped. Throws only when it cannot start: the database is unreachable or not
    /// migrated. Once running, lost connections are retried, never fatal.
    public func run() async throws {
        let main = ManagedConnection(conninfo: conninfo, name: "worker", preparedStatements: configuration.usesPreparedStatements)
        let connection = try await main.connection()
        try await Migrator(connection: connection).requireCurrent()
        try await registerSelf(connection)
        logger.info("worker started", metadata: [
            "tasks": .string(taskNames.joined(separator: ",")),
            "concurrency": .stringConvertible(configuration.concurrency),
            "sql_tasks": .stringConvertible(configuration.handlesSQLTasks),
        ])
        let sqlPool = ConnectionPool(conninfo: conninfo, size: configuration.sqlConnections, name: "sql-task", preparedStatements: configuration.usesPreparedStatements)

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if configuration.listen {
                    group.addTask { await self.listenForNotifications() }
                }
                group.addTask { await self.pollAndWatchShutdown() }
                group.addTask { await self.heartbeat(main) }
                // Chores and cron share the main connection: their statements are short, and a worker
                // then needs only two connections (plus SQL-task ones) however many features it runs.
                group.addTask { [configuration, runningJobs, limitedQueues, logger] in
                    await WorkerMaintenance(connection: main, configuration: configuration, runningJobs: runningJobs,
                                            limitedQueues: limitedQueues, logger: logger).run()
                }
                if configuration.runsSchedules {
                    group.addTask { [logger] in await CronScheduler(connection: main, logger: logger).run() }
                }
                for await _ in wakeups {
                    if state.withLock({ $0.cancelRunning }) { break }
                    if turnIsDue() {
                        let jobs = await step(main)
                        runningJobs.start(jobs) { job in await self.execute(job, sqlPool: sqlPool) }
                    }
                    if isFinished() { break }
                }
                // Cancels background loops and, after the grace period or a second signal, running jobs;
                // cancelled jobs record their outcome before waitForAll returns.
                group.cancelAll()
                runningJobs.cancelAll()
                listenerConnection.withLock { $0 }?.interruptWait()
                await runningJobs.waitForAll()
                deadlines.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        await finish(main)
        await sqlPool.close()
        await main.close()
        logger.info("worker stopped")
    }

    // MARK: - The engine loop

    /// Whether the loop should take a turn now: there is an outcome to write or room to claim
    /// into, and either no job is running, the worker is stopping, or ``batchingDelay`` has passed
    /// (a timer wakes the loop then).
    private func turnIsDue() -> Bool {
        let now = ContinuousClock.now
        let (due, armTimer) = state.withLock { state -> (Bool, Bool) in
            let free = configuration.concurrency - state.running.count
            let claims = state.claimRequested && state.stopRequestedAt == nil && free > 0
            guard claims || !state.completions.isEmpty else { return (false, false) }
            if state.running.isEmpty || state.stopRequestedAt != nil || state.batchDeadline.map({ $0 <= now }) == true {
                state.batchDeadline = nil
                return (true, false)
            }
            if state.batchDeadline != nil { return (false, false) }
            state.batchDeadline = now + Self.batchingDelay
            return (false, true)
        }
        if armTimer {
            Task { [wake] in
                try? await Task.sleep(for: Self.batchingDelay)
                wake.yield()
            }
        }
        return due
    }

    /// One turn: write finished outcomes and claim as many jobs as there is room for, in one
    /// round trip when there are both.
    private func step(_ main: ManagedConnection) async -> [ClaimedJob] {
        do {
            let connection = try await main.connection()
            try await confirmLastTurn(connection)
            // Outcomes stay in the state until written, so a reconnect in between (which gives back
            // every running job this worker does not know of) still knows them.
            let batch = state.withLock { $0.completions }
            let (wanted, free) = state.withLock { state in
                let free = configuration.concurrency - state.running.count
                let wanted = state.claimRequested && state.stopRequestedAt == nil && free > 0
                if wanted { state.claimRequested = false }
                return (wanted, free)
            }
            var jobs: [ClaimedJob] = []
            if wanted && !batch.isEmpty {
                do {
                    jobs = try await JobStatements.completeAndClaim(
                        connection, workerID: id, batch, tasks: taskNames, queues: configuration.queues,
                        limit: free, includeSQLTasks: configuration.handlesSQLTasks, localRoom: localQueueLimits.roomJSON())
                    state.withLock { state in
                        state.unconfirmed = batch.count
                        state.unconfirmedOn = connection
                    }
                } catch let error as PostgresError where error.kind == .server && !error.isConnectionLoss {
                    // The server rejected the batch (nothing was written or claimed): write it the careful way.
                    try await write(batch, main)
                    state.withLock { $0.completions.removeFirst(batch.count) }
                    jobs = try await claim(connection, limit: free)
                }
            } else {
                if !batch.isEmpty {
                    try await write(batch, main)
                    state.withLock { $0.completions.removeFirst(batch.count) }
                }
                guard wanted else { return [] }
                jobs = try await claim(connection, limit: free)
            }
            if jobs.contains(where: needsCommittedClaim), try await !confirmLastTurn(connection) {
                return []
            }
            let claimed = jobs.count
            // A job can still be running here from a claim that failed to commit, or have finished
            // with its outcome not yet written: it is not started again, and that run's outcome
            // is written against this claim.
            jobs = state.withLock { state in
                let unwritten = Set(state.completions.dropFirst(state.unconfirmed).map(\.jobID))
                return jobs.filter { !state.running.contains($0.id) && !unwritten.contains($0.id) }
            }
            localQueueLimits.claimed(jobs)
            let full = state.withLock { state in
                for job in jobs { state.running.insert(job.id) }
                if claimed == free { state.claimRequested = true }
                return state.claimRequested && state.running.count < configuration.concurrency
            }
            if noteConnected() { await reconcileAfterReconnect(connection) }
            if full { wake.yield() }
            return jobs
        } catch {
            state.withLock { $0.claimRequested = true }
            if let error = error as? PostgresError, error.kind == .decoding || error.kind == .usage,
               let connection = try? await main.connection() {
                // Claimed rows came back that this worker cannot read: it holds jobs it does not
                // know. Give them back.
                await reconcileAfterReconnect(connection)
            }
            await recover(from: error, main)
            return []
        }
    }

    /// A turn's claimed rows come back before its transaction commits, so its jobs start during
    /// the commit's WAL flush (`queryPreparedBeforeCommit`). This waits for that commit: only then
    /// do the outcomes the turn wrote leave `completions`. If it failed, nothing of the turn
    /// happened: its outcomes are written again, and its claims never took effect. A job that
    /// started anyway is claimed again, here or by another worker. Claimed here while it still
    /// runs, ``step(_:)`` does not start it a second time, and that run's outcome counts for the
    /// new claim; otherwise it runs again (the at-least-once contract every job has).
    ///
    /// Returns whether the turn committed (true also when there was nothing to confirm); throws
    /// when the connection was lost, and the commit's outcome is unknown.
    @discardableResult
    private func confirmLastTurn(_ connection: PostgresConnection) async throws -> Bool {
        do {
            try await connection.confirmCommit()
            state.withLock { state in
                // On another connection the outcome is unknown: write the outcomes again (a
                // second write of an outcome changes nothing).
                if state.unconfirmedOn === connection {
                    state.completions.removeFirst(state.unconfirmed)
                }
                state.unconfirmed = 0
                state.unconfirmedOn = nil
            }
            return true
        } catch {
            state.withLock { state in
                state.unconfirmed = 0
                state.unconfirmedOn = nil
            }
            if let error = error as? PostgresError, error.isConnectionLoss { throw error }
            logger.error("a turn's transaction failed to commit: its claims did not happen, and its jobs will be claimed again",
                         metadata: ["error": "\(error)"])
            // Its jobs are runnable again: claim them without waiting for a notification.
            state.withLock { $0.claimRequested = true }
            wake.yield()
            return false
        }
    }

    /// Whether a job may start only once its claim has committed: SQL tasks and handlers that
    /// ask for it, and jobs whose claim other workers must see before they run -- a lock-key job
    /// (no other job of its key may start meanwhile) or one of a queue with a running cap.
    private func needsCommittedClaim(_ job: ClaimedJob) -> Bool {
        guard let handler = registry.handler(for: job.task) else { return true }
        return handler.needsCommittedClaim || job.hasLockKey || limitedQueues.contains(job.queue)
    }

    private func claim(_ connection: PostgresConnection, limit: Int) async throws -> [ClaimedJob] {
        try await JobStatements.claim(
            connection, workerID: id, tasks: taskNames, queues: configuration.queues,
            limit: limit, includeSQLTasks: configuration.handlesSQLTasks, localRoom: localQueueLimits.roomJSON())
    }

    /// Writes outcomes in one statement; if the batch is rejected (a value PostgreSQL cannot
    /// store, say), writes them one by one so one bad outcome cannot block the rest.
    private func write(_ batch: [Completion], _ main: ManagedConnection) async throws {
        let connection = try await main.connection()
        do {
            try await JobStatements.complete(connection, workerID: id, batch)
            return
        } catch let error as PostgresError where !error.isConnectionLoss && batch.count > 1 {
            logger.warning("batch of outcomes rejected, writing them one by one", metadata: ["error": "\(error)"])
        } catch let error as PostgresError where !error.isConnectionLoss {
            try await writeUnrecordable(batch[0], error, connection)
            return
        }
        for completion in batch {
            do {
                try await JobStatements.complete(connection, workerID: id, [completion])
            } catch let error as PostgresError where !error.isConnectionLoss {
                try await writeUnrecordable(completion, error, connection)
            }
        }
    }

    /// Records that an outcome could not be stored, so the job does not stay `running`.
    private func writeUnrecordable(_ completion: Completion, _ error: PostgresError, _ connection: PostgresConnection) async throws {
        logger.error("could not record a job's outcome", metadata: ["job": "\(completion.jobID)", "error": "\(error)"])
        try await JobStatements.complete(connection, workerID: id, [
            .failure(completion.jobID, error: "pgworker could not record this attempt's outcome: \(error)"),
        ])
    }

    /// After a failed statement: on a lost connection, wait with capped exponential backoff, then
    /// let the next turn reconnect. Other errors are logged and retried after a poll interval.
    private func recover(from error: any Error, _ main: ManagedConnection) async {
        let lost = await main.invalidate(after: error)
        let attempt = state.withLock { state -> Int in
            defer { if lost { state.disconnected = true } }
            return state.disconnected ? 1 : 0
        }
        if lost {
            if attempt == 0 { WorkerMetrics.connectionLost("main") }
            if attempt == 0 { logger.warning("lost the database connection; reconnecting", metadata: ["error": "\(error)"]) }
        } else {
            logger.error("worker statement failed; retrying", metadata: ["error": "\(error)"])
        }
        let delay = reconnectBackoff.next()
        try? await Task.sleep(for: delay)
        wake.yield()
    }

    private let reconnectBackoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10))

    /// Logs the recovery once after a lost connection; returns whether the connection was just restored.
    @discardableResult
    private func noteConnected() -> Bool {
        let recovered = state.withLock { state -> Bool in
            defer { state.disconnected = false }
            return state.disconnected
        }
        if recovered {
            reconnectBackoff.reset()
            logger.notice("database connection restored")
        }
        return recovered
    }

    /// After a restored connection: re-registers and gives back jobs a lost claim reply left with
    /// this worker. Runs in the engine loop, the only code that claims and writes, so there
    /// `running` + `completions` is exactly what this worker holds. On failure the next turn retries.
    private func reconcileAfterReconnect(_ connection: PostgresConnection) async {
        do {
            try await registerSelf(connection)
        } catch {
            state.withLock { $0.disconnected = true }
        }
    }

    private func isFinished() -> Bool {
        state.withLock { $0.stopRequestedAt != nil && $0.running.isEmpty && $0.completions.isEmpty }
    }

    /// Registers this worker and gives back any job a previous connection claimed without our
    /// knowing (a claim whose reply was lost).
    private func registerSelf(_ connection: PostgresConnection, releasingUnknownJobs: Bool = true) async throws {
        try await JobStatements.register(
            connection, workerID: id, host: ProcessInfo.processInfo.hostName,
            pid: ProcessInfo.processInfo.processIdentifier, tasks: taskNames,
            queues: configuration.queues, handlesSQLTasks: configuration.handlesSQLTasks)
        // Only the engine loop may release: elsewhere a claim or a write may be in flight, and its
        // jobs are in neither set (releasing them would run them twice).
        guard releasingUnknownJobs else { return }
        let known = state.withLock { Array($0.running) + $0.completions.map(\.jobID) }
        let released = try await JobStatements.release(connection, workerID: id, keeping: known)
        if !released.isEmpty {
            logger.notice("gave back jobs claimed while the connection was failing", metadata: ["jobs": "\(released)"])
        }
    }

    /// Writes what is left after the loop ends, gives back anything still held, and deregisters.
    private func finish(_ main: ManagedConnection) async {
        for attempt in 1...5 {
            do {
                try await confirmLastTurn(try await main.connection())
                let batch = state.withLock { $0.completions }
                if !batch.isEmpty {
                    try await write(batch, main)
                    state.withLock { $0.completions.removeFirst(batch.count) }
                }
                let connection = try await main.connection()
                try await JobStatements.release(connection, workerID: id, keeping: [])
                try await JobStatements.deregister(connection, workerID: id)
                return
            } catch {
                await main.invalidate(after: error)
                logger.warning("could not record final outcomes (attempt \(attempt) of 5)", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        logger.error("gave up recording final outcomes; the jobs will be rescued once this worker's heartbeat is stale")
    }

    // MARK: - Running one job

    /// Runs one job in its own task (see ``RunningJobs``) and queues its outcome.
    private func execute(_ job: ClaimedJob, sqlPool: ConnectionPool) async {
        let context = JobContext(id: job.id, task: job.task, queue: job.queue, payload: job.payload,
                                 attempt: job.attempt, maxAttempts: job.maxAttempts, logger: logger)
        let metrics = jobMetrics.metrics(for: job)
        let started = ContinuousClock.now
        WorkerMetrics.jobStarted(job, metrics, inFlight: jobMetrics.inFlight)
        let timeout = registry.timeout(for: job.task) ?? configuration.defaultTimeout
        if let timeout { deadlines.start(job.id, timeout: timeout) }
        var completion: Completion?
        if let handler = registry.handler(for: job.task) {
            completion = await runHandler(handler, context)
        } else {
            completion = await SQLTaskRunner(pool: sqlPool, workerID: id).run(job, logger: context.logger)
        }
        if let timeout, deadlines.finish(job.id) {
            completion = .failure(job.id, error: "timed out after \(formatSeconds(timeout)) and was cancelled")
        }
        let duration = ContinuousClock.now - started
        WorkerMetrics.jobFinished(job, completion, after: duration, metrics, inFlight: jobMetrics.inFlight)
        // Metadata as autoclosures: built only when the level is enabled.
        let milliseconds = Logger.MetadataValue.stringConvertible(Int(duration / .milliseconds(1)))
        if let completion, !completion.succeeded {
            logger.info("job attempt failed", metadata: context.metadata.merging([
                "error": .string(completion.error ?? ""), "ms": milliseconds,
            ]) { $1 })
        } else if completion != nil {
            logger.info("job succeeded", metadata: context.metadata.merging(["ms": milliseconds]) { $1 })
        } else {
            logger.info("SQL job finished", metadata: context.metadata.merging(["ms": milliseconds]) { $1 })
        }
        let freedLimitedSlot = localQueueLimits.finished(job.queue) || limitedQueues.contains(job.queue)
        let wakeLoop = state.withLock { state -> Bool in
            state.running.remove(job.id)
            if let completion { state.completions.append(completion) }
            if freedLimitedSlot { state.claimRequested = true }
            // Otherwise the loop is already waiting for the batching timer or the last running job.
            return state.batchDeadline == nil || state.running.isEmpty || state.stopRequestedAt != nil
        }
        runningJobs.ended(job.id)
        if wakeLoop { wake.yield() }
    }

    private func runHandler(_ handler: any TaskHandler, _ context: JobContext) async -> Completion {
        do {
            // A handler that returned finished its work, even if cancellation came meanwhile:
            // recording it as cancelled would run it again.
            let result = try await handler.handle(context)
            if let result, !isStorableJSON(result) {
                return .failure(context.id, error: "handler returned a result that is not valid JSON: \(result.prefix(200))")
            }
            return .success(context.id, result: result)
        } catch let failure as JobFailure {
            if Task.isCancelled { return .cancelledByShutdown(context.id) }
            return .failure(context.id, error: sanitizedText(Array(failure.message.utf8)), discard: failure.discard)
        } catch is CancellationError {
            return .cancelledByShutdown(context.id)
        } catch {
            return .failure(context.id, error: sanitizedText(Array(String(describing: error).utf8)))
        }
    }

    // MARK: - Background loops

    /// Keeps one connection LISTENing; every relevant notification requests a claim. After each
    /// (re)connect it requests a sweep, since notifications sent while disconnected are lost.
    private func listenForNotifications() async {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(10))
        var failing = false
        while !Task.isCancelled && !isStopping() {
            do {
                let connection = try await PostgresConnection.connect(configuration.listenConninfo ?? conninfo, name: "listener")
                listenerConnection.withLock { $0 = connection }
                defer { listenerConnection.withLock { $0 = nil } }
                try await connection.listen("pgworker_jobs")
                try await connection.listen("pgworker_cancel")
                if failing { logger.notice("listening for notifications again") }
                failing = false
                backoff.reset()
                requestClaim()
                while !Task.isCancelled && !isStopping() {
                    let notifications = try await withTaskCancellationHandler {
                        try await connection.waitForNotifications(timeout: .seconds(60))
                    } onCancel: {
                        connection.interruptWait()
                    }
                    WorkerMetrics.notificationsReceived(notifications.count)
                    if notifications.contains(where: { $0.channel == "pgworker_jobs" && isRelevant(queue: $0.payload) }) {
                        requestClaim()
                        requestTrailingClaim()
                    }
                    runningJobs.cancel(notifications.filter { $0.channel == "pgworker_cancel" }.compactMap { Int64($0.payload) })
                }
                await connection.close()
            } catch {
                if Task.isCancelled || isStopping() { return }
                if !failing {
                    WorkerMetrics.connectionLost("listener")
                    logger.warning("listener lost its connection; polling until it is back", metadata: ["error": "\(error)"])
                }
                failing = true
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    private func isRelevant(queue: String) -> Bool {
        guard let queues = configuration.queues else { return true }
        return queue.isEmpty || queues.contains(queue)
    }

    /// The fallback poll; also cancels running jobs once the shutdown grace period is over.
    private func pollAndWatchShutdown() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.pollInterval)
            let graceOver = state.withLock { state -> Bool in
                if let since = state.stopRequestedAt, !state.cancelRunning,
                   ContinuousClock.now - since >= configuration.shutdownGracePeriod {
                    state.cancelRunning = true
                    return true
                }
                return false
            }
            if graceOver { logger.warning("shutdown grace period is over: cancelling running jobs") }
            WorkerMetrics.polled()
            requestClaim()
        }
    }

    /// Records that this worker is alive, and rescues the jobs of workers that are not.
    private func heartbeat(_ main: ManagedConnection) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            if Task.isCancelled { return }
            do {
                let connection = try await main.connection()
                try await registerSelf(connection, releasingUnknownJobs: false)
                let rescued = try await JobStatements.rescue(connection, staleAfter: configuration.staleAfter)
                if !rescued.isEmpty {
                    logger.notice("rescued jobs from workers that stopped heartbeating", metadata: ["jobs": "\(rescued)"])
                    requestClaim()
                }
            } catch {
                // Only the engine loop drops and reopens the main connection (so a reconnect never
                // races a claim); the poll makes it notice a dead connection within a poll interval.
                logger.debug("heartbeat failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Claims again shortly after a notification. An enqueuer skips notifying while another
    /// transaction is about to notify the same queue (SQL/001), so jobs committed just after that
    /// notification bring none of their own; these two looks catch them without waiting for the poll.
    private func requestTrailingClaim() {
        let schedule = trailingClaimPending.withLock { pending in
            defer { pending = true }
            return !pending
        }
        guard schedule else { return }
        Task {
            try? await Task.sleep(for: .milliseconds(15))
            trailingClaimPending.withLock { $0 = false }
            requestClaim()
            try? await Task.sleep(for: .milliseconds(235))
            requestClaim()
        }
    }

    private func requestClaim() {
        state.withLock { $0.claimRequested = true }
        wake.yield()
    }

    private func isStopping() -> Bool {
        state.withLock { $0.stopRequestedAt != nil }
    }
}

/// "1.5 s", "30 s".
func formatSeconds(_ duration: Duration) -> String {
    let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.3g s", seconds)
}

/// True when PostgreSQL's jsonb accepts the text.
func isStorableJSON(_ text: String) -> Bool {
    guard !text.contains("\\u0000"), !text.contains("\u{0}") else { return false }
    return (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
}
