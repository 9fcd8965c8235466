import PQClient

/// Concurrent enqueuers: `clients` connections, each inserting one job per transaction (an
/// autocommit INSERT) for `duration`. Every commit that enqueued a runnable job sends a NOTIFY,
/// and PostgreSQL serialises such commits on one cluster-wide lock; this shows what that costs.
struct InsertBenchmark: Sendable {
    let database: BenchDatabase
    let clients: Int
    let duration: Duration

    /// Inserts for `duration` and returns committed transactions per second.
    /// - Parameter notify: false sets `pgworker.notify = 'off'` for the session (no NOTIFY).
    func run(task: String, notify: Bool) async throws -> Double {
        var connections: [PQConnection] = []
        for index in 0..<clients {
            let connection = try await database.connect("bench-insert-\(index + 1)")
            if !notify { try await connection.execute("SET pgworker.notify = 'off'") }
            connections.append(connection)
        }
        let started = ContinuousClock.now
        let deadline = started + duration
        let connectionsInUse = connections
        let committed = try await withThrowingTaskGroup(of: Int.self) { group in
            for connection in connectionsInUse {
                group.addTask {
                    var count = 0
                    while ContinuousClock.now < deadline {
                        try await connection.queryPrepared("INSERT INTO pgworker.jobs (task) VALUES ($1)", [task])
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let rate = Double(committed) / (ContinuousClock.now - started).seconds
        for connection in connections { await connection.close() }
        return rate
    }
}
