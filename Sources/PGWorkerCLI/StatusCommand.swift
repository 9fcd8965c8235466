import ArgumentParser
import Foundation
import PGWorker
import PostgresClient

/// `pgworker status`: job counts per queue and state, and work nobody is handling.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show job counts per queue and state, and waiting tasks that no live worker handles."
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let (connection, _) = try await database.connect()
        try await Migrator(connection: connection).requireCurrent()
        let status = try await QueueStatus.read(connection)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(StatusTable.render(status))
        }
    }
}

/// Renders a ``QueueStatus`` as aligned text.
enum StatusTable {
    static func render(_ status: QueueStatus) -> String {
        let states = JobState.allCases.map(\.rawValue)
        var rows = [["queue"] + states]
        for queue in status.queues {
            rows.append([queue.queue] + states.map { String(queue.counts[$0] ?? 0) })
        }
        var lines = [table(rows)]
        if status.queues.isEmpty { lines.append("(no jobs)") }
        lines.append("")
        lines.append("live workers: \(status.liveWorkers)")
        if !status.unhandled.isEmpty {
            lines.append("")
            lines.append("waiting with no live worker to handle them:")
            lines.append(table([["task", "queue", "jobs"]] + status.unhandled.map { [$0.task, $0.queue, String($0.jobs)] }))
        }
        return lines.joined(separator: "\n")
    }

    static func table(_ rows: [[String]]) -> String {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == 0 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
