import Metrics

/// The engine's metrics, reported through swift-metrics: whatever backend the process bootstraps
/// (`pgworker run --metrics-port` uses Prometheus) receives them; with none, they cost next to nothing.
///
/// Every metric name always carries the same dimensions, as Prometheus requires.
/// Task and queue names are capped by ``MetricLabelCap/shared``: beyond the first 100 distinct
/// names of each, jobs count under `other`.
///
/// | metric | kind | dimensions |
/// |---|---|---|
/// | `pgworker_jobs_started_total` | counter | task, queue |
/// | `pgworker_jobs_succeeded_total` | counter | task, queue |
/// | `pgworker_jobs_failed_total` (attempt failed, will retry) | counter | task, queue |
/// | `pgworker_jobs_dead_total` (last attempt failed, or discarded) | counter | task, queue |
/// | `pgworker_job_duration_seconds` (handler run time) | timer | task, queue |
/// | `pgworker_job_start_latency_seconds` (due to claimed) | timer | task, queue |
/// | `pgworker_jobs_in_flight` | meter | — |
/// | `pgworker_notifications_received_total` | counter | — |
/// | `pgworker_polls_total` | counter | — |
/// | `pgworker_reconnects_total` (lost connections) | counter | connection |
/// | `pgworker_claim_turn_seconds` (a claim turn's round trip: ``ClaimTurnTimes``) | timer | — |
/// | `pgworker_queue_depth` (sampled by ``QueueDepthSampler``) | gauge | queue, state |
/// | `pgworker_oldest_snapshot_seconds` (sampled: ``QueueHealth``) | gauge | — |
/// | `pgworker_jobs_dead_rows` (sampled: ``QueueHealth``) | gauge | — |
/// | `pgworker_claim_index_bytes` (sampled: ``QueueHealth``) | gauge | — |
/// | `pgworker_claim_turn_p99_seconds` (sampled: the slowest live worker's) | gauge | — |
public enum WorkerMetrics {
    /// The metric names, for backends and dashboards that configure them (histogram buckets, say).
    public enum Name {
        /// Jobs whose handler started.
        public static let started = "pgworker_jobs_started_total"
        /// Attempts that succeeded.
        public static let succeeded = "pgworker_jobs_succeeded_total"
        /// Attempts that failed and will be retried.
        public static let failed = "pgworker_jobs_failed_total"
        /// Jobs that failed for the last time.
        public static let dead = "pgworker_jobs_dead_total"
        /// How long handlers ran.
        public static let duration = "pgworker_job_duration_seconds"
        /// From the moment a job was due (`run_at`, or `created_at` if later) to its claim.
        public static let startLatency = "pgworker_job_start_latency_seconds"
        /// Handlers running now.
        public static let inFlight = "pgworker_jobs_in_flight"
        /// Relevant or not, every notification the listener received.
        public static let notifications = "pgworker_notifications_received_total"
        /// Fallback polls.
        public static let polls = "pgworker_polls_total"
        /// Lost database connections (each is followed by reconnect attempts).
        public static let reconnects = "pgworker_reconnects_total"
        /// Jobs per queue and state, as last sampled from the database.
        public static let queueDepth = "pgworker_queue_depth"
        /// The round trip of one claim turn (write outcomes, claim), as this worker measured it.
        public static let claimTurn = "pgworker_claim_turn_seconds"
        /// Age of the oldest snapshot held open on the server (0 when none), as last sampled.
        public static let oldestSnapshot = "pgworker_oldest_snapshot_seconds"
        /// Dead rows of `pgworker.jobs` that vacuum has not removed yet, as last sampled.
        public static let deadRows = "pgworker_jobs_dead_rows"
        /// The size of the claim index `jobs_claim_idx`, as last sampled.
        public static let claimIndexBytes = "pgworker_claim_index_bytes"
        /// The slowest live worker's claim-turn 99th percentile over its last heartbeat interval.
        public static let claimTurnP99 = "pgworker_claim_turn_p99_seconds"
    }

    /// A job's `task` and `queue` dimensions, through ``MetricLabelCap/shared``.
    private static func jobDimensions(_ job: ClaimedJob) -> [(String, String)] {
        MetricLabelCap.shared.jobDimensions(task: job.task, queue: job.queue)
    }

    /// A claimed job's handler is starting.
    static func jobStarted(_ job: ClaimedJob, _ metrics: JobMetrics, inFlight: Meter) {
        metrics.started.increment()
        inFlight.increment()
        if let waited = job.waitedSeconds {
            metrics.startLatency.recordNanoseconds(Int64(max(waited, 0) * 1e9))
        }
    }

    /// A job's handler is done. `completion` is nil for SQL tasks, whose outcome the database
    /// records itself (see ``sqlJobRecorded(_:state:)``).
    static func jobFinished(_ job: ClaimedJob, _ completion: Completion?, after duration: Duration,
                            _ metrics: JobMetrics, inFlight: Meter) {
        inFlight.decrement()
        let (seconds, attoseconds) = duration.components
        metrics.duration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        guard let completion else { return }
        if completion.succeeded {
            metrics.count(.succeeded)
        } else if completion.discard || job.attempt >= job.maxAttempts {
            metrics.count(.dead)
        } else {
            metrics.count(.failed)
        }
    }

    /// The database recorded a SQL task's outcome: the job's new `state`.
    static func sqlJobRecorded(_ job: ClaimedJob, state: String?) {
        guard let label = outcomeLabel(state) else { return }
        Counter(label: label, dimensions: jobDimensions(job)).increment()
    }

    /// The outcome counter of a state the database recorded; nil for any other.
    private static func outcomeLabel(_ state: String?) -> String? {
        switch state {
        case "succeeded": Name.succeeded
        case "dead": Name.dead
        case "retryable": Name.failed
        default: nil
        }
    }

    /// A SQL-task batch claimed and ran jobs of `task` itself (they never were a ``ClaimedJob``):
    /// counted as started, and by the state the database recorded, per queue.
    static func sqlJobsClaimedByBatch(task: String, _ jobs: [(queue: String, state: String)]) {
        var counts: [String: (started: Int, outcomes: [String: Int])] = [:]
        for job in jobs {
            counts[job.queue, default: (0, [:])].started += 1
            counts[job.queue, default: (0, [:])].outcomes[job.state, default: 0] += 1
        }
        for (queue, count) in counts {
            let dimensions = MetricLabelCap.shared.jobDimensions(task: task, queue: queue)
            Counter(label: Name.started, dimensions: dimensions).increment(by: count.started)
            for (state, n) in count.outcomes {
                guard let label = outcomeLabel(state) else { continue }
                Counter(label: label, dimensions: dimensions).increment(by: n)
            }
        }
    }

    /// The listener received notifications.
    static func notificationsReceived(_ count: Int) {
        Counter(label: Name.notifications).increment(by: count)
    }

    /// The fallback poll fired.
    static func polled() {
        Counter(label: Name.polls).increment()
    }

    /// A connection (`main` or `listener`) was lost and will be reopened.
    static func connectionLost(_ connection: String) {
        Counter(label: Name.reconnects, dimensions: [("connection", connection)]).increment()
    }
}
