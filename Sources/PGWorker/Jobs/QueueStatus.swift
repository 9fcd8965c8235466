import PQClient

/// A snapshot of the queues: job counts by queue and state, work no live worker can take, and
/// the jobs table's health for claiming.
public struct QueueStatus: Sendable, Codable {
    /// Job counts of one queue, by state.
    public struct QueueCounts: Sendable, Codable {
        /// The queue name.
        public var queue: String
        /// Jobs per state (and ``QueueStatus/staged``); states with no jobs are absent.
        public var counts: [String: Int]
    }

    /// Runnable jobs of a task and queue that no live worker handles.
    public struct Unhandled: Sendable, Codable {
        /// The task name.
        public var task: String
        /// The queue.
        public var queue: String
        /// How many jobs wait.
        public var jobs: Int
    }

    /// The count that `pgworker.queue_stats` gives jobs that application-table triggers staged
    /// and no claim has moved into `pgworker.jobs` yet (SQL/functions/move_staged_jobs.sql). Not a ``JobState``: no job
    /// row has it.
    public static let staged = "staged"

    /// The columns of a status table, in lifecycle order: ``staged``, then every ``JobState``.
    public static let countColumns = [staged] + JobState.allCases.map(\.rawValue)

    /// A queue that is paused or has a running-jobs cap (`pgworker.queues`).
    public struct QueueControl: Sendable, Codable {
        /// The queue name.
        public var queue: String
        /// Whether claims skip the queue (`pgworker queue pause`).
        public var paused: Bool
        /// At most this many of its jobs run at once, across all workers; nil for no cap.
        public var maxRunning: Int?
    }

    /// Every queue that has jobs, sorted by name.
    public var queues: [QueueCounts]
    /// Work waiting with nobody to do it.
    public var unhandled: [Unhandled]
    /// Live workers (heartbeat within 30 s).
    public var liveWorkers: Int
    /// Paused and capped queues, sorted by name (optional so older JSON still decodes).
    public var controls: [QueueControl]?
    /// Dead rows, claim index size and the oldest open snapshot (optional so older JSON still decodes).
    public var health: QueueHealth?

    /// Reads the status.
    public static func read(_ connection: PQConnection) async throws -> QueueStatus {
        let counts = try await connection.query("SELECT queue, state, jobs FROM pgworker.queue_stats ORDER BY queue, state")
        var byQueue: [String: [String: Int]] = [:]
        for row in counts.rows {
            byQueue[try row.decode("queue"), default: [:]][try row.decode("state")] = try row.decode("jobs")
        }
        let unhandled = try await connection.query("SELECT task, queue, jobs FROM pgworker.unhandled_tasks ORDER BY task, queue")
        let workers = try await connection.query(
            "SELECT count(*) AS live FROM pgworker.workers WHERE heartbeat_at > now() - interval '30 seconds'")
        let controls = try await connection.query(
            "SELECT queue, paused, max_running FROM pgworker.queues WHERE paused OR max_running IS NOT NULL ORDER BY queue")
        return QueueStatus(
            queues: byQueue.keys.sorted().map { QueueCounts(queue: $0, counts: byQueue[$0]!) },
            unhandled: try unhandled.rows.map { Unhandled(task: try $0.decode("task"), queue: try $0.decode("queue"), jobs: try $0.decode("jobs")) },
            liveWorkers: try workers.first!.decode("live"),
            controls: try controls.rows.map {
                QueueControl(queue: try $0.decode("queue"), paused: try $0.decode("paused"), maxRunning: try $0.decodeIfPresent("max_running"))
            },
            health: try await QueueHealth.read(connection)
        )
    }
}
