import Foundation
import PGWorker
import PQClient
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Persistent command tasks: one program runs many jobs over the line protocol, is restarted when
/// it dies, and is stopped, with everything it started, on a timeout, a broken protocol, the
/// worker's stop and the worker's death.
final class PersistentCommandTests: XCTestCase {
    /// The Python example shipped in `examples/`.
    private var example: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/persistent_worker.py").path
    }

    /// A Python persistent program written to a temporary folder, with `pids` (a file each of its
    /// processes appends its pid to) and a job loop whose body is `handle` (Python, given `job`,
    /// `payload` and `reply(dict)`).
    private struct Program {
        let folder: URL
        var pidFile: String { folder.appendingPathComponent("pids").path }
        var command: String { "python3 '\(folder.appendingPathComponent("program.py").path)' '\(pidFile)'" }

        static func make(for test: XCTestCase, handle: String) throws -> Program {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-persistent-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let program = Program(folder: folder)
            let body = handle.split(separator: "\n", omittingEmptySubsequences: false).map { "        " + $0 }.joined(separator: "\n")
            try """
                import json, os, signal, subprocess, sys, time
                def record(pid):
                    with open(sys.argv[1], "a") as f:
                        f.write(f"{pid}\\n")
                record(os.getpid())
                def reply(message):
                    sys.stdout.write(json.dumps(message) + "\\n")
                    sys.stdout.flush()
                for line in sys.stdin:
                    job = json.loads(line)
                    payload = job["payload"]
                    if True:
                \(body)

                """.write(to: folder.appendingPathComponent("program.py"), atomically: true, encoding: .utf8)
            test.addTeardownBlock {
                for pid in program.recorded { kill(pid, SIGKILL) }
                try? FileManager.default.removeItem(at: folder)
            }
            return program
        }

        var recorded: [pid_t] {
            ((try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { pid_t($0) }
        }

        var living: [pid_t] { recorded.filter(isRunning) }
    }

    private struct Row {
        var state: String
        var result: String?
        var lastError: String?
        var progress: Double?
        var progressMessage: String?
    }

    private func row(_ app: PQConnection, _ id: Int64) async throws -> Row {
        let row = try await app.query("""
            SELECT state, result::text AS result, last_error, progress, progress_message FROM pgworker.jobs WHERE id = $1
            """, [id]).rows[0]
        return Row(state: try row.decode("state"), result: try row.decodeIfPresent("result"),
                   lastError: try row.decodeIfPresent("last_error"), progress: try row.decodeIfPresent("progress"),
                   progressMessage: try row.decodeIfPresent("progress_message"))
    }

    private func add(_ app: PQConnection, _ task: String, _ json: String = "{}", maxAttempts: Int = 1) async throws -> Int64 {
        try await JobClient(connection: app).add(task, json: json, options: JobOptions(maxAttempts: maxAttempts)).id
    }

    /// A persistent command that exits with status 7 at once, after appending `line` (shell
    /// text) to a file; and that file, one line per start.
    private func crashingCommand(appending line: String) throws -> (command: String, starts: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-crashloop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let starts = folder.appendingPathComponent("starts").path
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return ("\(line) >> '\(starts)'; exit 7", starts)
    }

    private func pid(inResult result: String?) -> Int? {
        guard let result, let object = try? JSONSerialization.jsonObject(with: Data(result.utf8)) as? [String: Any] else { return nil }
        return object["pid"] as? Int
    }

    /// The shipped Python example: many jobs in one process, results, progress, a retried error
    /// and a discarded one.
    func testExampleProgramRunsJobAfterJobInOneProcess() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        var tasks = TaskRegistry()
        let program = PersistentCommandTask(name: "example", command: "exec python3 '\(example)'")
        for task in ["word_count", "fail", "no_such_handler"] { tasks.register(task, handler: program) }
        try await withTestWorker(database, tasks: tasks) { _ in
            var ids: [Int64] = []
            for n in 0..<20 { ids.append(try await add(app, "word_count", #"{"text": "one two\nthree \#(n)"}"#)) }
            let failing = try await add(app, "fail", #"{"message": "disk full"}"#, maxAttempts: 3)
            let unknown = try await add(app, "no_such_handler", maxAttempts: 3)
            let badInput = try await add(app, "word_count", #"{"text": 7}"#, maxAttempts: 3)
            try await eventually { try await app.jobsAll(ids, in: "succeeded") }

            var pids = Set<Int>()
            for id in ids {
                let row = try await row(app, id)
                XCTAssertTrue(row.result?.contains(#""words": 4"#) ?? false, row.result ?? "no result")
                pids.formUnion([pid(inResult: row.result)].compactMap { $0 })
                XCTAssertEqual(row.progress, 1)
                XCTAssertEqual(row.progressMessage, "line 2 of 2")
            }
            XCTAssertEqual(pids.count, 1, "one copy ran all 20 jobs")

            try await eventually { try await app.jobState(failing) == "retryable" }
            let failed = try await row(app, failing)
            XCTAssertEqual(failed.lastError, "RuntimeError: disk full")
            try await eventually { try await app.jobState(unknown) == "dead" }
            let dead = try await row(app, unknown)
            XCTAssertEqual(dead.lastError, "this program has no handler for task 'no_such_handler'")
            try await eventually { try await app.jobState(badInput) == "dead" }
        }
    }

    /// The stock binary runs the example as a persistent task (what a team that writes no Swift does).
    func testCLIRunsTheExampleAsAPersistentTask() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let worker = try TestProcess(executable: BuiltProducts.path("pgworker"), [
            "run", "--database-url", database.conninfo, "--no-sql-tasks", "--poll-interval", "0.2",
            "--task", "word_count=python3 '\(example)'", "--persistent", "--task-copies", "word_count=2",
        ])
        defer { worker.signal(SIGKILL) }
        let ids = [try await add(app, "word_count", #"{"text": "a b c"}"#),
                   try await add(app, "word_count", #"{"text": "d"}"#)]
        try await eventually(timeout: .seconds(20)) { try await app.jobsAll(ids, in: "succeeded") }
        let first = try await row(app, ids[0])
        XCTAssertTrue(first.result?.contains(#""words": 3"#) ?? false, first.result ?? "no result")
        worker.signal(SIGTERM)
        let status = try await worker.waitForExit()
        XCTAssertEqual(status, 0)
    }

    /// A copy that dies mid-job fails that job with its exit status and stderr; the next job runs
    /// on a new copy.
    func testProgramCrashingMidJobFailsThatJobAndIsRestarted() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            if payload.get("crash"):
                sys.stderr.write("about to crash\\n")
                sys.stderr.flush()
                os._exit(3)
            reply({"id": job["id"], "result": {"pid": os.getpid()}})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: program.command))
        try await withTestWorker(database, tasks: tasks) { _ in
            let before = try await add(app, "job")
            try await eventually { try await app.jobState(before) == "succeeded" }
            let crashing = try await add(app, "job", #"{"crash": true}"#, maxAttempts: 2)
            try await eventually { try await app.jobState(crashing) == "retryable" }
            let crashed = try await row(app, crashing)
            XCTAssertEqual(crashed.lastError,
                           "the persistent program exited with status 3 while running the job; stderr: about to crash")
            let after = try await add(app, "job")
            try await eventually { try await app.jobState(after) == "succeeded" }
            let firstPID = pid(inResult: try await row(app, before).result)
            let secondPID = pid(inResult: try await row(app, after).result)
            XCTAssertNotNil(secondPID)
            XCTAssertNotEqual(firstPID, secondPID, "a new copy ran the job after the crash")
            XCTAssertEqual(program.recorded.count, 2)
        }
    }

    /// A timeout stops the copy's whole group, SIGTERM-ignoring grandchild included, before the
    /// timeout is recorded; the next job gets a new copy.
    func testTimeoutKillsTheCopyAndWhatItStartedThenANewCopyRuns() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            if payload.get("hang"):
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                child = subprocess.Popen(["python3", "-c", "import os, signal, sys, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\\\n')\\ntime.sleep(600)", sys.argv[1]])
                time.sleep(600)
            reply({"id": job["id"], "result": {"pid": os.getpid()}})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: "exec " + program.command,
                                                             killGracePeriod: .milliseconds(500)),
                       timeout: .seconds(2))
        try await withTestWorker(database, tasks: tasks) { _ in
            let hanging = try await add(app, "job", #"{"hang": true}"#)
            try await eventually { program.recorded.count == 2 }
            try await eventually { try await app.jobState(hanging) == "dead" }
            XCTAssertEqual(program.living, [], "the copy and its grandchild were gone when the timeout was recorded")
            let hung = try await row(app, hanging)
            XCTAssertEqual(hung.lastError, "timed out after 2 s and was cancelled")
            let next = try await add(app, "job")
            try await eventually { try await app.jobState(next) == "succeeded" }
            XCTAssertEqual(program.recorded.count, 3, "a new copy started for the next job")
        }
    }

    /// A line that is not JSON is logged and ignored; an answer for another job breaks the
    /// protocol: the job fails and the copy is replaced.
    func testStrayLinesAreIgnoredAndAnAnswerForAnotherJobStopsTheCopy() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            print("a stray print")
            print("{\\"no_id\\": true}")
            sys.stdout.flush()
            reply({"id": job["id"] + (1 if payload.get("wrong") else 0), "result": {"pid": os.getpid()}})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: "exec " + program.command,
                                                             killGracePeriod: .milliseconds(500)))
        try await withTestWorker(database, tasks: tasks) { _ in
            let fine = try await add(app, "job")
            try await eventually { try await app.jobState(fine) == "succeeded" }
            let wrong = try await add(app, "job", #"{"wrong": true}"#)
            try await eventually { try await app.jobState(wrong) == "dead" }
            let broken = try await row(app, wrong)
            XCTAssertEqual(broken.lastError,
                           "the persistent program answered for job \(wrong + 1), which it was not running (it was running \(wrong))")
            let next = try await add(app, "job")
            try await eventually { try await app.jobState(next) == "succeeded" }
            XCTAssertEqual(program.recorded.count, 2)
            XCTAssertEqual(program.living.count, 1)
        }
    }

    /// With a pipeline, a copy gets its next jobs before answering; when it dies, the jobs that
    /// waited behind the one it was running fail too, saying so, and succeed on a new copy.
    func testPipelinedJobsBehindACrashFailSayingSoAndRunAgain() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            if payload.get("crash"):
                import select
                open(sys.argv[1] + ".crash-read", "w").close()
                select.select([sys.stdin], [], [], 10)
                time.sleep(0.2)
                os._exit(9)
            reply({"id": job["id"], "result": {"pid": os.getpid()}})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: "exec " + program.command, pipeline: 4))
        try await withTestWorker(database, tasks: tasks) { _ in
            let warmUp = try await add(app, "job")
            try await eventually { try await app.jobState(warmUp) == "succeeded" }
            let crashing = try await add(app, "job", #"{"crash": true}"#)
            try await eventually { FileManager.default.fileExists(atPath: program.pidFile + ".crash-read") }
            let behind = [try await add(app, "job", maxAttempts: 3), try await add(app, "job", maxAttempts: 3)]
            try await eventually { try await app.jobState(crashing) == "dead" }
            let crashed = try await row(app, crashing)
            XCTAssertEqual(crashed.lastError, "the persistent program exited with status 9 while running the job")
            try await eventually { try await app.jobsAll(behind, in: "succeeded") }
            for id in behind {
                let errors: String = try await app.query("SELECT errors::text AS e FROM pgworker.jobs WHERE id = $1", [id])
                    .rows[0].decode("e")
                XCTAssertTrue(errors.contains("(this job was waiting behind job \(crashing))"), errors)
            }
            XCTAssertEqual(Set([warmUp, crashing] + behind).count, 4)
            XCTAssertEqual(program.recorded.count, 2, "one copy ran everything before the crash, a new one after")
        }
    }

    /// `copies` programs run jobs at once, and no more; stopping the worker stops them all.
    func testCopiesRunJobsAtOnceUpToTheirNumberAndStopWithTheWorker() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            started = time.time()
            time.sleep(0.3)
            reply({"id": job["id"], "result": {"pid": os.getpid(), "start": started, "end": time.time()}})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: "exec " + program.command, copies: 3))
        var intervals: [(Double, Double)] = []
        try await withTestWorker(database, tasks: tasks, configure: { $0.concurrency = 8 }) { _ in
            var ids: [Int64] = []
            for _ in 0..<9 { ids.append(try await add(app, "job")) }
            try await eventually { try await app.jobsAll(ids, in: "succeeded") }
            var pids = Set<Int>()
            for id in ids {
                let result = try await row(app, id).result ?? "{}"
                let object = try JSONSerialization.jsonObject(with: Data(result.utf8)) as! [String: Any]
                pids.insert(object["pid"] as! Int)
                intervals.append((object["start"] as! Double, object["end"] as! Double))
            }
            XCTAssertEqual(pids.count, 3)
            XCTAssertEqual(program.living.count, 3)
        }
        let overlap = intervals.map { interval in intervals.filter { $0.0 <= interval.0 && interval.0 < $0.1 }.count }.max()
        XCTAssertEqual(overlap, 3, "three jobs ran at once, never more")
        XCTAssertEqual(program.living, [], "the worker's stop ended its idle copies")
    }

    /// Found by an outside trial: each copy that ended leaked its output pipes, until the worker
    /// could start nothing. Ten copies stopped for breaking the protocol leave no descriptor behind.
    func testCopiesThatEndLeaveNoDescriptorsBehind() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            reply({"id": job["id"] + 1000000})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: "exec " + program.command,
                                                             killGracePeriod: .milliseconds(200)))
        func descriptors() -> Int { ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count }
        try await withTestWorker(database, tasks: tasks) { _ in
            let warmUp = try await add(app, "job")
            try await eventually { try await app.jobState(warmUp) == "dead" }
            try await Task.sleep(for: .milliseconds(300))
            let before = descriptors()
            for _ in 0..<10 {
                let id = try await add(app, "job")
                try await eventually { try await app.jobState(id) == "dead" }
            }
            try await eventually("descriptors grew from \(before) to \(descriptors())") { descriptors() <= before + 2 }
            XCTAssertEqual(program.recorded.count, 11, "a copy for each job, none held back by the crash-loop delay")
        }
    }

    /// A program that keeps exiting at start is restarted after a delay that keeps doubling
    /// (found by an outside trial: it went back to 0.1 s after 1.6 s).
    func testACrashLoopBacksOffMoreAndMore() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let (command, starts) = try crashingCommand(appending: "date +%s.%N")
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: command))
        try await withTestWorker(database, tasks: tasks) { _ in
            _ = try await JobClient(connection: app).addMany("job", jsonPayloads: Array(repeating: "{}", count: 7),
                                                              options: JobOptions(maxAttempts: 1))
            try await eventually(timeout: .seconds(20)) { try await app.jobCount(state: "dead") == 7 }
        }
        let times = try String(contentsOfFile: starts, encoding: .utf8).split(separator: "\n").compactMap { Double($0) }
        XCTAssertEqual(times.count, 7)
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        XCTAssertGreaterThan(gaps.last ?? 0, 2.5, "the sixth restart waited 3.2 s: \(gaps)")
        XCTAssertGreaterThan(gaps.last ?? 0, gaps[gaps.count - 2], "still growing: \(gaps)")
    }

    /// A worker that stops while its program crash-loops gives back at once every job that never
    /// reached a program -- those waiting for a copy and the one handed to a copy still waiting
    /// out its restart delay --, starts no copy, and does not wait out its grace period (found by
    /// an outside trial: a job never run was recorded as an attempt and went dead).
    func testStoppingDuringACrashLoopGivesBackJobsThatNeverReachedAProgram() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let (command, starts) = try crashingCommand(appending: "echo x")
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: command))
        var ids: [Int64] = []
        var stopped = ContinuousClock.now
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.concurrency = 10
            $0.shutdownGracePeriod = .seconds(30)
        }) { worker in
            // Five crashes take one job each (1 attempt: dead); the restart delay is then 1.6 s.
            let first = try await JobClient(connection: app).addMany("job", jsonPayloads: Array(repeating: "{}", count: 5),
                                                                      options: JobOptions(maxAttempts: 1))
            try await eventually(timeout: .seconds(15)) { try await app.jobsAll(first, in: "dead") }
            ids = try await JobClient(connection: app).addMany("job", jsonPayloads: Array(repeating: "{}", count: 6),
                                                               options: JobOptions(maxAttempts: 1))
            try await eventually { try await app.jobsAll(ids, in: "running") }
            stopped = .now
            worker.stop()
        }
        XCTAssertLessThan(ContinuousClock.now - stopped, .seconds(10), "nothing ran, so nothing used the 30 s grace period")
        let startCount = try String(contentsOfFile: starts, encoding: .utf8).split(separator: "\n").count
        XCTAssertEqual(startCount, 5, "no copy started after the stop")
        let rows = try await app.query("SELECT state, attempts FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [ids]).rows
        XCTAssertEqual(rows.count, 6)
        for row in rows {
            XCTAssertEqual(try row.decode("state", as: String.self), "available", "never reached a program")
            XCTAssertEqual(try row.decode("attempts", as: Int.self), 0)
        }
    }

    /// A job's timeout starts when a copy takes it, not while it waits for one; jobs that never
    /// reached a copy when the worker stops are given back with their attempt uncounted.
    func testWaitingForACopyCountsNeitherTowardsTheTimeoutNorAsAnAttempt() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            time.sleep(payload.get("sleep", 0))
            reply({"id": job["id"]})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: "exec " + program.command),
                       timeout: .seconds(3))
        try await withTestWorker(database, tasks: tasks, configure: { $0.concurrency = 5 }) { _ in
            let ids = try await JobClient(connection: app).addMany(
                "job", jsonPayloads: [#"{"sleep": 2}"#, #"{"sleep": 1.5}"#, "{}"], options: JobOptions(maxAttempts: 1))
            try await eventually(timeout: .seconds(15)) { try await app.jobsAll(ids, in: "succeeded") }
        }
        // Stop while two jobs wait behind a slow one.
        var waiting: [Int64] = []
        try await withTestWorker(database, tasks: tasks, configure: {
            $0.concurrency = 5
            $0.shutdownGracePeriod = .milliseconds(300)
        }) { _ in
            let slow = try await add(app, "job", #"{"sleep": 30}"#, maxAttempts: 3)
            try await eventually { try await app.jobState(slow) == "running" }
            waiting = [try await add(app, "job", maxAttempts: 3), try await add(app, "job", maxAttempts: 3)]
            try await eventually { try await app.jobsAll(waiting, in: "running") }
        }
        let rows = try await app.query("SELECT state, attempts FROM pgworker.jobs WHERE id = ANY($1::bigint[])", [waiting]).rows
        for row in rows {
            XCTAssertEqual(try row.decode("state", as: String.self), "available")
            XCTAssertEqual(try row.decode("attempts", as: Int.self), 0)
        }
    }

    /// Answers sent twice are ignored; a last answer without its newline counts; an answer that
    /// is not JSON, or a program that closes its stdout, fails its job at once instead of leaving
    /// it waiting (all found by an outside trial).
    func testSloppyAnswersAreHandled() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            if payload.get("close"):
                os.close(1)
                time.sleep(30)
            if payload.get("broken"):
                sys.stdout.write('{"id": %d, "result": \\xff}\\n' % job["id"])
                sys.stdout.flush()
                continue
            if payload.get("nul"):
                reply({"id": job["id"], "result": "a\\u0000b"})
                continue
            if payload.get("discard"):
                reply({"id": job["id"], "discard": True})
                continue
            if payload.get("loosediscard"):
                reply({"id": job["id"], "discard": "yes"})
                continue
            if payload.get("blankerror"):
                reply({"id": job["id"], "error": "   "})
                continue
            if payload.get("badprogress"):
                reply({"id": job["id"], "progress": "abc"})
                continue
            reply({"id": job["id"], "result": 1})
            reply({"id": job["id"], "result": 2})
            if payload.get("last"):
                sys.stdout.write(json.dumps({"id": job["id"] + 1, "result": 3}))
                sys.stdout.flush()
                os._exit(0)
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: "exec " + program.command))
        try await withTestWorker(database, tasks: tasks) { _ in
            let twice = try await add(app, "job")
            let next = try await add(app, "job")
            try await eventually { try await app.jobsAll([twice, next], in: "succeeded") }
            let broken = try await add(app, "job", #"{"broken": true}"#)
            try await eventually { try await app.jobState(broken) == "dead" }
            let error = try await row(app, broken).lastError ?? ""
            XCTAssertTrue(error.hasPrefix("the persistent program wrote an answer that is not valid JSON"), error)
            // Found by an outside trial: a result jsonb cannot store was recorded as a success with no
            // result, a discard without an error as a success, and a bad progress blamed the id.
            let nul = try await add(app, "job", #"{"nul": true}"#)
            try await eventually { try await app.jobState(nul) == "dead" }
            let nulError = try await row(app, nul).lastError
            XCTAssertEqual(nulError, "the program's result contains \\u0000, which PostgreSQL's jsonb cannot store")
            let discarded = try await add(app, "job", #"{"discard": true}"#, maxAttempts: 5)
            try await eventually { try await app.jobState(discarded) == "dead" }
            let discardError = try await row(app, discarded).lastError
            XCTAssertEqual(discardError, "discarded by the program (it gave no error)")
            let looseDiscard = try await add(app, "job", #"{"loosediscard": true}"#)
            try await eventually { try await app.jobState(looseDiscard) == "dead" }
            let looseError = try await row(app, looseDiscard).lastError ?? ""
            XCTAssertTrue(looseError.hasPrefix("the persistent program wrote an answer whose \"discard\" is not true or false"), looseError)
            let blank = try await add(app, "job", #"{"blankerror": true}"#)
            try await eventually { try await app.jobState(blank) == "dead" }
            let blankError = try await row(app, blank).lastError
            XCTAssertEqual(blankError, "the program reported an empty error")
            let badProgress = try await add(app, "job", #"{"badprogress": true}"#)
            try await eventually { try await app.jobState(badProgress) == "dead" }
            let progressError = try await row(app, badProgress).lastError ?? ""
            XCTAssertTrue(progressError.hasPrefix("the persistent program wrote an answer whose \"progress\" is not a number"), progressError)
            let closing = try await add(app, "job", #"{"close": true}"#)
            try await eventually { try await app.jobState(closing) == "dead" }
            let closed = try await row(app, closing).lastError ?? ""
            XCTAssertEqual(closed, "the persistent program closed its stdout")
        }
    }

    /// A job that failed and is retried on the same copy gets its second answer heard: it is not
    /// a duplicate of the first (found by an outside trial: the retry hung in `running` forever).
    func testARetryOnTheSameCopyIsAnsweredAgain() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            if job["attempt"] == 1:
                reply({"id": job["id"], "error": "boom"})
            else:
                reply({"id": job["id"], "result": {"attempt": job["attempt"], "pid": os.getpid()}})
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: program.command))
        try await withTestWorker(database, tasks: tasks) { _ in
            let id = try await add(app, "job", maxAttempts: 2)
            try await eventually(timeout: .seconds(15)) { try await app.jobState(id) == "succeeded" }
            let result = try await row(app, id).result ?? ""
            XCTAssertTrue(result.contains("\"attempt\": 2"), result)
        }
        XCTAssertEqual(program.recorded.count, 1, "both attempts ran in the one copy")
    }

    /// A job's duration (log line and `pgworker_job_duration_seconds`) starts when a copy takes
    /// it, not while it waits for one (found by an outside trial: jobs that ran at once behind a
    /// 30 s job logged 29 s).
    func testDurationStartsWhenACopyTakesTheJob() async throws {
        let registry = TestMetrics.registry
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            time.sleep(payload.get("sleep", 0))
            reply({"id": job["id"]})
            """)
        var tasks = TaskRegistry()
        tasks.register("duration_job", handler: PersistentCommandTask(name: "duration_job", command: program.command))
        try await withTestWorker(database, tasks: tasks, configure: { $0.concurrency = 5 }) { _ in
            let ids = try await JobClient(connection: app).addMany(
                "duration_job", jsonPayloads: [#"{"sleep": 1.5}"#, "{}", "{}"], options: JobOptions(maxAttempts: 1))
            try await eventually(timeout: .seconds(15)) { try await app.jobsAll(ids, in: "succeeded") }
        }
        let text = registry.emitToString()
        let count = TestMetrics.value(in: text, "pgworker_job_duration_seconds_count", ["task": "duration_job", "queue": "default"])
        let sum = try XCTUnwrap(TestMetrics.value(in: text, "pgworker_job_duration_seconds_sum", ["task": "duration_job", "queue": "default"]))
        XCTAssertEqual(count, 3)
        XCTAssertGreaterThanOrEqual(sum, 1.4)
        XCTAssertLessThan(sum, 2.5, "the two quick jobs waited 1.5 s for the copy, which is not their run time")
    }

    /// A program started without `exec` replaces the shell all the same, so closing its stdout is
    /// noticed at once rather than at the job's timeout (found by an outside trial: dash kept the
    /// pipe open as the program's parent).
    func testAProgramStartedWithoutExecHoldsItsOwnPipes() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            os.close(1)
            time.sleep(30)
            """)
        var tasks = TaskRegistry()
        tasks.register("job", handler: PersistentCommandTask(name: "job", command: program.command), timeout: .seconds(20))
        try await withTestWorker(database, tasks: tasks) { _ in
            let started = ContinuousClock.now
            let id = try await add(app, "job")
            try await eventually { try await app.jobState(id) == "dead" }
            XCTAssertLessThan(ContinuousClock.now - started, .seconds(8), "not the 20 s timeout")
            let error = try await row(app, id).lastError
            XCTAssertEqual(error, "the persistent program closed its stdout")
        }
    }

    /// kill -9 of the worker: its persistent program, which ignores SIGTERM, and the program's
    /// child are gone within a second.
    func testKilledWorkerTakesItsPersistentProgramWithIt() async throws {
        let database = try await TestDatabase.create(for: self)
        let app = try await database.connect("app")
        let program = try Program.make(for: self, handle: """
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen(["python3", "-c", "import os, signal, sys, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\nopen(sys.argv[1], 'a').write(f'{os.getpid()}\\\\n')\\ntime.sleep(600)", sys.argv[1]])
            time.sleep(600)
            """)
        let worker = try TestProcess(executable: BuiltProducts.path("pgworker"), [
            "run", "--database-url", database.conninfo, "--no-sql-tasks", "--poll-interval", "0.2",
            "--persistent-task", "stubborn=\(program.command)",
        ])
        let id = try await add(app, "stubborn")
        try await eventually(timeout: .seconds(20), "the program and its child started") { program.recorded.count == 2 }
        XCTAssertEqual(program.living.count, 2)
        worker.signal(SIGKILL)
        let status = try await worker.waitForExit()
        XCTAssertEqual(status, 128 + SIGKILL)
        try await eventually(timeout: .seconds(1), "the persistent program outlived the killed worker: \(program.living)") {
            program.living.isEmpty
        }
        let state = try await app.jobState(id)
        XCTAssertEqual(state, "running", "the dead worker's job awaits rescue")
    }
}

/// Whether `pid` is a live process (not a zombie).
private func isRunning(_ pid: pid_t) -> Bool {
    // /proc reports a size of 0, so read until end of file rather than by the file's size.
    let fd = open("/proc/\(pid)/stat", O_RDONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 4096)
    let count = read(fd, &bytes, bytes.count)
    guard count > 0 else { return false }
    let stat = String(decoding: bytes[0..<count], as: UTF8.self)
    guard let nameEnd = stat.lastIndex(of: ")"), stat.distance(from: nameEnd, to: stat.endIndex) > 2
    else { return false }
    let state = stat[stat.index(nameEnd, offsetBy: 2)]
    return state != "Z" && state != "X"
}
