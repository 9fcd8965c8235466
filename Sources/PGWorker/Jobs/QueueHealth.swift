import PQClient

/// How healthy the jobs table is for claiming: its dead rows, the size of the claim index, and
/// the oldest snapshot held open anywhere on the server.
///
/// A claim walks `jobs_claim_idx` from the front, past every entry of a job that is no longer
/// runnable until vacuum removes it. A snapshot held open anywhere (a report, a client idle in a
/// transaction, `pg_dump`) keeps vacuum from removing rows that died after it began, so claims
/// slow down the longer it stays open. This is what an operator needs to see that trap before it
/// bites (docs/operations.md).
public struct QueueHealth: Sendable, Codable, Equatable {
    /// Live rows of `pgworker.jobs`, as the statistics last counted them.
    public var liveRows: Int
    /// Dead rows of `pgworker.jobs` that vacuum has not removed yet.
    public var deadRows: Int
    /// The size of `jobs_claim_idx` in bytes.
    public var claimIndexBytes: Int
    /// Seconds since the oldest transaction that holds back vacuum's horizon began; nil when
    /// none does, or when this role may not see other sessions (it needs `pg_read_all_stats`).
    public var oldestSnapshotSeconds: Double?
    /// That transaction's backend process id and application name.
    public var oldestSnapshotHolder: String?
    /// Whether this role could see every session's snapshot (`pg_read_all_stats`).
    public var seesAllSessions: Bool

    /// Reads the health figures. Any role that can read `pgworker.jobs` may call it; without
    /// `pg_read_all_stats` it sees only its own sessions' snapshots.
    public static func read(_ connection: PQConnection) async throws -> QueueHealth {
        let row = try await connection.query("""
            SELECT coalesce((SELECT s.n_live_tup FROM pg_stat_all_tables s WHERE s.relid = 'pgworker.jobs'::regclass), 0) AS live,
                   coalesce((SELECT s.n_dead_tup FROM pg_stat_all_tables s WHERE s.relid = 'pgworker.jobs'::regclass), 0) AS dead,
                   pg_relation_size('pgworker.jobs_claim_idx') AS index_bytes,
                   pg_has_role('pg_read_all_stats', 'USAGE') AS sees_all,
                   oldest.seconds, oldest.holder
            FROM (SELECT NULL) AS one
            LEFT JOIN LATERAL (
                SELECT extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::float8 AS seconds,
                       format('pid %s%s', a.pid, CASE WHEN a.application_name <> '' THEN ', ' || a.application_name ELSE '' END) AS holder
                FROM pg_stat_activity a
                WHERE a.backend_xmin IS NOT NULL AND a.pid <> pg_backend_pid()
                ORDER BY age(a.backend_xmin) DESC
                LIMIT 1
            ) AS oldest ON true
            """).rows[0]
        return QueueHealth(
            liveRows: try row.decode("live"), deadRows: try row.decode("dead"),
            claimIndexBytes: try row.decode("index_bytes"),
            oldestSnapshotSeconds: try row.decodeIfPresent("seconds"),
            oldestSnapshotHolder: try row.decodeIfPresent("holder"),
            seesAllSessions: try row.decode("sees_all"))
    }

    /// A warning when a snapshot has been open for at least `snapshotAge` while the table holds
    /// at least `deadRows` dead rows: vacuum cannot remove them, and every claim walks past those
    /// that were runnable. Nil when all is well.
    public func warning(snapshotAge: Double = 60, deadRows minimumDead: Int = 100_000) -> String? {
        guard let seconds = oldestSnapshotSeconds, seconds >= snapshotAge,
              deadRows >= minimumDead else { return nil }
        return "a transaction open for \(Int(seconds)) s (\(oldestSnapshotHolder ?? "another session")) keeps vacuum "
            + "from removing \(deadRows) dead job rows; claims slow down while it stays open: end it (docs/operations.md)"
    }
}
