import ArgumentParser
import Logging
import PGWorker
import ServiceLifecycle

/// `pgworker bench-worker` (hidden): one worker process for `pgworker bench`, running a no-op
/// (or sleeping) Swift handler, or a command task, until SIGTERM.
struct BenchWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-worker",
        abstract: "A worker process started by `pgworker bench`; not for direct use.",
        shouldDisplay: false
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "The task this worker handles.")
    var task: String = "bench_noop"

    @Option(help: "Jobs run at once.")
    var concurrency: Int = 100

    @Option(help: "How long each job sleeps, in milliseconds (0: a no-op).")
    var sleepMs: Int = 0

    @Option(help: "Run this shell command for each job (a command task) instead of the Swift handler.")
    var command: String?

    @Flag(help: "With --command: one long-lived program runs the jobs over the line protocol.")
    var persistent = false

    @Option(help: "With --persistent: copies of the program.")
    var copies: Int = 1

    @Option(help: "With --persistent: jobs given to one copy before it answers the first.")
    var pipeline: Int = 1

    @Flag(help: "Register no handler: the task is a SQL task registered in the database, run with the stock settings.")
    var sqlTask = false

    @Flag(help: "Do not LISTEN; find jobs by polling only.")
    var noListen = false

    @Option(help: "Seconds between fallback polls.")
    var pollInterval: Double = 1

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard sleepMs >= 0 else { throw ValidationError("--sleep-ms must not be negative") }
    }

    func run() async throws {
        var logger = database.bootstrapLogging()
        logger.logLevel = .warning
        let (conninfo, _) = try await database.resolve()
        var tasks = TaskRegistry()
        if sqlTask {
            // No Swift handler: the worker runs the registered SQL task.
        } else if let command, persistent {
            tasks.register(task, handler: PersistentCommandTask(name: task, command: command, copies: copies,
                                                                 pipeline: pipeline, logger: logger))
        } else if let command {
            tasks.register(task, handler: CommandTask(command: command))
        } else {
            tasks.register(task, handler: BenchHandler(duration: .milliseconds(sleepMs)))
        }
        var configuration = WorkerConfiguration()
        configuration.concurrency = concurrency
        configuration.handlesSQLTasks = sqlTask
        configuration.sqlConnections = sqlTask ? WorkerConfiguration().sqlConnections : 1
        configuration.shutdownGracePeriod = .seconds(10)
        configuration.listen = !noListen
        configuration.pollInterval = .milliseconds(Int(pollInterval * 1000))
        let worker = Worker(conninfo: conninfo, tasks: tasks, configuration: configuration, logger: logger)
        try await ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )).run()
    }
}
