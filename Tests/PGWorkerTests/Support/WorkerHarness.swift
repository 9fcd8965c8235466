import Logging
import PGWorker
import PGWorkerTesting
import PQClient
import Synchronization
import XCTest

/// Counts how often each job ran, across tasks and workers.
final class ExecutionLog: Sendable {
    private let counts = Mutex<[Int64: Int]>([:])

    func record(_ id: Int64) { counts.withLock { $0[id, default: 0] += 1 } }
    var snapshot: [Int64: Int] { counts.withLock { $0 } }
}

extension PQConnection {
    /// The state of one job.
    func jobState(_ id: Int64) throws -> String? {
        try query("SELECT state FROM pgworker.jobs WHERE id = $1", [id]).first?.decode("state")
    }

    /// Whether every listed job is in `state`.
    func jobsAll(_ ids: [Int64], in state: String) throws -> Bool {
        try query("SELECT bool_and(state = $2) AS all FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [ids, state])
            .rows[0].decodeIfPresent("all") ?? false
    }

    /// Moves every job that application-table triggers staged into pgworker.jobs, as a worker's
    /// next claim would. Rows a concurrent mover holds are skipped (they are its to move).
    func moveStagedJobs() throws {
        while try query("SELECT pgworker.move_staged_jobs() AS moved").rows[0].decode("moved", as: Int.self) > 0 {}
    }

    /// How many jobs are in each state.
    func jobCount(state: String) throws -> Int {
        try query("SELECT count(*) AS n FROM pgworker.jobs WHERE state = $1", [state]).rows[0].decode("n")
    }
}

/// Runs `body` with a worker on `database` that is registered and LISTENing, and always stops
/// it afterwards (``PGWorkerTesting/withRunningWorker(conninfo:tasks:configuration:logger:isolation:_:)``
/// with the tests' defaults: a 200 ms poll, warnings and worse logged).
func withTestWorker<Result>(
    _ database: TestDatabase, tasks: TaskRegistry,
    configure: (inout WorkerConfiguration) -> Void = { _ in },
    isolation: isolated (any Actor)? = #isolation,
    _ body: (Worker) async throws -> Result
) async throws -> Result {
    var configuration = WorkerConfiguration()
    configuration.pollInterval = .milliseconds(200)
    configure(&configuration)
    var logger = Logger(label: "test-worker")
    logger.logLevel = .warning
    return try await withRunningWorker(conninfo: database.conninfo, tasks: tasks, configuration: configuration,
                                       logger: logger, isolation: isolation, body)
}

/// Like ``withTestWorker(_:tasks:configure:isolation:_:)`` with `count` workers, each ready
/// before the next starts; all are stopped afterwards, the last started first.
func withTestWorkers<Result>(
    _ count: Int, _ database: TestDatabase, tasks: TaskRegistry,
    configure: (inout WorkerConfiguration) -> Void = { _ in },
    isolation: isolated (any Actor)? = #isolation,
    _ body: ([Worker]) async throws -> Result
) async throws -> Result {
    if count == 0 { return try await body([]) }
    return try await withTestWorker(database, tasks: tasks, configure: configure, isolation: isolation) { first in
        try await withTestWorkers(count - 1, database, tasks: tasks, configure: configure, isolation: isolation) { others in
            try await body([first] + others)
        }
    }
}

extension PQConnection {
    /// The notifications on `channel` that this LISTENing connection receives before a sentinel
    /// that `sender` notifies now. NOTIFYs are delivered in commit order, so these are exactly
    /// the ones committed before this call: "none arrived" is then a fact, not a timeout.
    func notificationsBeforeSentinel(on channel: String, from sender: PQConnection,
                                     timeout: Duration = .seconds(10)) async throws -> [PQNotification] {
        let sentinel = "sentinel-\(UInt64.random(in: 0...UInt64.max))"
        try await sender.query("SELECT pg_notify($1, $2)", [channel, sentinel])
        var received: [PQNotification] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for notification in try waitForNotifications(timeout: deadline - ContinuousClock.now) {
                if notification.channel == channel && notification.payload == sentinel { return received }
                received.append(notification)
            }
        }
        throw PQError(kind: .connection, message: "the sentinel notification never arrived")
    }
}
