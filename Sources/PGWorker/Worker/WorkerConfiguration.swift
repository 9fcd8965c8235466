import Foundation

/// How a ``Worker`` runs. Every field has a sensible default.
public struct WorkerConfiguration: Sendable {
    /// How many jobs run at once in this process.
    public var concurrency: Int = 10
    /// Only claim jobs from these queues; `nil` means every queue.
    public var queues: [String]? = nil
    /// The fallback poll: how often to look for runnable jobs when no notification came
    /// (jobs whose `run_at` arrived, retries, notifications lost while disconnected).
    public var pollInterval: Duration = .seconds(1)
    /// Whether to LISTEN for new-job notifications. Turn it off behind a transaction-pooling
    /// PgBouncer, where LISTEN cannot work, and rely on a short `pollInterval`.
    public var listen: Bool = true
    /// A separate connection string for the LISTEN connection only, e.g. a direct connection to
    /// PostgreSQL when the main `conninfo` goes through a transaction-pooling PgBouncer (where
    /// LISTEN silently receives nothing). `nil` uses the main connection string.
    public var listenConninfo: String? = nil
    /// Whether the worker's statements use named prepared statements (planned once per
    /// connection). Turn it off when `conninfo` goes through a transaction-pooling PgBouncer
    /// older than 1.21, which cannot keep a client's prepared statements.
    public var usesPreparedStatements: Bool = true
    /// How often this worker records that it is alive.
    public var heartbeatInterval: Duration = .seconds(5)
    /// A worker whose heartbeat is older than this is dead, and its jobs are rescued. Live workers
    /// check every `heartbeatInterval`, so a killed worker's jobs are back within
    /// `staleAfter + heartbeatInterval` (30 s by default).
    public var staleAfter: Duration = .seconds(25)
    /// How long an attempt may run before it is cancelled and recorded as timed out, for tasks
    /// registered without a timeout of their own; `nil` means no limit.
    public var defaultTimeout: Duration? = nil
    /// Whether this worker also runs the SQL tasks registered in `pgworker.sql_tasks`.
    public var handlesSQLTasks: Bool = true
    /// Connections kept for running SQL tasks (each runs in its own transaction).
    public var sqlConnections: Int = 2
    /// On graceful shutdown, how long running jobs may take to finish before they are cancelled.
    public var shutdownGracePeriod: Duration = .seconds(30)
    /// Per-queue caps on this process's running jobs (queue name: at most this many at once),
    /// on top of `concurrency` and any cluster-wide limit set with `pgworker.set_queue_limit`.
    public var queueLimits: [String: Int] = [:]
    /// Whether this worker enqueues the ticks of the cron schedules in `pgworker.schedules`
    /// (each tick is enqueued once however many workers do).
    public var runsSchedules: Bool = true
    /// How often this worker prunes finished jobs past their retention (`pgworker.retention`);
    /// `nil` never.
    public var pruneInterval: Duration? = .seconds(60)
    /// How often the progress that running handlers report (``JobContext/reportProgress(_:message:)``)
    /// is written to their jobs' rows: reports in between only replace the pending value, so a
    /// chatty handler costs at most one row update per job per interval. A job's last report is
    /// written when it ends.
    public var progressInterval: Duration = .seconds(1)
    /// This process's worker id: host, pid and a random suffix, unique across hosts.
    public var workerID: String = WorkerConfiguration.makeWorkerID()

    /// The defaults.
    public init() {}

    /// `host:pid:random`, unique even when pids repeat across hosts or restarts.
    public static func makeWorkerID() -> String {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier):\(suffix)"
    }
}
