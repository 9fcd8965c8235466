import Foundation
@testable import PGWorker
import PQClient
import XCTest

/// A job that comes back to the queue without having run to an outcome -- rescued from a dead
/// worker, released at shutdown, retried by hand -- keeps its place in claim order, ahead of jobs
/// enqueued after it; a failure's backoff keeps its delay.
final class ClaimOrderTests: XCTestCase {
    private func claimOne(_ connection: PQConnection, _ worker: String) async throws -> Int64? {
        try await connection.query("SELECT id FROM pgworker.claim_jobs($1, ARRAY['t'], NULL, 1)", [worker])
            .rows.first?.decode("id")
    }

    func testRescuedReleasedAndRetriedJobsKeepTheirPlace() async throws {
        let database = try await TestDatabase.create(for: self)
        let connection = try await database.connect()
        let old: Int64 = try await connection.query("SELECT id FROM pgworker.add_job('t', run_at => now() - interval '1 minute')")
            .rows[0].decode("id")
        // Rescue: claimed by a worker that never registered (so is dead), then rescued.
        let claimed = try await claimOne(connection, "dead-worker")
        XCTAssertEqual(claimed, old)
        try await connection.query("SELECT pgworker.add_job('t')")
        try await connection.query("SELECT * FROM pgworker.rescue_stale_jobs('0 seconds')")
        let afterRescue = try await claimOne(connection, "w2")
        XCTAssertEqual(afterRescue, old, "the rescued job comes before the newer one")
        // Release (shutdown gives back an unstarted job).
        try await connection.query("SELECT pgworker.release_jobs('w2')")
        let afterRelease = try await claimOne(connection, "w3")
        XCTAssertEqual(afterRelease, old, "the released job comes before the newer one")
        // Retry by hand of a dead job.
        try await connection.query("UPDATE pgworker.jobs SET state = 'dead', finished_at = now(), locked_by = NULL WHERE id = $1", [old])
        try await connection.query("SELECT * FROM pgworker.retry_job($1)", [old])
        let afterRetry = try await claimOne(connection, "w4")
        XCTAssertEqual(afterRetry, old, "the retried job comes before the newer one")
    }
}
