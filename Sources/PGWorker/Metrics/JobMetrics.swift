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

/// A worker's ``JobMetrics`` by task and queue, created on first use.
final class JobMetricsCache: Sendable {
    private struct Key: Hashable {
        let task: String
        let queue: String
    }

    private let handles = Mutex<[Key: JobMetrics]>([:])
    /// Jobs running now, across tasks and queues.
    let inFlight = Meter(label: WorkerMetrics.Name.inFlight)

    /// The metrics of `job`'s task and queue.
    func metrics(for job: ClaimedJob) -> JobMetrics {
        let key = Key(task: job.task, queue: job.queue)
        if let cached = handles.withLock({ $0[key] }) { return cached }
        let made = JobMetrics(task: job.task, queue: job.queue)
        return handles.withLock { handles in
            if let raced = handles[key] { return raced }
            handles[key] = made
            return made
        }
    }
}
