import ArgumentParser
import Foundation
import PGWorker
import PQClient

/// `pgworker status`: job counts per queue and state, and work nobody is handling.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show job counts per queue and state, and waiting tasks that no live worker handles."
    )

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(name: .customLong("watch"), help: "Refresh every SECONDS until interrupted (JSON: one object per line).")
    var watchSeconds: Double?

    func validate() throws {
        if let watchSeconds, watchSeconds < 0.1 { throw ValidationError("--watch needs at least 0.1 seconds") }
    }

    func run() async throws {
        let (connection, _) = try await database.connect()
        try await Migrator(connection: connection).requireCurrent()
        guard let watchSeconds else {
            print(try await render(QueueStatus.read(connection), compact: false))
            return
        }
        while !Task.isCancelled {
            let status = try await QueueStatus.read(connection)
            let text = try render(status, compact: true)
            if json {
                print(text)
            } else {
                // Clear the screen and home the cursor, then a timestamp and the table.
                print("\u{1B}[H\u{1B}[2J" + "pgworker status  \(Date().formatted(.iso8601))  (every \(watchSeconds) s; Ctrl-C to stop)\n\n" + text)
            }
            fflush(nil)  // all output streams; stdout is block-buffered when piped
            try await Task.sleep(for: .milliseconds(Int(watchSeconds * 1000)))
        }
    }

    private func render(_ status: QueueStatus, compact: Bool) throws -> String {
        guard json else { return StatusTable.render(status) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = compact ? [.sortedKeys] : [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(status), as: UTF8.self)
    }
}

/// Renders a ``QueueStatus`` as aligned text.
enum StatusTable {
    static func render(_ status: QueueStatus) -> String {
        let states = QueueStatus.countColumns
        var rows = [["queue"] + states]
        for queue in status.queues {
            rows.append([queue.queue] + states.map { String(queue.counts[$0] ?? 0) })
        }
        var lines = [table(rows)]
        if status.queues.isEmpty { lines.append("(no jobs)") }
        lines.append("")
        lines.append("live workers: \(status.liveWorkers)")
        if let silent = status.health?.runningWithSilentWorker, silent > 0 {
            let rescue = status.liveWorkers > 0 ? "a live worker puts them back once their worker counts as stale"
                : "no live worker can put them back: start one"
            lines.append("WARNING: \(silent) running job\(silent == 1 ? "" : "s") belong\(silent == 1 ? "s" : "") to a worker "
                + "that stopped heartbeating; \(rescue)")
        }
        if let controls = status.controls, !controls.isEmpty {
            lines.append("")
            lines.append("paused or capped queues:")
            lines.append(table([["queue", "paused", "max running"]] + controls.map {
                [$0.queue, $0.paused ? "yes" : "no", $0.maxRunning.map(String.init) ?? "-"]
            }))
        }
        if let health = status.health {
            lines.append("")
            let snapshot = health.oldestSnapshotSeconds.map { "\(Int($0)) s (\(health.oldestSnapshotHolder ?? "?"))" }
                ?? (health.seesAllSessions ? "none" : "not visible to this role (needs pg_read_all_stats)")
            lines.append("jobs table: \(health.liveRows) live rows, \(health.deadRows) dead rows; claim index "
                + "\(health.claimIndexBytes / 1024) kB; oldest open transaction: \(snapshot)")
            if let p99 = health.claimTurnP99Milliseconds {
                lines.append("claim turns: p99 \(QueueHealth.formattedMilliseconds(p99)) ms over \(health.claimTurns ?? 0) turns "
                    + "(slowest live worker: \(health.slowestClaimingWorker ?? "?"))")
            }
            if let warning = health.warning() { lines.append("WARNING: " + warning) }
        }
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
