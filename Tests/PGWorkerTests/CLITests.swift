import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PGWorker
import PQClient
import XCTest

/// The `pgworker` binary, run as a user would.
final class CLITests: XCTestCase {
    func testAddRunAndStatusAgainstADatabaseURL() async throws {
        let database = try await TestDatabase.create(for: self)
        let url = database.conninfo
        let added = try await runProduct("pgworker", ["add", "--database-url", url, "echo", #"{"n": 1}"#, "--queue", "q1", "--priority", "3"])
        XCTAssertEqual(added.status, 0, added.stderr)
        let id = try XCTUnwrap(Int64(added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        _ = try await runProduct("pgworker", ["add", "--database-url", url, "nobody_handles_this"])
        let admin = try await database.connect()
        try await admin.execute("SELECT pgworker.pause_queue('reports'); SELECT pgworker.set_queue_limit('mail', 3)")

        let status = try await runProduct("pgworker", ["status", "--database-url", url])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("paused or capped queues:"), status.stdout)
        let controlLines = status.stdout.split(separator: "\n").filter { $0.hasPrefix("mail ") || $0.hasPrefix("reports ") }
            .map { $0.split(separator: " ").joined(separator: " ") }
        XCTAssertEqual(controlLines, ["mail no 3", "reports yes -"], status.stdout)
        XCTAssertTrue(status.stdout.contains("waiting with no live worker to handle them:"), status.stdout)
        XCTAssertTrue(status.stdout.contains("nobody_handles_this"), status.stdout)

        let worker = try TestProcess("pgworker", ["run", "--database-url", url, "--task", "echo=cat", "--queue", "q1", "--queue", "default"])
        let app = try await database.connect()
        try await eventually { try await app.jobState(id) == "succeeded" }
        let result: String = try await app.query("SELECT result::text AS r FROM pgworker.jobs WHERE id = $1", [id]).rows[0].decode("r")
        XCTAssertEqual(result, #"{"n": 1}"#)

        let json = try await runProduct("pgworker", ["status", "--json", "--database-url", url])
        let decoded = try JSONDecoder().decode(QueueStatus.self, from: Data(json.stdout.utf8))
        XCTAssertEqual(decoded.liveWorkers, 1)
        XCTAssertEqual(decoded.controls?.map(\.queue), ["mail", "reports"])
        XCTAssertEqual(decoded.queues.first { $0.queue == "q1" }?.counts["succeeded"], 1)
        XCTAssertEqual(decoded.unhandled.map(\.task), ["nobody_handles_this"], "the running worker does not handle it either")

        worker.signal(SIGTERM)
        let exit = try await worker.waitForExit()
        XCTAssertEqual(exit, 0, worker.output)
    }

    func testWithNoDatabaseConfiguredAPrivateClusterIsStartedInTheWorkingDirectory() async throws {
        let directory = URL(fileURLWithPath: "/tmp/pgworker-cli-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let cluster = LocalPostgres(directory: directory.appendingPathComponent(".pgworker"))
        addTeardownBlock {
            try? await cluster.stop()
            try? FileManager.default.removeItem(at: directory)
        }
        let unset = ["DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"]
        let first = try await runProduct("pgworker", ["add", "hello"], removingEnvironment: unset, in: directory)
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(first.stdout, "1\n")
        // The second command reuses the running cluster and its data.
        let second = try await runProduct("pgworker", ["add", "hello"], removingEnvironment: unset, in: directory)
        XCTAssertEqual(second.stdout, "2\n")
        let status = try await runProduct("pgworker", ["status", "--json"], removingEnvironment: unset, in: directory)
        let decoded = try JSONDecoder().decode(QueueStatus.self, from: Data(status.stdout.utf8))
        XCTAssertEqual(decoded.queues.first?.counts["available"], 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.appendingPathComponent(".pgworker/data/PG_VERSION").path))
    }
}
