import Logging
import PQClient
import ServiceLifecycle

/// Runs jobs from `pgworker.jobs`: listens for new-job notifications, claims runnable jobs with
/// `FOR UPDATE SKIP LOCKED` up to its free capacity, runs their handlers, and records every
/// outcome on the job's row.
///
/// A worker is a swift-service-lifecycle `Service`: run it in a `ServiceGroup` and SIGTERM or
/// SIGINT stop it gracefully (stop claiming, let running jobs finish within
/// ``WorkerConfiguration/shutdownGracePeriod``, then cancel what is left and record it as
/// retryable). Outside a service group, call ``stop()``. A worker runs once.
///
/// It is made of parts that each do one thing (see docs/architecture.md): the turn loop
/// (``Producer``, paced by ``TurnPacer``), the outcome writer (``Completer``), the listener
/// (``Notifier``), the poll (``Poller``), liveness (``Heartbeat``), the job runner
/// (``JobExecutor``), and the final flush (``FinalFlush``).
public final class Worker: Service, Sendable {
    /// This worker's id, as stored in `pgworker.workers` and `jobs.locked_by`.
    public var id: String { configuration.workerID }

    private let configuration: WorkerConfiguration
    private let logger: Logger
    private let taskNames: [String]
    private let main: ManagedConnection
    private let floorRewinder: FloorRewinder
    private let sqlPool: ConnectionPool
    private let state: EngineState
    private let shutdown = ShutdownState()
    private let progress: WorkerProgress
    private let claimTurnTimes: ClaimTurnTimes
    private let runningJobs: RunningJobs
    private let deadlines: JobDeadlines
    private let limitedQueues = LimitedQueues()
    private let registration: WorkerRegistration
    private let pacer: TurnPacer
    private let trailingClaims: TrailingClaims
    private let producer: Producer
    private let executor: JobExecutor
    private let progressWriter: JobProgressWriter
    private let notifier: Notifier
    private let finalFlush: FinalFlush
    private let handlers: [any TaskHandler]

    /// Creates a worker.
    ///
    /// - Parameters:
    ///   - conninfo: a `postgresql://` URL or libpq connection string.
    ///   - tasks: the Swift and command handlers this worker runs. Registered SQL tasks run too
    ///     unless ``WorkerConfiguration/handlesSQLTasks`` is off.
    ///   - configuration: how it runs.
    ///   - logger: where it logs; every line carries the worker's id.
    public init(conninfo: String, tasks: TaskRegistry, configuration: WorkerConfiguration = WorkerConfiguration(),
                logger: Logger = Logger(label: "pgworker")) {
        var logger = logger
        logger[metadataKey: "worker"] = .string(configuration.workerID)
        self.configuration = configuration
        self.logger = logger
        let workerID = configuration.workerID
        let taskNames = tasks.taskNames
        self.taskNames = taskNames
        handlers = tasks.handlers
        main = ManagedConnection(conninfo: conninfo, name: "worker", preparedStatements: configuration.usesPreparedStatements)
        floorRewinder = FloorRewinder(conninfo: conninfo, taskNames: taskNames,
                                      includeSQLTasks: configuration.handlesSQLTasks, logger: logger)
        sqlPool = ConnectionPool(conninfo: conninfo, size: configuration.sqlConnections, name: "sql-task",
                                 preparedStatements: configuration.usesPreparedStatements)
        progress = WorkerProgress(needsListener: configuration.listen)
        state = EngineState(progress: progress)
        let runningJobs = RunningJobs()
        self.runningJobs = runningJobs
        deadlines = JobDeadlines { runningJobs.cancel($0) }
        let localQueueLimits = LocalQueueLimits(configuration.queueLimits)
        registration = WorkerRegistration(workerID: workerID, taskNames: taskNames, configuration: configuration,
                                          state: state, logger: logger)
        pacer = TurnPacer(state: state, shutdown: shutdown, concurrency: configuration.concurrency)
        trailingClaims = TrailingClaims(state: state)
        let completer = Completer(workerID: workerID, logger: logger)
        let claimTurnTimes = ClaimTurnTimes()
        self.claimTurnTimes = claimTurnTimes
        producer = Producer(
            workerID: workerID, taskNames: taskNames, configuration: configuration, registry: tasks, main: main,
            state: state, shutdown: shutdown, pacer: pacer, completer: completer, registration: registration,
            recovery: ConnectionRecovery(state: state, logger: logger), limitedQueues: limitedQueues,
            localQueueLimits: localQueueLimits, progress: progress, claimTurnTimes: claimTurnTimes, logger: logger)
        let progressWriter = JobProgressWriter(workerID: workerID, connection: main,
                                               interval: configuration.progressInterval, logger: logger)
        self.progressWriter = progressWriter
        executor = JobExecutor(
            workerID: workerID, registry: tasks, configuration: configuration,
            sqlTasks: SQLTaskBatcher(
                pool: sqlPool, workerID: workerID, batching: configuration.defaultTimeout == nil,
                moreJobs: { [shutdown, configuration] in
                    // A job claimed inside a batch has no span of its own: with a tracer, none is.
                    guard !shutdown.isStopping, JobTracing.active() == nil else { return nil }
                    return SQLTaskBatcher.MoreJobs(queues: configuration.queues, excludedQueues: localQueueLimits.limitedQueues)
                },
                cancellingJobs: { [shutdown] in shutdown.cancelsRunningJobs }),
            state: state,
            shutdown: shutdown, runningJobs: runningJobs, deadlines: deadlines, jobMetrics: JobMetricsCache(),
            limitedQueues: limitedQueues, localQueueLimits: localQueueLimits, progressWriter: progressWriter,
            reportProgress: { progressWriter.report($0, fraction: $1, message: $2) }, logger: logger)
        notifier = Notifier(
            conninfo: configuration.listenConninfo ?? conninfo, queues: configuration.queues, state: state,
            shutdown: shutdown, trailingClaims: trailingClaims, runningJobs: runningJobs, progress: progress, logger: logger)
        finalFlush = FinalFlush(workerID: workerID, main: main, producer: producer, completer: completer,
                                state: state, logger: logger)
    }

    /// Begins a graceful stop: no new claims; running jobs get the grace period to finish.
    /// Calling it again cancels the running jobs at once.
    public func stop() {
        let again = shutdown.requestStop()
        logger.info(again ? "stop requested again: cancelling running jobs" : "stopping: no new jobs will be claimed")
        if !again { for handler in handlers { handler.workerStopping() } }
        notifier.interrupt()
        state.wakeLoop()
    }

    /// Whether ``stop()`` was called, or the service group began a graceful shutdown.
    public var isStopping: Bool { shutdown.isStopping }

    /// Runs until stopped. Throws only when it cannot start: the database is unreachable or not
    /// migrated. Once running, lost connections are retried, never fatal.
    ///
    /// Each attempt gets a span when a tracer is active as this starts: one bound with
    /// `withTracer`, or the one bootstrapped in `InstrumentationSystem` (docs/tracing.md).
    public func run() async throws {
        defer { progress.ended() }
        let connection = try await main.connection()
        try await Migrator(connection: connection).requireCurrent()
        try await registration.registerAndReleaseUnknownJobs(connection)
        progress.registered()
        logger.info("worker started", metadata: [
            "tasks": .string(taskNames.joined(separator: ",")),
            "concurrency": .stringConvertible(configuration.concurrency),
            "sql_tasks": .stringConvertible(configuration.handlesSQLTasks),
        ])

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                if configuration.listen {
                    group.addTask { await self.notifier.run() }
                }
                group.addTask { [configuration, state, shutdown, logger] in
                    await Poller(configuration: configuration, state: state, shutdown: shutdown, logger: logger).run()
                }
                group.addTask { [configuration, main, registration, state, claimTurnTimes, logger] in
                    await Heartbeat(configuration: configuration, main: main, registration: registration,
                                    state: state, claimTurnTimes: claimTurnTimes, logger: logger).run()
                }
                group.addTask { await self.pacer.runBatchingTimer() }
                group.addTask { await self.deadlines.run() }
                group.addTask { await self.progressWriter.run() }
                group.addTask { await self.trailingClaims.run() }
                // Chores and cron share the main connection: their statements are short, and a worker
                // then needs only two connections (plus SQL-task ones) however many features it runs.
                group.addTask { [main, configuration, runningJobs, limitedQueues, logger, progress] in
                    await WorkerMaintenance(connection: main, configuration: configuration, runningJobs: runningJobs,
                                            limitedQueues: limitedQueues, logger: logger, progress: progress).run()
                }
                if configuration.runsSchedules {
                    group.addTask { [main, logger] in await CronScheduler(connection: main, logger: logger).run() }
                }
                group.addTask { [floorRewinder] in await floorRewinder.run() }
                // Read once: with no tracer, running a job costs no tracing call at all.
                let tracing = JobTracing.active()
                await producer.run { jobs in
                    executor.sqlTasks.expect(jobs.filter { executor.registry.handler(for: $0.task) == nil })
                    runningJobs.start(jobs) { job in await self.executor.execute(job, tracing: tracing) }
                }
                // Cancels background loops and, after the grace period or a second signal, running jobs;
                // cancelled jobs record their outcome before waitForAll returns.
                group.cancelAll()
                runningJobs.cancelAll()
                notifier.interrupt()
                await runningJobs.waitForAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        await finalFlush.run()
        for handler in handlers { await handler.workerStopped() }
        await sqlPool.close()
        await main.close()
        logger.info("worker stopped")
    }

    // MARK: - Observing progress

    /// Returns once the worker is ready for work: it has registered its row, has read which
    /// queues have a running cap, and, unless ``WorkerConfiguration/listen`` is off, its listener
    /// is LISTENing, so a job enqueued from now on wakes it. Throws ``WorkerStoppedError`` if the worker stops or fails to start first.
    public func waitUntilReady() async throws {
        try await progress.waitUntilReady()
    }

    /// How many claim turns have begun (a claim turn writes pending outcomes and claims).
    public var claimTurnsBegun: Int { progress.claimTurnsBegun }

    /// The latest completed claim turn, if any.
    public var lastClaimTurn: ClaimTurnReport? { progress.lastClaimTurn }

    /// Asks for a claim turn and returns its report once a claim turn that began after this call
    /// has completed. That turn's claim saw everything committed before the call: if it started
    /// nothing, no job this worker may run was due then. Waits while the worker has no free slot.
    /// Throws ``WorkerStoppedError`` if the worker stops first.
    public func claimTurn() async throws -> ClaimTurnReport {
        let number = progress.claimTurnsBegun + 1
        state.requestClaim()
        return try await progress.waitForClaimTurn(number)
    }

    /// Returns the report of claim turn `number` (or of a later one) once it has completed; see
    /// ``claimTurnsBegun``. Throws ``WorkerStoppedError`` if the worker stops first.
    public func waitForClaimTurn(_ number: Int) async throws -> ClaimTurnReport {
        try await progress.waitForClaimTurn(number)
    }

    /// Returns once no job is running. Throws ``WorkerStoppedError`` if the worker stops first.
    public func waitUntilNoJobsRun() async throws {
        try await progress.waitUntilNoJobsRun()
    }
}
