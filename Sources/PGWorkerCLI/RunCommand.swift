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

    @Option(help: "Default seconds an attempt may run before it is cancelled and recorded as timed out (default: no limit).")
    var timeout: Double?

    @Option(name: .customLong("task-timeout"), help: "A per-task timeout, NAME=SECONDS (repeatable).")
    var taskTimeouts: [TaskTimeoutOption] = []

    @Option(help: "Seconds between heartbeats.")
    var heartbeatInterval: Double = 5

    @Option(help: "Seconds without a heartbeat after which a worker is dead and its jobs are rescued.")
    var staleAfter: Double = 25

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard pollInterval > 0 else { throw ValidationError("--poll-interval must be positive") }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must not be negative") }
        guard timeout.map({ $0 > 0 }) ?? true else { throw ValidationError("--timeout must be positive") }
        guard heartbeatInterval > 0, staleAfter > heartbeatInterval else {
            throw ValidationError("--stale-after must be longer than --heartbeat-interval, and both positive")
        }
        let names = Set(tasks.map(\.name))
        for option in taskTimeouts where !names.contains(option.name) {
            throw ValidationError("--task-timeout names \(option.name), which is not a --task")
        }
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
            let timeout = taskTimeouts.last { $0.name == task.name }.map { Duration.seconds($0.seconds) }
            registry.register(task.name, handler: CommandTask(command: task.command), timeout: timeout)
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
        configuration.defaultTimeout = timeout.map { .seconds($0) }
        configuration.heartbeatInterval = .seconds(heartbeatInterval)
        configuration.staleAfter = .seconds(staleAfter)

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

/// `NAME=SECONDS`.
struct TaskTimeoutOption: ExpressibleByArgument {
    var name: String
    var seconds: Double

    init?(argument: String) {
        guard let equals = argument.lastIndex(of: "="), let seconds = Double(argument[argument.index(after: equals)...]),
              seconds > 0, equals != argument.startIndex
        else { return nil }
        name = String(argument[..<equals])
        self.seconds = seconds
    }

    static var defaultValueDescription: String { "NAME=SECONDS" }
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
