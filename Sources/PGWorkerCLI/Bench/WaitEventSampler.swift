import PQClient

/// Samples what the benchmark database's active sessions are waiting for (`pg_stat_activity`),
/// to show what limits a measurement: `Lock:object` is the lock PostgreSQL takes to serialise
/// the commits of transactions that sent a NOTIFY; `IO:WALSync` and `LWLock:WALWrite` are WAL
/// flushes; `CPU` means running (or waiting for a core).
struct WaitEventSampler: Sendable {
    let connection: PQConnection

    /// Samples every 20 ms for `duration` and returns each wait's share of all samples, largest first.
    func sample(for duration: Duration) async throws -> [(wait: String, share: Double)] {
        var counts: [String: Int] = [:]
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            let rows = try await connection.queryPrepared(
                """
                SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS wait, count(*) AS sessions
                FROM pg_stat_activity
                WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()
                GROUP BY 1
                """
            ).rows
            for row in rows { counts[try row.decode("wait"), default: 0] += try row.decode("sessions", as: Int.self) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let total = Double(max(1, counts.values.reduce(0, +)))
        return counts.map { ($0.key, Double($0.value) / total) }.sorted { $0.share > $1.share }
    }

    /// The top waits as text, e.g. `Lock:object 81%, IO:WALSync 7%, CPU 6%`.
    static func describe(_ shares: [(wait: String, share: Double)], top: Int = 3) -> String {
        shares.prefix(top).map { "\($0.wait) \(Int(($0.share * 100).rounded()))%" }.joined(separator: ", ")
    }
}
