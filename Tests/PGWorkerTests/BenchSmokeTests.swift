import Foundation
import PostgresClient
import XCTest

/// Runs the built `pgworker bench` with tiny sizes against the test cluster: every phase runs, the
/// summary line has the documented form with positive figures, and the throw-away database is gone.
final class BenchSmokeTests: XCTestCase {
    func testBenchPrintsSummaryLineAndDropsItsDatabase() async throws {
        let executable = try Self.pgworkerExecutable()
        let adminConninfo = try await TestCluster.start()
        let output = try await Self.run(executable, [
            "bench", "--database-url", adminConninfo,
            "--jobs", "200", "--concurrency", "20", "--rounds", "1", "--latency-samples", "20",
            "--enqueue-clients", "2", "--insert-clients", "4", "--insert-seconds", "0.3", "--in-flight", "50",
            "--explain-rows", "2000",
        ])
        XCTAssertEqual(output.status, 0, "pgworker bench failed; stderr: \(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        let last = try XCTUnwrap(lines.last, "no output")
        let pattern = #/^throughput (\d+) jobs/s = (\d+\.\d\d)x baseline; latency p50 (\d+\.\d) ms p99 (\d+\.\d) ms$/#
        let match = try XCTUnwrap(last.wholeMatch(of: pattern), "last line has the wrong form: \(last)")
        XCTAssertGreaterThan(Int(match.1) ?? 0, 0, last)
        XCTAssertGreaterThan(Double(match.2) ?? 0, 0, last)
        XCTAssertGreaterThan(Double(match.4) ?? 0, 0, last)
        XCTAssertLessThanOrEqual(Double(match.3) ?? .infinity, Double(match.4) ?? 0, "p50 above p99: \(last)")
        // Every phase reported, including scaling to 2 processes, memory, the NOTIFY test and the plan.
        for expected in ["enqueue, one INSERT per transaction", "2 process(es): baseline", "worker RSS: idle",
                         "4 clients inserting one job per transaction", "jobs_claim_idx"] {
            XCTAssertTrue(output.stdout.contains(expected), "no \"\(expected)\" in:\n\(output.stdout)")
        }

        let admin = try await PostgresConnection.connect(adminConninfo, name: "test-admin")
        let left: Int = try await admin.query(
            "SELECT count(*) AS n FROM pg_database WHERE datname LIKE 'pgworker\\_bench\\_%'").rows[0].decode("n")
        await admin.close()
        XCTAssertEqual(left, 0, "the benchmark database was not dropped")
    }

    func testBenchRejectsBadOptions() async throws {
        let output = try await Self.run(try Self.pgworkerExecutable(), ["bench", "--jobs", "0"])
        XCTAssertNotEqual(output.status, 0)
        XCTAssertTrue(output.stderr.contains("--jobs must be at least 1"), output.stderr)
    }

    /// The `pgworker` binary SwiftPM built next to this test bundle.
    private static func pgworkerExecutable() throws -> String {
        let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var folder = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        // The test runner may be inside the .xctest bundle (macOS layout) or be the bundle itself (Linux).
        while !folder.path.isEmpty, folder.path != "/" {
            let candidate = folder.appendingPathComponent("pgworker")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate.path }
            folder.deleteLastPathComponent()
        }
        throw XCTSkip("no pgworker executable next to the test bundle; run `swift build` first")
    }

    private struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion; its output is small enough to sit in the pipes until it exits.
    private static func run(_ executable: String, _ arguments: [String]) async throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "DATABASE_URL")
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let status = await withCheckedContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: -1)
            }
        }
        return Output(
            status: status,
            stdout: String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }
}
