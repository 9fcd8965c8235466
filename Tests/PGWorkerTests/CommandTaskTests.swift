import PGWorker
import PQClient
import XCTest

final class CommandTaskTests: XCTestCase {
    func testExitCodesStdoutAndStdin() async throws {
        let database = try await TestDatabase.create(for: self)
        var tasks = TaskRegistry()
        tasks.register("json_out", handler: CommandTask(command: #"printf '{"got": %s, "job": %s}' "$(cat)" "$PGWORKER_JOB_ID""#))
        tasks.register("text_out", handler: CommandTask(command: "echo plain words"))
        tasks.register("silent", handler: CommandTask(command: "true"))
        tasks.register("fails", handler: CommandTask(command: "echo partial; echo 'it broke' >&2; exit 3"))
        try await withTestWorker(database, tasks: tasks) { running in
            let app = try await database.connect("app")
            let client = JobClient(connection: app)
            let json = try await client.add("json_out", json: #"{"a": [1, 2]}"#).id
            let text = try await client.add("text_out").id
            let silent = try await client.add("silent").id
            let fails = try await client.add("fails", options: JobOptions(maxAttempts: 1)).id

            try await eventually {
                try await app.query("SELECT count(*) AS n FROM pgworker.jobs WHERE state IN ('succeeded', 'dead')").rows[0].decode("n", as: Int.self) == 4
            }
            func column(_ id: Int64, _ name: String) async throws -> String? {
                try await app.query("SELECT state, result::text AS result, last_error FROM pgworker.jobs WHERE id = $1", [id]).rows[0][name]
            }
            let jsonResult = try await column(json, "result")
            XCTAssertEqual(jsonResult, #"{"got": {"a": [1, 2]}, "job": \#(json)}"#)
            let textResult = try await column(text, "result")
            XCTAssertEqual(textResult, #""plain words""#)
            let silentResult = try await column(silent, "result")
            XCTAssertNil(silentResult)
            let failState = try await column(fails, "state")
            XCTAssertEqual(failState, "dead")
            let failError = try await column(fails, "last_error")
            XCTAssertEqual(failError, "command exited with status 3; stderr: it broke")
        }
    }
}
