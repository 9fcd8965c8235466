import Metrics
import Synchronization

/// The per-job metrics of one task and queue (see ``WorkerMetrics``), made once and reused:
/// creating swift-metrics handles asks the bootstrapped factory each time (a lock and
/// allocations), which for a no-op job cost more than the job.
///
/// The outcome counters are made on first use, so a backend shows an outcome's series only
/// once it happened.
final class JobMetrics: Sendable {
    /// How an attempt ended, as counted.
    enum Outcome: Int {
        case succeeded, failed, dead
    }

    let started: Counter
    let duration: Timer
    let startLatency: Timer
    private let dimensions: [(String, String)]
    private let outcomes = Mutex<[Counter?]>([nil, nil, nil])

    init(task: String, queue: String) {
        dimensions = [("task", task), ("queue", queue)]
        started = Counter(label: WorkerMetrics.Name.started, dimensions: dimensions)
        duration = Timer(label: WorkerMetrics.Name.duration, dimensions: dimensions)
        startLatency = Timer(label: WorkerMetrics.Name.startLatency, dimensions: dimensions)
    }

    /// Counts an attempt's outcome.
    func count(_ outcome: Outcome) {
        let counter = outcomes.withLock { outcomes in
            if let counter = outcomes[outcome.rawValue] { return counter }
            let label = switch outcome {
            case .succeeded: WorkerMetrics.Name.succeeded
            case .failed: WorkerMetrics.Name.failed
            case .dead: WorkerMetrics.Name.dead
            }
            let counter = Counter(label: label, dimensions: dimensions)
            outcomes[outcome.rawValue] = counter
            return counter
        }
        counter.increment()
    }
}

/// A worker's ``JobMetrics`` by task and queue (as capped by ``MetricLabelCap``), created on
/// first use. Being keyed by the reported labels, it holds at most (limit + 1)² entries however
/// many names jobs carry.
final class JobMetricsCache: Sendable {
    private struct Key: Hashable {
        let task: String
        let queue: String
    }

    private let handles = Mutex<[Key: JobMetrics]>([:])
    private let labels: MetricLabelCap
    /// Jobs running now, across tasks and queues.
    let inFlight = Meter(label: WorkerMetrics.Name.inFlight)

    /// A cache whose metrics report task and queue names through `labels`.
    init(labels: MetricLabelCap = .shared) {
        self.labels = labels
    }

    /// The metrics of `job`'s task and queue.
    func metrics(for job: ClaimedJob) -> JobMetrics {
        // A kept name is its own key: one lookup. A folded one misses here and finds "other".
        let key = Key(task: job.task, queue: job.queue)
        if let cached = handles.withLock({ $0[key] }) { return cached }
        let capped = Key(task: labels.value(job.task, for: "task"), queue: labels.value(job.queue, for: "queue"))
        if let cached = handles.withLock({ $0[capped] }) { return cached }
        let made = JobMetrics(task: capped.task, queue: capped.queue)
        return handles.withLock { handles in
            if let raced = handles[capped] { return raced }
            handles[capped] = made
            return made
        }
    }
}
