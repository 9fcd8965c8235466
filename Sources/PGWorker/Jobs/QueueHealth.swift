import PQClient

/// How healthy the jobs table is for claiming: its dead rows, the size of the claim index, the
/// oldest snapshot held open anywhere on the server, and how long the slowest live worker's claim
/// turns take.
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
    /// The 99th percentile of claim-turn round trips, in milliseconds, of the live worker whose
    /// turns were slowest over its last heartbeat interval; nil when no live worker has reported.
    public var claimTurnP99Milliseconds: Double?
    /// That worker's id.
    public var slowestClaimingWorker: String?
    /// How many claim turns that percentile is over. Workers with at least ``minimumTurns`` come
    /// first: a p99 of a handful of turns says little.
    public var claimTurns: Int?

    /// Running jobs whose worker has not heartbeated for 30 s (killed, or cut off): a live worker
    /// rescues them once their worker counts as stale; with none, they stay `running`. Nil in JSON
    /// written before this field existed.
    public var runningWithSilentWorker: Int?

    /// Claim turns a worker's p99 must be over to make the warning (a paused queue's worker, say,
    /// takes a few slow turns that mean nothing).
    public static let minimumTurns = 20

    /// Reads the health figures. Any role that can read `pgworker.jobs` may call it; without
    /// `pg_read_all_stats` it sees only its own sessions' snapshots.
    public static func read(_ connection: PQConnection) async throws -> QueueHealth {
        let row = try await connection.query("""
            SELECT coalesce((SELECT s.n_live_tup FROM pg_stat_all_tables s WHERE s.relid = 'pgworker.jobs'::regclass), 0) AS live,
                   coalesce((SELECT s.n_dead_tup FROM pg_stat_all_tables s WHERE s.relid = 'pgworker.jobs'::regclass), 0) AS dead,
                   pg_relation_size('pgworker.jobs_claim_idx') AS index_bytes,
                   pg_has_role('pg_read_all_stats', 'USAGE') AS sees_all,
                   (SELECT count(*) FROM pgworker.jobs j
                    WHERE j.state = 'running'
                      AND NOT EXISTS (SELECT 1 FROM pgworker.workers w
                                      WHERE w.id = j.locked_by AND w.heartbeat_at > now() - interval '30 seconds')) AS silent,
                   oldest.seconds, oldest.holder, claims.p99_ms, claims.worker, claims.turns
            FROM (SELECT NULL) AS one
            LEFT JOIN LATERAL (
                -- What holds back vacuum on pgworker.jobs: a snapshot (backend_xmin) or a
                -- transaction id (backend_xid: a transaction that wrote and was left open) of a
                -- session in this database or in none (a walsender), or a prepared transaction
                -- here. Sessions in other databases do not hold back this table's horizon.
                SELECT h.seconds, h.holder FROM (
                    SELECT greatest(age(a.backend_xmin), age(a.backend_xid)) AS xid_age,
                           extract(epoch FROM now() - coalesce(a.xact_start, a.query_start, a.backend_start))::float8 AS seconds,
                           format('pid %s%s', a.pid, CASE WHEN a.application_name <> '' THEN ', ' || a.application_name ELSE '' END) AS holder
                    FROM pg_stat_activity a
                    WHERE (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL) AND a.pid <> pg_backend_pid()
                      AND (a.datid IS NULL OR a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
                      -- A role without pg_read_all_stats sees no times of other roles' sessions:
                      -- it reports none rather than a holder without an age.
                      AND coalesce(a.xact_start, a.query_start, a.backend_start) IS NOT NULL
                    UNION ALL
                    SELECT age(p.transaction), extract(epoch FROM now() - p.prepared)::float8,
                           format('prepared transaction %s', p.gid)
                    FROM pg_prepared_xacts p
                    WHERE p.database = current_database()
                ) AS h
                ORDER BY h.xid_age DESC
                LIMIT 1
            ) AS oldest ON true
            LEFT JOIN LATERAL (
                SELECT w.claim_turn_p99_ms AS p99_ms, w.id AS worker, w.claim_turns AS turns
                FROM pgworker.workers w
                WHERE w.claim_turn_p99_ms IS NOT NULL AND w.heartbeat_at > now() - interval '30 seconds'
                ORDER BY coalesce(w.claim_turns, 0) >= $1 DESC, w.claim_turn_p99_ms DESC
                LIMIT 1
            ) AS claims ON true
            """, [Self.minimumTurns]).rows[0]
        return QueueHealth(
            liveRows: try row.decode("live"), deadRows: try row.decode("dead"),
            claimIndexBytes: try row.decode("index_bytes"),
            oldestSnapshotSeconds: try row.decodeIfPresent("seconds"),
            oldestSnapshotHolder: try row.decodeIfPresent("holder"),
            seesAllSessions: try row.decode("sees_all"),
            claimTurnP99Milliseconds: try row.decodeIfPresent("p99_ms"),
            slowestClaimingWorker: try row.decodeIfPresent("worker"),
            claimTurns: try row.decodeIfPresent("turns"),
            runningWithSilentWorker: try row.decode("silent"))
    }

    /// A warning when a snapshot has been open for at least `snapshotAge` seconds while the table
    /// holds at least `deadRows` dead rows, or while the slowest worker's claim turns take at least
    /// `claimTurnMilliseconds` at the 99th percentile (over at least ``minimumTurns`` turns):
    /// vacuum cannot remove the rows that died after the snapshot began, and every claim walks
    /// past those that were runnable. Nil when all is well.
    public func warning(snapshotAge: Double = 60, deadRows minimumDead: Int = 100_000,
                        claimTurnMilliseconds: Double = 20) -> String? {
        guard let seconds = oldestSnapshotSeconds, seconds >= snapshotAge else { return nil }
        let slowClaims = (claimTurns ?? 0) >= Self.minimumTurns && (claimTurnP99Milliseconds.map { $0 >= claimTurnMilliseconds } ?? false)
        guard deadRows >= minimumDead || slowClaims else { return nil }
        var effect = "claims slow down while it stays open"
        if let p99 = claimTurnP99Milliseconds {
            effect = "claim turns take \(Self.formattedMilliseconds(p99)) ms at p99 (\(slowestClaimingWorker ?? "a worker")) and slow down while it stays open"
        }
        return "a transaction open for \(Int(seconds)) s (\(oldestSnapshotHolder ?? "another session")) keeps vacuum "
            + "from removing the job rows that died since it began (the table has \(deadRows) dead rows); \(effect): "
            + "end it (docs/operations.md)"
    }

    /// A latency in milliseconds, with one decimal below 10 ms.
    public static func formattedMilliseconds(_ value: Double) -> String {
        value < 10 ? "\((value * 10).rounded() / 10)" : String(Int(value.rounded()))
    }
}
