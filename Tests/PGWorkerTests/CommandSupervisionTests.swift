import Foundation
import PGWorker
import PostgresClient
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A command handler's processes, children and grandchildren included, end with its job and with
/// its worker, even when they ignore SIGTERM and the shell that started them has exited.
final class CommandSupervisionTests: XCTestCase {
    /// A command whose processes all ignore SIGTERM except its shell, which does not exec (it
    /// waits), so SIGTERM ends the shell first and leaves a child and a grandchild behind. Each
    /// process appends its pid to `pidFile`; the folder's path, in every command line, marks them.
    private struct StubbornCommand {
        let folder: URL
        var script: String { folder.appendingPathComponent("ignore-term.sh").path }
        var pidFile: String { folder.appendingPathComponent("pids").path }
        /// The shell, a child and a grandchild: three pids.
        var command: String { "echo $$ >> '\(pidFile)'; sh '\(script)' '\(pidFile)' 1 & wait" }

        static func make(for test: XCTestCase) throws -> StubbornCommand {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-stubborn-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let command = StubbornCommand(folder: folder)
            // ignore-term.sh PIDFILE DEPTH: ignores SIGTERM (so do its children), records its pid,
            // starts DEPTH more generations of itself, and runs until killed.
            try """
                trap '' TERM
                echo $$ >> "$1"
                if [ "$2" -gt 0 ]; then sh "$0" "$1" $(($2 - 1)) & fi
                while :; do sleep 0.1; done

                """.write(toFile: command.script, atomically: true, encoding: .utf8)
            test.addTeardownBlock {
                for pid in command.living() { kill(pid, SIGKILL) }
                try? FileManager.default.removeItem(at: folder)
            }
            return command
        }

        /// The pids the command's processes recorded.
        var recorded: [pid_t] {
            ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { pid_t($0) }
        }

        /// Processes (not zombies) whose command line holds the folder's path, except `excluded`.
        func living(excluding excluded: Set<pid_t> = []) -> [pid_t] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap { pid_t($0) }.filter { pid in
                guard pid != getpid(), !excluded.contains(pid),
                      String(decoding: procFile(pid, "cmdline"), as: UTF8.self).contains(folder.path) else { return false }
                let stat = String(decoding: procFile(pid, "stat"), as: UTF8.self)
                guard let nameEnd = stat.lastIndex(of: ")"), stat.distance(from: nameEnd, to: stat.endIndex) > 2 else { return false }
                let state = stat[stat.index(nameEnd, offsetBy: 2)]
                return state != "Z" && state != "X"
            }.sorted()
        }

        /// A file of /proc/PID, read to its end (/proc reports a size of 0).
        private func procFile(_ pid: pid_t, _ name: String) -> [UInt8] {
            let fd = open("/proc/\(pid)/\(name)", O_RDONLY)
            guard fd >= 0 else { return [] }
            defer { close(fd) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                bytes += buffer[0..<count]
            }
            return bytes
        }
    }

    private func add(_ app: PostgresConnection, _ task: String, maxAttempts: Int = 1) async throws -> Int64 {
        try await JobClient(connection: app).add(task, options: JobOptions(maxAttempts: maxAttempts)).id
    }

    /// kill -9 of the worker: no process of the handler survives it by more than a second.
    func testKilledWorkerTakesItsHandlersChildrenAndGrandchildrenWithIt() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let stubborn = try StubbornCommand.make(for: self)
        let worker = try WorkerProcess("pgworker", [
            "run", "--database-url", database.conninfo, "--no-sql-tasks", "--poll-interval", "0.2",
            "--task", "stubborn=\(stubborn.command)",
        ])
        let id = try await add(app, "stubborn")
        try await eventually("the shell, its child and its grandchild started") { stubborn.recorded.count == 3 }
        XCTAssertTrue(Set(stubborn.recorded).isSubset(of: stubborn.living(excluding: [worker.pid])))

        worker.signal(SIGKILL)
        let status = try await worker.waitForExit()
        XCTAssertEqual(status, 128 + SIGKILL)
        try await eventually(timeout: .seconds(1), "the handler's processes outlived the killed worker: \(stubborn.living())") {
            stubborn.living().isEmpty
        }
        let state = try await app.jobState(id)
        XCTAssertEqual(state, "running", "the dead worker's job awaits rescue")
    }
}
