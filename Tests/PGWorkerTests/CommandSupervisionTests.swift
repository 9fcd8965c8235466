import Foundation
import PGWorker
import PQClient
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
    /// When `closing`, the child and grandchild close every descriptor they inherited, the
    /// worker's lifeline among them, so that only the worker's signals to the group can end them.
    private struct StubbornCommand {
        let folder: URL
        let closing: Bool
        var script: String { folder.appendingPathComponent("ignore-term.sh").path }
        var pidFile: String { folder.appendingPathComponent("pids").path }
        private var arguments: String { "'\(pidFile)' \(closing ? "close" : "keep")" }
        /// The shell, a child and a grandchild: three pids.
        var command: String { "echo $$ >> '\(pidFile)'; bash '\(script)' 1 \(arguments) & wait" }
        /// A shell that exits at once and leaves a SIGTERM-ignoring child: two pids. (The shell
        /// ignores SIGTERM too, so the child does from its very start.)
        var leavingOneBehind: String { "trap '' TERM; echo $$ >> '\(pidFile)'; bash '\(script)' 0 \(arguments) & echo started" }

        static func make(for test: XCTestCase, closingInheritedDescriptors closing: Bool) throws -> StubbornCommand {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-stubborn-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let command = StubbornCommand(folder: folder, closing: closing)
            // ignore-term.sh DEPTH PIDFILE close|keep: ignores SIGTERM (so do its children),
            // closes the descriptors it inherited above 2 if told to (255 is bash's own, the
            // script), records its pid, starts DEPTH more generations of itself, runs until killed.
            try """
                trap '' TERM
                if [ "$3" = close ]; then
                    for fd in /proc/$$/fd/*; do
                        fd=${fd##*/}
                        if [ "$fd" -gt 2 ] && [ "$fd" -lt 255 ]; then eval "exec $fd<&-"; fi
                    done
                fi
                echo $$ >> "$2"
                if [ "$1" -gt 0 ]; then bash "$0" $(($1 - 1)) "$2" "$3" & fi
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

    private func add(_ app: PQConnection, _ task: String, maxAttempts: Int = 1) async throws -> Int64 {
        try await JobClient(connection: app).add(task, options: JobOptions(maxAttempts: maxAttempts)).id
    }

    private func lastError(_ app: PQConnection, _ id: Int64) async throws -> String? {
        try await app.query("SELECT last_error FROM pgworker.jobs WHERE id = $1", [id]).rows[0].decodeIfPresent("last_error")
    }

    /// kill -9 of the worker: no process of the handler survives it by more than a second.
    func testKilledWorkerTakesItsHandlersChildrenAndGrandchildrenWithIt() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let stubborn = try StubbornCommand.make(for: self, closingInheritedDescriptors: false)
        let worker = try TestProcess(executable: BuiltProducts.path("pgworker"), [
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

    /// A timeout stops the whole group although the shell exits on SIGTERM and the rest ignore
    /// it: all gone by the time the timeout is recorded, shortly after the grace period. The
    /// processes dropped the lifeline, so the worker's own signals did it.
    func testTimeoutKillsWhatTheExitedShellLeftBehind() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let stubborn = try StubbornCommand.make(for: self, closingInheritedDescriptors: true)
        var tasks = TaskRegistry()
        tasks.register("stubborn", handler: CommandTask(command: stubborn.command, killGracePeriod: .milliseconds(500)),
                       timeout: .seconds(1))
        try await withTestWorker(database, tasks: tasks) { _ in
            let id = try await add(app, "stubborn")
            try await eventually { stubborn.recorded.count == 3 }
            let started = ContinuousClock.now
            try await eventually { try await app.jobState(id) == "dead" }
            XCTAssertEqual(stubborn.living(), [], "every process of the handler was gone when the timeout was recorded")
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(4), "about the timeout plus the grace period")
            let error = try await lastError(app, id)
            XCTAssertEqual(error, "timed out after 1 s and was cancelled")
        }
    }

    /// A cancel request does the same.
    func testCancelKillsWhatTheExitedShellLeftBehind() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let stubborn = try StubbornCommand.make(for: self, closingInheritedDescriptors: true)
        var tasks = TaskRegistry()
        tasks.register("stubborn", handler: CommandTask(command: stubborn.command, killGracePeriod: .milliseconds(500)))
        try await withTestWorker(database, tasks: tasks) { _ in
            let id = try await add(app, "stubborn")
            try await eventually { stubborn.recorded.count == 3 }
            let cancelled = ContinuousClock.now
            try await app.query("SELECT pgworker.cancel_job($1)", [id])
            try await eventually { try await app.jobState(id) == "cancelled" }
            XCTAssertEqual(stubborn.living(), [], "every process of the handler was gone when the cancellation was recorded")
            XCTAssertLessThan(ContinuousClock.now - cancelled, .seconds(3), "about the grace period")
            let error = try await lastError(app, id)
            XCTAssertEqual(error, "cancelled: by request")
        }
    }

    /// The worker's shutdown (its grace period over) does the same, before the worker exits.
    /// (The CLI's commands have the default 5 s kill grace period.)
    func testShutdownKillsWhatTheExitedShellLeftBehind() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let stubborn = try StubbornCommand.make(for: self, closingInheritedDescriptors: true)
        let worker = try TestProcess(executable: BuiltProducts.path("pgworker"), [
            "run", "--database-url", database.conninfo, "--no-sql-tasks", "--poll-interval", "0.2",
            "--shutdown-grace", "0.3", "--task", "stubborn=\(stubborn.command)",
        ])
        let id = try await add(app, "stubborn", maxAttempts: 5)
        try await eventually { stubborn.recorded.count == 3 }
        worker.signal(SIGTERM)
        // Recorded before the worker exits (and so before its lifeline could do the work instead).
        try await eventually(timeout: .seconds(15)) { try await app.jobState(id) == "retryable" }
        XCTAssertEqual(stubborn.living(excluding: [worker.pid]), [], "every process of the handler was gone when the shutdown was recorded")
        let status = try await worker.waitForExit(timeout: .seconds(10))
        XCTAssertEqual(status, 0, worker.output)
    }

    /// Processes a command leaves in its group when it exits by itself are stopped (SIGTERM,
    /// grace period, SIGKILL) before its outcome is recorded, so they cannot overlap the next job
    /// (a `lock_key` holds).
    func testProcessesLeftBehindByAFinishedCommandAreStopped() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let stubborn = try StubbornCommand.make(for: self, closingInheritedDescriptors: true)
        var tasks = TaskRegistry()
        tasks.register("leaves_one", handler: CommandTask(command: stubborn.leavingOneBehind, killGracePeriod: .milliseconds(500)))
        try await withTestWorker(database, tasks: tasks) { _ in
            let id = try await add(app, "leaves_one")
            try await eventually { try await app.jobState(id) == "succeeded" }
            XCTAssertEqual(stubborn.recorded.count, 2, "the shell and the child it left")
            XCTAssertEqual(stubborn.living(), [], "the child was gone when the outcome was recorded")
            let result: String? = try await app.query("SELECT result::text AS result FROM pgworker.jobs WHERE id = $1", [id]).rows[0]["result"]
            XCTAssertEqual(result, #""started""#)
        }
    }
}
