import Logging
import PGWorker
import PQClient
import Synchronization

/// Enqueue-to-start latency on an idle queue: jobs are enqueued one at a time, each only after
/// the previous one started and the worker went idle again, and the in-process handler records
/// when it started. Both instants come from this process's monotonic clock.
struct LatencyBenchmark: Sendable {
    let database: BenchDatabase
    let samples: Int
    let concurrency: Int

    /// Samples enqueued first and not counted: they wait for the worker to be listening and warm
    /// up its prepared statements.
    static let warmUp = 5

    /// One sample, in milliseconds.
    struct Sample: Sendable {
        /// From the enqueuing INSERT's commit (its reply arriving) to the handler starting. It can be
        /// negative: the server wakes the worker at commit, and on a busy machine the worker may
        /// start the job before the enqueuer's thread has read its own reply.
        let fromCommit: Double
        /// From sending the INSERT to the handler starting (includes the INSERT and its commit).
        let fromSend: Double
    }

    func run() async throws -> [Sample] {
        let task = "bench_latency"
        let starts = StartLog()
        var tasks = TaskRegistry()
        tasks.register(task, handler: BenchHandler(onStart: { starts.record($0) }))
        var configuration = WorkerConfiguration()
        configuration.concurrency = concurrency
        configuration.handlesSQLTasks = false
        configuration.sqlConnections = 1
        var logger = Logger(label: "pgworker-bench")
        logger.logLevel = .warning
        let worker = Worker(conninfo: database.conninfo, tasks: tasks, configuration: configuration, logger: logger)
        let running = Task { try await worker.run() }

        let enqueuer = try await database.connect("bench-latency")
        var results: [Sample] = []
        do {
            for index in 0..<(Self.warmUp + samples) {
                let sent = ContinuousClock.now
                let id: Int64 = try await enqueuer.queryPrepared(
                    "INSERT INTO pgworker.jobs (task) VALUES ($1) RETURNING id", [task]
                ).rows[0].decode("id")
                let committed = ContinuousClock.now
                let started = try await starts.waitForStart(of: id, timeout: .seconds(10))
                if index >= Self.warmUp {
                    results.append(Sample(fromCommit: (started - committed).milliseconds,
                                          fromSend: (started - sent).milliseconds))
                }
                // Let the worker record the outcome and go back to waiting, with a jitter so samples
                // do not fall into step with anything periodic.
                try await Task.sleep(for: .microseconds(Int.random(in: 5_000...15_000)))
            }
        } catch {
            worker.stop()
            _ = try? await running.value
            await enqueuer.close()
            throw error
        }
        worker.stop()
        try await running.value
        await enqueuer.close()
        return results
    }
}

/// When each job's handler started, written by handlers and read by the enqueuer.
private final class StartLog: Sendable {
    private let starts = Mutex<[Int64: ContinuousClock.Instant]>([:])

    func record(_ id: Int64) {
        let now = ContinuousClock.now
        starts.withLock { $0[id] = now }
    }

    /// Waits (checking every 0.5 ms; the start instant itself is exact) until job `id` started.
    func waitForStart(of id: Int64, timeout: Duration) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let started = starts.withLock({ $0.removeValue(forKey: id) }) { return started }
            try await Task.sleep(for: .microseconds(500))
        }
        throw BenchError("job \(id) did not start within \(timeout)")
    }
}
