import Foundation
import Logging

/// The settings of `pgworker run` and `pgworker dashboard` read from a TOML file
/// (`--config FILE` or `$PGWORKER_CONFIG`); docs/configuration.md describes every key.
///
/// Every key is optional and has the name of the flag it stands for; the file only supplies
/// values, which ``ConfigFileArguments`` turns into those flags, so the commands validate and use
/// them exactly as if they had been typed. Unknown keys are errors.
struct ConfigFile {
    /// `[database]`: where the jobs are.
    struct Database {
        var url: String?
        var listenURL: String?
        var pgbouncer: Bool?
    }

    /// `[logging]`.
    struct Logging {
        var level: String?
        var format: String?
    }

    /// `[worker]`: how `pgworker run` claims and runs jobs.
    struct Worker {
        var concurrency: Int?
        var queues: [String]?
        var pollInterval: Double?
        var listen: Bool?
        var heartbeatInterval: Double?
        var staleAfter: Double?
        var shutdownGrace: Double?
        var timeout: Double?
        var sqlTasks: Bool?
        var cron: Bool?
        var serveDashboard: Bool?
    }

    /// `[tasks.NAME]`: a command task. New per-task options become new keys here.
    struct CommandTask {
        var name: String
        var command: String
        var timeout: Double?
        /// A persistent program fed jobs over the line protocol (`--persistent-task`).
        var persistent: Bool = false
        /// Copies of a persistent program (`--task-copies`).
        var copies: Int?
        /// Jobs given to one copy before its first answer (`--task-pipeline`).
        var pipeline: Int?
    }

    /// `[queues.NAME]`: limits on one queue.
    struct Queue {
        var name: String
        var limit: Int?
    }

    /// `[metrics]`: the Prometheus endpoint of `pgworker run`.
    struct Metrics {
        var host: String?
        var port: Int?
        var queueDepthInterval: Double?
        var labelLimit: Int?
    }

    /// `[dashboard]`: the web dashboard, served by `pgworker dashboard` (and by `pgworker run`
    /// with `worker.serve-dashboard = true`).
    struct Dashboard {
        var host: String?
        var port: Int?
        var token: String?
        var allowedHosts: [String]?
    }

    /// The file as the user named it, for messages.
    var file: String
    var database = Database()
    var logging = Logging()
    var worker = Worker()
    /// Sorted by name.
    var tasks: [CommandTask] = []
    /// Sorted by name.
    var queues: [Queue] = []
    var metrics = Metrics()
    var dashboard = Dashboard()

    /// Reads and checks the file at `path`.
    static func load(path: String) throws -> ConfigFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
            throw ConfigFileError(file: path, line: nil, key: nil, message: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigFileError(file: path, line: nil, key: nil, message: "not UTF-8 text")
        }
        return try ConfigFile(file: path, text: text)
    }

    /// Parses and checks a file's text.
    init(file: String, text: String) throws {
        self.file = file
        let top = try ConfigTable(file: file, text: text)
        try top.rejectUnknownKeys(["database", "logging", "worker", "tasks", "queues", "metrics", "dashboard"])

        if let section = try top.table("database") {
            try section.rejectUnknownKeys(["url", "listen-url", "pgbouncer"])
            database = Database(url: try section.string("url"), listenURL: try section.string("listen-url"),
                                pgbouncer: try section.bool("pgbouncer"))
        }
        if let section = try top.table("logging") {
            try section.rejectUnknownKeys(["level", "format"])
            logging = Logging(level: try section.choice("level", from: Logger.Level.allCases.map(\.rawValue)),
                              format: try section.choice("format", from: LogFormat.allCases.map(\.rawValue)))
        }
        if let section = try top.table("worker") {
            try section.rejectUnknownKeys([
                "concurrency", "queues", "poll-interval", "listen", "heartbeat-interval", "stale-after",
                "shutdown-grace", "timeout", "sql-tasks", "cron", "serve-dashboard",
            ])
            worker = Worker(
                concurrency: try section.integer("concurrency", atLeast: 1),
                queues: try section.strings("queues", allowsEmpty: false),
                pollInterval: try section.seconds("poll-interval"),
                listen: try section.bool("listen"),
                heartbeatInterval: try section.seconds("heartbeat-interval"),
                staleAfter: try section.seconds("stale-after"),
                shutdownGrace: try section.seconds("shutdown-grace", allowsZero: true),
                timeout: try section.seconds("timeout"),
                sqlTasks: try section.bool("sql-tasks"),
                cron: try section.bool("cron"),
                serveDashboard: try section.bool("serve-dashboard"))
        }
        tasks = try top.namedTables("tasks").map { name, section in
            try section.rejectUnknownKeys(["command", "timeout", "persistent", "copies", "pipeline"])
            guard let command = try section.string("command") else {
                throw section.error(nil, "a command task needs command = 'shell command'")
            }
            guard !command.isEmpty else { throw section.error("command", "expected a shell command, got an empty string") }
            guard !name.isEmpty, !name.contains("=") else { throw section.error(nil, "a task name cannot be empty or contain =") }
            let persistent = try section.bool("persistent") ?? false
            let copies = try section.integer("copies", atLeast: 1)
            let pipeline = try section.integer("pipeline", atLeast: 1)
            if !persistent, copies != nil || pipeline != nil {
                throw section.error(copies != nil ? "copies" : "pipeline", "applies only to a persistent task (persistent = true)")
            }
            return CommandTask(name: name, command: command, timeout: try section.seconds("timeout"),
                               persistent: persistent, copies: copies, pipeline: pipeline)
        }
        queues = try top.namedTables("queues").map { name, section in
            try section.rejectUnknownKeys(["limit"])
            guard !name.isEmpty else { throw section.error(nil, "a queue name cannot be empty") }
            return Queue(name: name, limit: try section.integer("limit", atLeast: 0))
        }
        if let section = try top.table("metrics") {
            try section.rejectUnknownKeys(["host", "port", "queue-depth-interval", "label-limit"])
            metrics = Metrics(host: try section.string("host"), port: try section.port("port"),
                              queueDepthInterval: try section.seconds("queue-depth-interval"),
                              labelLimit: try section.integer("label-limit", atLeast: 1))
        }
        if let section = try top.table("dashboard") {
            try section.rejectUnknownKeys(["host", "port", "token", "allowed-hosts"])
            dashboard = Dashboard(host: try section.string("host"), port: try section.port("port"),
                                  token: try section.string("token"), allowedHosts: try section.strings("allowed-hosts"))
        }
        try checkCombinations(top)
    }

    /// Rules that involve more than one key.
    private func checkCombinations(_ top: ConfigTable) throws {
        if let heartbeat = worker.heartbeatInterval, let stale = worker.staleAfter, stale <= heartbeat {
            throw top.error(path: ["worker", "stale-after"], "must be longer than worker.heartbeat-interval (\(heartbeat))")
        }
        if worker.listen == false && database.listenURL != nil {
            throw top.error(path: ["database", "listen-url"], "contradicts worker.listen = false")
        }
        if worker.serveDashboard == true, metrics.port != nil,
           let metricsHost = metrics.host, let dashboardHost = dashboard.host, metricsHost != dashboardHost {
            throw top.error(path: ["dashboard", "host"],
                            "pgworker run serves metrics and the dashboard on one address, and metrics.host is \(String(reflecting: metricsHost))")
        }
    }
}
