import Foundation
import PGWorker
import PQClient
import XCTest

/// Workers on two "hosts" (network namespaces with their own addresses and hostnames) reach
/// PostgreSQL over the network and share one queue.
final class MultiHostTests: XCTestCase {
    func testWorkersOnTwoHostsShareTheQueueAndRescueEachOther() async throws {
        let hostA = try await NetworkHost.create(named: "pgw-host-a", for: self)
        let hostB = try await NetworkHost.create(named: "pgw-host-b", for: self)
        // PostgreSQL is reachable over TCP on each host's link (through PgBouncer in session
        // mode, since the test cluster itself listens on a Unix socket only).
        let bouncer = try await PgBouncer.start(for: self, poolMode: "session",
                                                addresses: [hostA.gatewayAddress, hostB.gatewayAddress])
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        func url(_ host: NetworkHost) -> String {
            "host=\(host.gatewayAddress) port=\(bouncer.port) user=postgres dbname='\(database.name)'"
        }
        let common = ["--no-sql-tasks", "--concurrency", "4", "--heartbeat-interval", "0.3", "--stale-after", "2",
                      "--log-level", "warning", "--task", "where=sleep 0.02; hostname"]
        let slowPIDFile = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-slow-\(UUID().uuidString)").path
        let a = try hostA.runPgworker(["run", "--database-url", url(hostA), "--task", "slow=echo $$ > '\(slowPIDFile)'; exec sleep 30"] + common)
        let b = try hostB.runPgworker(["run", "--database-url", url(hostB)] + common)
        try await eventually(timeout: .seconds(20)) {
            try await app.query("SELECT count(*) AS n FROM pgworker.workers").rows[0].decode("n", as: Int.self) == 2
        }
        let hosts = try await app.query("SELECT array_agg(host ORDER BY host)::text AS hosts FROM pgworker.workers").rows[0].decode("hosts", as: String.self)
        XCTAssertEqual(hosts, "{pgw-host-a,pgw-host-b}")

        _ = try await JobClient(connection: app).addMany("where", jsonPayloads: Array(repeating: "{}", count: 100))
        try await eventually(timeout: .seconds(60)) { try await app.jobCount(state: "succeeded") == 100 }
        let perHost = try await app.query("""
            SELECT result #>> '{}' AS host, count(*) AS jobs, max(attempts) AS attempts FROM pgworker.jobs GROUP BY 1 ORDER BY 1
            """).rows
        XCTAssertEqual(try perHost.map { try $0.decode("host", as: String.self) }, ["pgw-host-a", "pgw-host-b"], "both hosts ran jobs")
        XCTAssertEqual(try perHost.map { try $0.decode("attempts", as: Int.self) }, [1, 1], "each job ran once")

        // Host A dies holding a job only it handles; host B's heartbeat rescues it.
        let slow = try await JobClient(connection: app).add("slow", json: "{}").id
        try await eventually { try await app.jobState(slow) == "running" }
        kill(a.pid, SIGKILL)
        try await eventually(timeout: .seconds(15)) { try await app.jobState(slow) == "retryable" }
        let remaining = try await app.query("SELECT array_agg(host)::text AS hosts FROM pgworker.workers").rows[0].decode("hosts", as: String.self)
        XCTAssertEqual(remaining, "{pgw-host-b}")
        let bStatus = await b.terminate()
        XCTAssertEqual(bStatus, 0)
        // The killed worker's command outlives it (its own process group); end it too.
        if let text = try? String(contentsOfFile: slowPIDFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: slowPIDFile)
        _ = await a.terminate()
    }
}
