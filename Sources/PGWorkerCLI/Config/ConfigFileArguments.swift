/// Turns a config file into the flags it stands for, placed before the user's own flags, so that
/// the commands parse, validate and use the file's values exactly like typed ones.
///
/// Precedence (docs/configuration.md): a flag on the command line beats an environment variable,
/// which beats the file, which beats the built-in default. A single-valued option may appear
/// twice and the last one counts, so the file's comes first; the file's value for a list option,
/// a `--task NAME`, or an on/off flag is left out when the command line gives its own; and it is
/// left out when the environment variable the command already honours is set.
enum ConfigFileArguments {
    /// The subcommands that read a config file.
    static let subcommands: Set<String> = ["run", "dashboard"]

    /// The arguments to parse: `arguments` (without the program name) with the flags from the
    /// config file (`--config FILE`, else `$PGWORKER_CONFIG`) inserted after the subcommand name.
    static func expand(_ arguments: [String], environment: [String: String]) throws -> [String] {
        guard let subcommand = arguments.first, subcommands.contains(subcommand) else { return arguments }
        let given = Array(arguments.dropFirst().prefix { $0 != "--" })
        if given.contains(where: { ["--help", "-h", "--version"].contains($0) }) { return arguments }
        guard let path = optionValues("config", in: given).last ?? environment["PGWORKER_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 })
        else { return arguments }
        let config = try ConfigFile.load(path: path)
        let fromFile = subcommand == "run"
            ? runArguments(config, given: given, environment: environment)
            : dashboardArguments(config, given: given, environment: environment)
        return [subcommand] + fromFile + arguments.dropFirst()
    }

    /// Flags for `pgworker run`.
    static func runArguments(_ config: ConfigFile, given: [String], environment: [String: String]) -> [String] {
        var flags = Flags(given: given)
        flags.shared(config, environment: environment)
        flags.option("listen-url", config.database.listenURL)
        flags.onOff("pgbouncer", config.database.pgbouncer == true)

        let worker = config.worker
        flags.option("concurrency", worker.concurrency)
        flags.list("queue", worker.queues)
        flags.option("poll-interval", worker.pollInterval)
        flags.onOff("no-listen", worker.listen == false)
        flags.option("heartbeat-interval", worker.heartbeatInterval)
        flags.option("stale-after", worker.staleAfter)
        flags.option("shutdown-grace", worker.shutdownGrace)
        flags.option("timeout", worker.timeout)
        flags.onOff("no-sql-tasks", worker.sqlTasks == false)
        flags.onOff("no-cron", worker.cron == false)

        let namedOnCommandLine = Set((optionValues("task", in: given) + optionValues("persistent-task", in: given))
            .map { $0.prefix { $0 != "=" } })
        for task in config.tasks {
            if !namedOnCommandLine.contains(Substring(task.name)) {
                flags.option(task.persistent ? "persistent-task" : "task", "\(task.name)=\(task.command)")
                flags.option("task-copies", task.copies.map { "\(task.name)=\($0)" })
                flags.option("task-pipeline", task.pipeline.map { "\(task.name)=\($0)" })
            }
            flags.option("task-timeout", task.timeout.map { "\(task.name)=\($0)" })
        }
        for queue in config.queues {
            flags.option("queue-limit", queue.limit.map { "\(queue.name)=\($0)" })
        }

        flags.option("metrics-port", config.metrics.port)
        flags.option("queue-depth-interval", config.metrics.queueDepthInterval)
        flags.option("metrics-label-limit", config.metrics.labelLimit)
        let servesDashboard = worker.serveDashboard == true
        flags.option("http-host", config.metrics.host ?? (servesDashboard ? config.dashboard.host : nil))
        if servesDashboard { flags.option("dashboard-port", config.dashboard.port ?? 8080) }
        flags.dashboardAccess(config.dashboard, tokenFlag: "dashboard-token", hostFlag: "dashboard-allowed-host", environment: environment)
        return flags.arguments
    }

    /// Flags for `pgworker dashboard`.
    static func dashboardArguments(_ config: ConfigFile, given: [String], environment: [String: String]) -> [String] {
        var flags = Flags(given: given)
        flags.shared(config, environment: environment)
        flags.option("host", config.dashboard.host)
        flags.option("port", config.dashboard.port)
        flags.dashboardAccess(config.dashboard, tokenFlag: "token", hostFlag: "allowed-host", environment: environment)
        return flags.arguments
    }

    /// The values given to `--name` in `arguments`, as `--name VALUE` or `--name=VALUE`.
    static func optionValues(_ name: String, in arguments: [String]) -> [String] {
        var values: [String] = []
        for (index, argument) in arguments.enumerated() {
            if argument == "--\(name)", index + 1 < arguments.count {
                values.append(arguments[index + 1])
            } else if argument.hasPrefix("--\(name)=") {
                values.append(String(argument.dropFirst(name.count + 3)))
            }
        }
        return values
    }

    /// The flags built from a file, knowing what the command line already gives.
    private struct Flags {
        let given: [String]
        var arguments: [String] = []

        /// Whether the command line has `--name` itself.
        func onCommandLine(_ name: String) -> Bool {
            given.contains { $0 == "--\(name)" || $0.hasPrefix("--\(name)=") }
        }

        /// `--name=VALUE` when the file has a value (one token, so a value that begins with `-`
        /// is not taken for a flag).
        mutating func option(_ name: String, _ value: (some CustomStringConvertible)?) {
            if let value { arguments.append("--\(name)=\(value)") }
        }

        /// `--name=VALUE` for each value, unless the command line gives its own list.
        mutating func list(_ name: String, _ values: [String]?) {
            guard let values, !onCommandLine(name) else { return }
            for value in values { option(name, value) }
        }

        /// `--name` when the file asks for it and the command line does not say it already.
        mutating func onOff(_ name: String, _ wanted: Bool) {
            if wanted && !onCommandLine(name) { arguments.append("--\(name)") }
        }

        /// The database and logging settings every command takes.
        mutating func shared(_ config: ConfigFile, environment: [String: String]) {
            if environment["DATABASE_URL"].map({ $0.isEmpty }) ?? true { option("database-url", config.database.url) }
            option("log-level", config.logging.level)
            option("log-format", config.logging.format)
        }

        /// The dashboard's token and extra Host names, unless their environment variables are set.
        mutating func dashboardAccess(_ dashboard: ConfigFile.Dashboard, tokenFlag: String, hostFlag: String,
                                      environment: [String: String]) {
            if environment["PGWORKER_DASHBOARD_TOKEN"] == nil { option(tokenFlag, dashboard.token) }
            if environment["PGWORKER_DASHBOARD_ALLOWED_HOSTS"] == nil { list(hostFlag, dashboard.allowedHosts) }
        }
    }
}
