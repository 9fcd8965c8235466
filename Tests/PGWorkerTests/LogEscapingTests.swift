import Foundation
import PGWorker
import XCTest

/// A queue name is data from whoever enqueues: it must not forge log lines or drive the terminal.
final class LogEscapingTests: XCTestCase {
    /// Runs `pgworker run` with `format` until a job in `queue` has been logged as succeeded; returns stderr's lines.
    private func logLines(format: String, queue: String) async throws -> [String] {
        let database = try await TestDatabase.create(for: self)
        let worker = try TestProcess(executable: BuiltProducts.path("pgworker"), ["run", "--database-url", database.conninfo, "--no-sql-tasks", "--task", "log_probe=true",
                                     "--log-format", format])
        let app = try await database.connect("app")
        let id = try await JobClient(connection: app).add("log_probe", json: "{}", options: JobOptions(queue: queue)).id
        try await eventually { try await app.jobState(id) == "succeeded" }
        _ = try await worker.waitForLine { $0.contains("job succeeded") }
        _ = await worker.terminate()
        return worker.stderrLines
    }

    func testNewlineInQueueNameDoesNotForgeATextLogLine() async throws {
        let forged = "2026-01-01T00:00:00+0000 critical pgworker: [PGWorker] FORGED database wiped"
        let lines = try await logLines(format: "text", queue: "mail\n\(forged)\r\u{1B}[2K\u{1B}]0;title\u{07}")
        let succeeded = try XCTUnwrap(lines.first { $0.contains("job succeeded") }, lines.joined(separator: "\n"))
        XCTAssertEqual(lines.filter { $0.contains("FORGED") }.count, 1, "the name stays on its event's line:\n" + lines.joined(separator: "\n"))
        XCTAssertTrue(succeeded.contains(#"queue=mail\n2026-01-01T00:00:00+0000 critical"#), succeeded)
        for line in lines {
            XCTAssertNotNil(line.firstMatch(of: #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} [a-z]+ /#), "every line is a log event: \(line)")
            XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "no control characters reach the terminal: \(line)")
        }
    }

    func testJSONLogKeepsEveryLineBreakAndControlCharacterEscaped() async throws {
        let queue = "mail\n{\"level\":\"critical\"}\u{2028}\u{2029}\u{85}\u{1B}[2K\u{7F}\u{9B}end"
        let lines = try await logLines(format: "json", queue: queue)
        let succeeded = try XCTUnwrap(lines.first { $0.contains("job succeeded") })
        for line in lines {
            XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{2028}" || $0 == "\u{2029}" },
                           "escaped, not raw: \(line.debugDescription)")
        }
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(succeeded.utf8)) as? [String: Any])
        XCTAssertEqual(object["queue"] as? String, queue, "and still decodes to the same text")
    }
}
