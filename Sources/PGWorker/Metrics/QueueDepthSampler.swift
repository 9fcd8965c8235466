import Logging
import Metrics
import PQClient
import ServiceLifecycle

/// Samples job counts per queue and state from `pgworker.queue_stats` at a modest interval and
/// reports them as the `pgworker_queue_depth` gauge (dimensions `queue`, `state`), along with the
/// claim's health (``QueueHealth``): the oldest open snapshot's age, the jobs table's dead rows,
/// the claim index's size and the slowest live worker's claim-turn p99.
///
/// Counts are table-wide, so one sampler per deployment is enough; `pgworker run --metrics-port`
/// starts one. A queue/state pair that empties is reported as 0 rather than left at its last value.
/// Queue names are capped by a ``MetricLabelCap``: the queues folded into `other` are summed there.
public struct QueueDepthSampler: Service {
    private let conninfo: String
    private let interval: Duration
    private let logger: Logger
    private let labels: MetricLabelCap

    /// - Parameters:
    ///   - conninfo: the database.
    ///   - interval: time between samples; each is one `GROUP BY` over the jobs table.
    ///   - labels: caps the queue names reported; the counts of folded queues add up in `other`.
    public init(conninfo: String, interval: Duration = .seconds(15), logger: Logger = Logger(label: "pgworker.metrics"),
                labels: MetricLabelCap = .shared) {
        self.conninfo = conninfo
        self.interval = interval
        self.logger = logger
        self.labels = labels
    }

    /// Samples until cancelled or until graceful shutdown.
    public func run() async throws {
        let connection = ManagedConnection(conninfo: conninfo, name: "metrics")
        var reported: Set<QueueState> = []
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                reported = try await sample(try await connection.connection(), previouslyReported: reported)
            } catch {
                logger.debug("could not sample queue depth", metadata: ["error": "\(error)"])
                await connection.invalidate(after: error)
            }
            // A graceful shutdown ends the sleep: the service group stops services in reverse
            // order, so the worker would otherwise keep claiming until this sleep is over.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
        await connection.close()
    }

    private struct QueueState: Hashable {
        let queue: String
        let state: String
    }

    private func sample(_ connection: PQConnection, previouslyReported: Set<QueueState>) async throws -> Set<QueueState> {
        let result = try await connection.query("SELECT queue, state, jobs FROM pgworker.queue_stats")
        var counts: [QueueState: Int] = [:]
        for row in result.rows {
            let key = QueueState(queue: labels.value(try row.decode("queue"), for: "queue"), state: try row.decode("state"))
            counts[key, default: 0] += try row.decode("jobs", as: Int.self)
        }
        for (key, jobs) in counts {
            gauge(key).record(jobs)
        }
        let seen = Set(counts.keys)
        for gone in previouslyReported.subtracting(seen) {
            gauge(gone).record(0)
        }
        let health = try await QueueHealth.read(connection)
        Gauge(label: WorkerMetrics.Name.oldestSnapshot).record(health.oldestSnapshotSeconds ?? 0)
        Gauge(label: WorkerMetrics.Name.deadRows).record(health.deadRows)
        Gauge(label: WorkerMetrics.Name.claimIndexBytes).record(health.claimIndexBytes)
        Gauge(label: WorkerMetrics.Name.claimTurnP99).record((health.claimTurnP99Milliseconds ?? 0) / 1000)
        return seen
    }

    private func gauge(_ key: QueueState) -> Gauge {
        Gauge(label: WorkerMetrics.Name.queueDepth, dimensions: [("queue", key.queue), ("state", key.state)])
    }
}
