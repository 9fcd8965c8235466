import ArgumentParser
import Logging
import Foundation
import PGWorker
import PGWorkerDashboard
import PQClient
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
            With --persistent (or --persistent-task NAME='command') the program starts once and takes one \
            job per line of JSON on stdin, answering with a line of JSON on stdout (docs/jobs.md, Persistent programs).
            SIGTERM or SIGINT stops claiming and lets running jobs finish within --shutdown-grace seconds; \
            a second signal cancels them.
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var openTelemetry: OpenTelemetryOptions

    @OptionGroup var configFile: ConfigFileOption

    @Option(name: .customLong("task"), help: "A command task, NAME='shell command' (repeatable).",
            transform: CommandTaskOption.parse)
    var tasks: [CommandTaskOption] = []

    @Flag(help: "Every --task is a persistent program that runs many jobs over a line protocol, not one process per job.")
    var persistent = false

    @Option(name: .customLong("persistent-task"), help: "A persistent command task, NAME='shell command' (repeatable).",
            transform: CommandTaskOption.parse)
    var persistentTasks: [CommandTaskOption] = []

    @Option(name: .customLong("task-copies"), help: "How many copies of a persistent task's program run at once, NAME=N (repeatable; default 1).")
    var taskCopies: [TaskCountOption] = []

    @Option(name: .customLong("task-pipeline"), help: "Jobs given to one copy of a persistent task before it answers the first, NAME=N (repeatable; default 1). More is faster for short jobs; see docs/jobs.md.")
    var taskPipelines: [TaskCountOption] = []

    @Option(help: "Jobs run at once.")
    var concurrency: Int = 10

    @Option(name: .customLong("queue"), help: "Only take jobs from this queue (repeatable; default all).")
    var queues: [String] = []

    @Option(name: .customLong("queue-limit"), help: "At most N jobs of a queue at once in this process, QUEUE=N (repeatable).")
    var queueLimits: [QueueLimitOption] = []

    @Option(help: "Seconds between fallback polls for due jobs (default 1, or 0.2 with --no-listen).")
    var pollInterval: Double?

    @Flag(help: "Do not LISTEN (e.g. behind a transaction-pooling PgBouncer); rely on polling.")
    var noListen = false

    @Flag(help: "The database URL goes through a transaction-pooling PgBouncer: no named prepared statements, and no LISTEN on it (use --listen-url for a direct LISTEN connection, or rely on polling).")
    var pgbouncer = false

    @Option(name: .customLong("listen-url"), help: "A direct connection (not through a transaction-pooling PgBouncer) used only to LISTEN for new jobs.")
    var listenURL: String?

    @Option(help: "Seconds between heartbeats (each also rescues the jobs of dead workers).")
    var heartbeatInterval: Double = 5

    @Option(help: "Seconds without a heartbeat after which a worker counts as dead and its running jobs are rescued.")
    var staleAfter: Double = 25

    @Option(help: "Serve Prometheus metrics at http://HTTP-HOST:PORT/metrics.")
    var metricsPort: Int?

    @Option(help: "Seconds between samples of queue depth (one GROUP BY over the jobs table) for --metrics-port.")
    var queueDepthInterval: Double = 15

    @Option(help: "Distinct task names, and queue names, reported as metric labels; jobs with later names count under \"other\".")
    var metricsLabelLimit: Int = MetricLabelCap.defaultLimit

    @Option(help: "The address the metrics and dashboard servers bind.")
    var httpHost: String = "127.0.0.1"

    @Option(help: "Also serve the web dashboard on this port (see `pgworker dashboard`).")
    var dashboardPort: Int?

    @Option(help: "The dashboard's access token, at least 32 characters (default $PGWORKER_DASHBOARD_TOKEN); required beyond 127.0.0.1.")
    var dashboardToken: String?

    @Option(name: .customLong("dashboard-allowed-host"), help: ArgumentHelp(
        "Another Host name the dashboard answers to, NAME (any port) or NAME:PORT (repeatable; default $PGWORKER_DASHBOARD_ALLOWED_HOSTS, comma-separated); see `pgworker dashboard --help`.",
        valueName: "name"))
    var dashboardAllowedHosts: [String] = []

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

    func validate() throws {
        guard (1...100_000).contains(concurrency) else { throw ValidationError("--concurrency must be 1...100000") }
        guard (pollInterval ?? 1) > 0 else { throw ValidationError("--poll-interval must be positive") }
        guard heartbeatInterval > 0, staleAfter > heartbeatInterval else {
            throw ValidationError("--stale-after must be longer than --heartbeat-interval (both positive)")
        }
        guard queueDepthInterval > 0 else { throw ValidationError("--queue-depth-interval must be positive") }
        guard metricsLabelLimit >= 1 else { throw ValidationError("--metrics-label-limit must be at least 1") }
        guard shutdownGrace >= 0 else { throw ValidationError("--shutdown-grace must not be negative") }
        guard timeout.map({ $0 > 0 }) ?? true else { throw ValidationError("--timeout must be positive") }
        let allNames = (tasks + persistentTasks).map(\.name)
        let names = Set(allNames)
        if let twice = allNames.first(where: { name in allNames.filter { $0 == name }.count > 1 }) {
            throw ValidationError("task \(twice) is given twice (--task and --persistent-task name one task each)")
        }
        for option in taskTimeouts where !names.contains(option.name) {
            throw ValidationError("--task-timeout names \(option.name), which is not a --task")
        }
        let persistentNames = Set((persistent ? tasks : []).map(\.name) + persistentTasks.map(\.name))
        for option in taskCopies + taskPipelines where !persistentNames.contains(option.name) {
            throw ValidationError("--task-copies and --task-pipeline name \(option.name), which is not a persistent task (--persistent-task, or --task with --persistent)")
        }
        if noListen && listenURL != nil {
            throw ValidationError("--listen-url and --no-listen contradict each other")
        }
        for port in [metricsPort, dashboardPort].compactMap({ $0 }) where !(0...65535).contains(port) {
            throw ValidationError("ports are 0...65535, not \(port)")
        }
        if noSqlTasks && tasks.isEmpty && persistentTasks.isEmpty {
            throw ValidationError("nothing to run: give at least one --task NAME='command', or allow SQL tasks")
        }
    }

    func run() async throws {
        var dashboard: DashboardConfiguration?
        if let dashboardPort {
            var configuration = DashboardConfiguration()
            configuration.host = httpHost
            configuration.port = dashboardPort
            configuration.token = dashboardToken ?? ProcessInfo.processInfo.environment["PGWORKER_DASHBOARD_TOKEN"]
            configuration.allowedHosts = DashboardCommand.allowedHosts(dashboardAllowedHosts)
            do {
                try configuration.validate()
            } catch let error as DashboardConfigurationError {
                throw ValidationError(error.description)
            }
            dashboard = configuration
        }
        let logger = database.bootstrapLogging()
        // Before the worker starts: it reads the tracer once, when it starts.
        let spanExporter = try openTelemetry.bootstrapExporter()
        let (connection, conninfo) = try await database.connect(name: "startup")
        await connection.close()

        var registry = TaskRegistry()
        for task in tasks + persistentTasks {
            let timeout = taskTimeouts.last { $0.name == task.name }.map { Duration.seconds($0.seconds) }
            if persistent || persistentTasks.contains(where: { $0.name == task.name && $0.command == task.command }) {
                let copies = taskCopies.last { $0.name == task.name }?.count ?? 1
                let pipeline = taskPipelines.last { $0.name == task.name }?.count ?? 1
                registry.register(task.name, handler: PersistentCommandTask(
                    name: task.name, command: task.command, copies: copies, pipeline: pipeline, logger: logger),
                    timeout: timeout)
            } else {
                registry.register(task.name, handler: CommandTask(command: task.command), timeout: timeout)
            }
        }
        var configuration = WorkerConfiguration()
        configuration.concurrency = concurrency
        configuration.queues = queues.isEmpty ? nil : queues
        configuration.queueLimits = Dictionary(queueLimits.map { ($0.queue, $0.limit) }) { _, last in last }
        let listens = !noListen && !(pgbouncer && listenURL == nil)
        configuration.pollInterval = .milliseconds(Int((pollInterval ?? (listens ? 1 : 0.2)) * 1000))
        configuration.listen = listens
        configuration.listenConninfo = listenURL
        configuration.usesPreparedStatements = !pgbouncer
        configuration.heartbeatInterval = .milliseconds(Int(heartbeatInterval * 1000))
        configuration.staleAfter = .milliseconds(Int(staleAfter * 1000))
        configuration.handlesSQLTasks = !noSqlTasks
        configuration.runsSchedules = !noCron
        configuration.shutdownGracePeriod = .milliseconds(Int(shutdownGrace * 1000))
        configuration.defaultTimeout = timeout.map { .seconds($0) }

        var services: [any Service] = []
        if let metricsPort {
            MetricLabelCap.shared.limit = metricsLabelLimit
            let metrics = MetricsSetup.bootstrapPrometheus()
            services.append(MetricsServer(registry: metrics, host: httpHost, port: metricsPort, logger: logger) { port in
                logger.info("serving Prometheus metrics", metadata: ["url": "http://\(httpHost):\(port)/metrics"])
            })
            services.append(QueueDepthSampler(
                conninfo: conninfo, interval: .milliseconds(Int(queueDepthInterval * 1000)), logger: logger))
        }
        if let dashboard {
            services.append(try Dashboard(conninfo: conninfo, configuration: dashboard, logger: logger) { port in
                logger.info("serving the dashboard", metadata: ["url": "http://\(httpHost):\(port)/"])
            })
        }
        let worker = Worker(conninfo: conninfo, tasks: registry, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            // Shut down in reverse order: the span exporter last, after the worker's last spans.
            services: ([spanExporter].compactMap { $0 } + [worker] + services).map { .init(service: $0) },
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

    /// Parses the option's value, or says what was expected.
    static func parse(_ argument: String) throws -> CommandTaskOption {
        guard let option = CommandTaskOption(argument: argument) else {
            throw ValidationError("expected NAME='shell command' (a task name, '=', then the command)")
        }
        return option
    }
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

/// `NAME=N`, N at least 1: a persistent task's copies or pipeline depth.
struct TaskCountOption: ExpressibleByArgument {
    var name: String
    var count: Int

    init?(argument: String) {
        guard let equals = argument.lastIndex(of: "="), equals != argument.startIndex,
              let count = Int(argument[argument.index(after: equals)...]), count >= 1 else { return nil }
        name = String(argument[..<equals])
        self.count = count
    }

    static var defaultValueDescription: String { "NAME=N" }
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
