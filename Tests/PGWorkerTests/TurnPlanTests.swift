import Foundation
import PGWorker
import PQClient
import XCTest

/// The plans of a worker's turn are generic and cached for the session, usually from when the
/// table was nearly empty. They must stay index scans once it holds many jobs (a sequential scan
/// per turn made a worker offered 15,000 jobs/s fall to 1,800/s in bench-sustained).
final class TurnPlanTests: XCTestCase {
    func testATurnPlannedOnAnEmptyTableScansNoJobsSequentiallyOnceTheTableIsLarge() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        try await connection.execute("VACUUM ANALYZE pgworker.jobs")
        try await connection.execute("INSERT INTO pgworker.jobs (task) SELECT 'noop' FROM generate_series(1, 200)")
        let turn = """
            SELECT count(*) FROM pgworker.complete_and_claim('w',
                coalesce((SELECT array_agg(id) FROM pgworker.jobs WHERE locked_by = 'w' AND state = 'running'), '{}'),
                array_fill(true, ARRAY[100]), array_fill(NULL::jsonb, ARRAY[100]), array_fill(NULL::text, ARRAY[100]),
                array_fill(false, ARRAY[100]), ARRAY['noop'], NULL, 100, false)
            """
        // Two turns on the small table: the session's generic plans are made now.
        try await connection.execute(turn)
        try await connection.execute(turn)
        try await connection.execute("INSERT INTO pgworker.jobs (task) SELECT 'noop' FROM generate_series(1, 50000)")
        try await connection.execute("""
            LOAD 'auto_explain';
            SET auto_explain.log_min_duration = 0;
            SET auto_explain.log_nested_statements = on;
            SET auto_explain.log_level = notice;
            SET client_min_messages = notice;
            """)
        let (_, notices) = try await connection.collectingNotices { try $0.execute(turn) }
        let inTurn = notices.filter { $0.contains("pgworker.jobs") || $0.contains("jobs j") || $0.contains("jobs w") }
        XCTAssertFalse(inTurn.isEmpty, "auto_explain showed the turn's statements")
        let sequential = notices.filter { $0.range(of: #"Seq Scan on jobs\b"#, options: .regularExpression) != nil }
        XCTAssertEqual(sequential, [], "a turn's statement scans pgworker.jobs sequentially")
        XCTAssertFalse(notices.contains { $0.contains("JIT:") }, "no statement of a turn is JIT-compiled")
    }
}
