import Foundation
@testable import PGWorker
import PQClient
import XCTest

/// The operator's view of the trap that slows claims: a snapshot held open while jobs finish.
final class QueueHealthTests: XCTestCase {
    func testAPinnedSnapshotAndTheDeadRowsBehindItAreReportedWithAWarning() async throws {
        let database = try await TestDatabase.create(for: self)
        let admin = try await database.connect("admin")
        let idle = try await QueueHealth.read(admin)
        XCTAssertNil(idle.oldestSnapshotSeconds, "no other session holds a snapshot")
        XCTAssertNil(idle.warning(snapshotAge: 0, deadRows: 1))

        // A report holds a snapshot open; meanwhile 500 jobs are enqueued and finished.
        let report = try await PQConnection.connect(database.conninfo, name: "slow-report")
        try await report.execute("SET application_name = 'slow-report'; BEGIN ISOLATION LEVEL REPEATABLE READ")
        try await report.query("SELECT count(*) FROM pgworker.jobs")
        try await admin.execute("INSERT INTO pgworker.jobs (task) SELECT 'x' FROM generate_series(1, 500)")
        try await admin.execute("UPDATE pgworker.jobs SET state = 'succeeded', finished_at = now()")
        try await admin.execute("VACUUM pgworker.jobs")
        var health = try await QueueHealth.read(admin)
        try await eventually("the statistics count the dead rows") {
            health = try await QueueHealth.read(admin)
            return health.deadRows >= 500
        }
        XCTAssertNotNil(health.oldestSnapshotSeconds)
        XCTAssertTrue(health.oldestSnapshotHolder?.contains("slow-report") == true, "\(String(describing: health.oldestSnapshotHolder))")
        XCTAssertTrue(health.seesAllSessions)
        let warning = try XCTUnwrap(health.warning(snapshotAge: 0, deadRows: 100))
        XCTAssertTrue(warning.contains("slow-report") && warning.contains("dead job rows"), warning)
        XCTAssertNil(health.warning(), "below the default thresholds: 60 s, 100,000 dead rows")

        // Once the snapshot ends, vacuum removes the rows and the warning goes.
        try await report.execute("COMMIT")
        try await admin.execute("VACUUM pgworker.jobs")
        try await eventually("vacuum removed the dead rows") {
            health = try await QueueHealth.read(admin)
            return health.deadRows < 500 && health.oldestSnapshotSeconds == nil
        }
        XCTAssertNil(health.warning(snapshotAge: 0, deadRows: 100))
        let status = try await QueueStatus.read(admin)
        XCTAssertNotNil(status.health)
    }
}
