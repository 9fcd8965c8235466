import Logging
import Metrics
import PostgresClient
import ServiceLifecycle

/// Samples job counts per queue and state from `pgworker.queue_stats` at a modest interval and
/// reports them as the `pgworker_queue_depth` gauge (dimensions `queue`, `state`).
///
/// Counts are table-wide, so one sampler per deployment is enough; `pgworker run --metrics-port`
/// starts one. A queue/state pair that empties is reported as 0 rather than left at its last value.
public struct QueueDepthSampler: Service {
    private let conninfo: String
    private let interval: Duration
    private let logger: Logger

    /// - Parameters:
    ///   - conninfo: the database.
    ///   - interval: time between samples; each is one `GROUP BY` over the jobs table.
    public init(conninfo: String, interval: Duration = .seconds(15), logger: Logger = Logger(label: "pgworker.metrics")) {
        self.conninfo = conninfo
        self.interval = interval
        self.logger = logger
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
            try? await Task.sleep(for: interval)
        }
        await connection.close()
    }

    private struct QueueState: Hashable {
        let queue: String
        let state: String
    }

    private func sample(_ connection: PostgresConnection, previouslyReported: Set<QueueState>) async throws -> Set<QueueState> {
        let result = try await connection.query("SELECT queue, state, jobs FROM pgworker.queue_stats")
        var seen: Set<QueueState> = []
        for row in result.rows {
            let key = QueueState(queue: try row.decode("queue"), state: try row.decode("state"))
            seen.insert(key)
            gauge(key).record(try row.decode("jobs", as: Int.self))
        }
        for gone in previouslyReported.subtracting(seen) {
            gauge(gone).record(0)
        }
        return seen
    }

    private func gauge(_ key: QueueState) -> Gauge {
        Gauge(label: WorkerMetrics.Name.queueDepth, dimensions: [("queue", key.queue), ("state", key.state)])
    }
}
