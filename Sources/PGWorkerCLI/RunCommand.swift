import ArgumentParser
import Logging
import PGWorker
import PostgresClient
import ServiceLifecycle
import UnixSignals

/// `pgworker run`: processes jobs until SIGTERM or SIGINT.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a worker: registered SQL tasks, plus command tasks given with --task.",
        discussion: """
            Each --task NAME='shell command' makes NAME a command task: every job runs the command through \
            /bin/sh -c with the payload as JSON on stdin; exit status 0 is success and stdout is the result.
            SIGTERM or SIGINT stops claiming and lets running jobs finish within --shutdown-grace seconds; \
            a second signal cancels them.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(name: .customLong("task"), help: "A command task, NAME='shell command' (repeatable).")
    var tasks: [CommandTaskOption] = []

    @Option(help: "Jobs run at once.")
    var concurrency: Int = 10

    @Option(name: .customLong("queue"), help: "Only take jobs from this queue (repeatable; default all).")
    var queues: [String] = []

    @Option(name: .customLong("queue-limit"), help: "At most N jobs of a queue at once in this process, QUEUE=N (repeatable).")
    var queueLimits: [QueueLimitOption] = []

    @Option(help: "Seconds between fallback polls for due jobs.")
    var pollInterval: Double = 1

    @Flag(help: "Do not LISTEN (e.g. behind a transaction-pooling PgBouncer); rely on polling.")
    var noListen = false

    @Flag(help: "Do not run SQL tasks registered in pgworker.sql_tasks.")
    var noSqlTasks = false

    @Flag(help: "Do not enqueue the ticks of cron schedules from this worker (other workers still do).")
    var noCron = false

    @Option(help: "Seconds running jobs get to finish after SIGTERM before they are cancelled.")
    var shutdownGrace: Double = 30

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard pollInterval > 0 else { throw ValidationError("--poll-interval must be positive") }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must not be negative") }
        if noSqlTasks && tasks.isEmpty {
            throw ValidationError("nothing to run: give at least one --task NAME='command', or allow SQL tasks")
        }
    }

    func run() async throws {
        let logger = database.bootstrapLogging()
        let (connection, conninfo) = try await database.connect(name: "startup")
        await connection.close()

        var registry = TaskRegistry()
        for task in tasks {
            registry.register(task.name, handler: CommandTask(command: task.command))
        }
        var configuration = WorkerConfiguration()
        configuration.concurrency = concurrency
        configuration.queues = queues.isEmpty ? nil : queues
        configuration.queueLimits = Dictionary(queueLimits.map { ($0.queue, $0.limit) }) { _, last in last }
        configuration.pollInterval = .milliseconds(Int(pollInterval * 1000))
        configuration.listen = !noListen
        configuration.handlesSQLTasks = !noSqlTasks
        configuration.runsSchedules = !noCron
        configuration.shutdownGracePeriod = .milliseconds(Int(shutdownGrace * 1000))

        let worker = Worker(conninfo: conninfo, tasks: registry, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: worker)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        // The service group turns the first signal into a graceful shutdown; a second one makes
        // the worker cancel its running jobs.
        let escalation = Task {
            var seen = 0
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                seen += 1
                if seen >= 2 { worker.stop() }
            }
        }
        defer { escalation.cancel() }
        try await group.run()
    }
}

/// `NAME=shell command`.
struct CommandTaskOption: ExpressibleByArgument {
    var name: String
    var command: String

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else { return nil }
        name = String(argument[..<equals])
        command = String(argument[argument.index(after: equals)...])
        guard !command.isEmpty else { return nil }
    }

    static var defaultValueDescription: String { "NAME=COMMAND" }
}

/// `QUEUE=N`: a per-process cap on a queue's running jobs.
struct QueueLimitOption: ExpressibleByArgument {
    var queue: String
    var limit: Int

    init?(argument: String) {
        guard let equals = argument.lastIndex(of: "="), equals != argument.startIndex,
              let limit = Int(argument[argument.index(after: equals)...]), limit >= 0 else { return nil }
        queue = String(argument[..<equals])
        self.limit = limit
    }

    static var defaultValueDescription: String { "QUEUE=N" }
}
