import ArgumentParser
import Foundation
import PGWorker
import PQClient

/// `pgworker bench`: measures enqueue rate, no-op throughput against a bare-SQL baseline,
/// enqueue-to-start latency, worker memory with many jobs in flight, and concurrent enqueuers
/// with NOTIFY, in a throw-away database on the configured server.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark pgworker on this database server, against the bare SQL a queue needs.",
        discussion: """
            Creates a database pgworker_bench_<random> on the configured server (it needs CREATE DATABASE), \
            migrates it, measures, and drops it. The last line is a summary in a fixed form for scripts: \
            throughput N jobs/s = R.RRx baseline; latency p50 X ms p99 Y ms
            See docs/performance.md for what each figure means.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "No-op jobs per throughput measurement.")
    var jobs: Int = 20_000

    @Option(help: "Jobs each worker process runs at once; also the baseline's batch size.")
    var concurrency: Int = 100

    @Option(help: "Worker processes for the headline throughput (and baseline connections).")
    var processes: Int = 1

    @Option(help: "Also measure with this many processes, for scaling (0: skip).")
    var scalingProcesses: Int = 2

    @Option(help: "Repetitions of each throughput measurement; the best is reported.")
    var rounds: Int = 2

    @Option(help: "Enqueue-to-start latency samples (idle queue, one job at a time).")
    var latencySamples: Int = 300

    @Option(help: "Clients for the single-INSERT enqueue rate.")
    var enqueueClients: Int = 4

    @Option(help: "Clients for the concurrent-enqueuer (NOTIFY) test.")
    var insertClients: Int = 16

    @Option(help: "Seconds each enqueue-rate measurement runs.")
    var insertSeconds: Double = 4

    @Option(help: "Jobs in flight (sleeping) for the worker memory measurement (0: skip).")
    var inFlight: Int = 1000

    @Option(help: "Also show the claim query's plan with this many finished jobs in the table (0: skip).")
    var explainRows: Int = 0

    @Flag(help: "Also compare handler kinds on no-op jobs: Swift, a persistent command program, and a process per job.")
    var handlers = false

    @Flag(help: "Measure only the Swift handler against the SQL task, alternately for --rounds rounds, and nothing else (quick).")
    var handlersOnly = false

    @Option(help: "With --handlers: the persistent no-op program (default: a small Python loop).")
    var persistentCommand: String = BenchCommand.pythonNoOpLoop

    @Option(help: "With --handlers: copies of the persistent program.")
    var persistentCopies: Int = 2

    @Option(help: "With --handlers: the pipelined run's jobs per copy before its first answer (the other run uses 1).")
    var persistentPipeline: Int = 32

    @Option(help: "With --handlers: the per-job no-op command, and how many jobs it gets (processes are slow).")
    var perJobCommand: String = "cat"

    @Option(help: "With --handlers: jobs for the per-job command.")
    var perJobJobs: Int = 2_000

    @Option(name: .customLong("worker-setting"),
            help: "A server setting for the worker processes' sessions only, e.g. synchronous_commit=off (repeatable).")
    var workerSettings: [String] = []

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard processes >= 1 else { throw ValidationError("--processes must be at least 1") }
        guard scalingProcesses >= 0 else { throw ValidationError("--scaling-processes must not be negative") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard latencySamples >= 1 else { throw ValidationError("--latency-samples must be at least 1") }
        guard enqueueClients >= 1, insertClients >= 1 else { throw ValidationError("client counts must be at least 1") }
        guard insertSeconds > 0 else { throw ValidationError("--insert-seconds must be positive") }
        guard persistentCopies >= 1, persistentPipeline >= 1, perJobJobs >= 1 else {
            throw ValidationError("--persistent-copies, --persistent-pipeline and --per-job-jobs must be at least 1")
        }
        guard inFlight >= 0, explainRows >= 0 else { throw ValidationError("--in-flight and --explain-rows must not be negative") }
        for setting in workerSettings where setting.wholeMatch(of: /[A-Za-z_][A-Za-z0-9_.]*=[^\s\\]+/) == nil {
            throw ValidationError("--worker-setting must look like name=value without spaces: \(setting)")
        }
    }

    func run() async throws {
        _ = database.bootstrapLogging()
        let (adminConninfo, _) = try await database.resolve()
        let bench = try await BenchDatabase.create(adminConninfo: adminConninfo)
        do {
            try await measure(bench)
        } catch {
            try? await bench.drop()
            throw error
        }
        try await bench.drop()
    }

    private func measure(_ bench: BenchDatabase) async throws {
        let control = try await bench.connect("bench-control")
        let queue = BenchQueue(connection: control)
        print(try await serverDescription(control, bench))
        if handlersOnly {
            print("jobs \(jobs), concurrency \(concurrency), \(rounds) round(s)"
                  + (workerSettings.isEmpty ? "" : "; worker processes' sessions: \(workerSettings.joined(separator: ", "))"))
            try await compareSwiftAndSQL(queue, bench)
            await control.close()
            return
        }
        print("jobs \(jobs), concurrency \(concurrency), processes \(processes)"
              + (scalingProcesses > 0 && scalingProcesses != processes ? " (and \(scalingProcesses) for scaling)" : "")
              + ", best of \(rounds) round(s)"
              + (workerSettings.isEmpty ? "" : "; worker processes' sessions: \(workerSettings.joined(separator: ", "))"))
        flush()

        // Enqueue: one INSERT per transaction from several clients (with NOTIFY, nobody listening).
        try await queue.reset()
        let single = try await InsertBenchmark(database: bench, clients: enqueueClients, duration: insertDuration)
            .run(task: "bench_enqueue", notify: true)
        print("enqueue, one INSERT per transaction, \(enqueueClients) clients: \(rate(single)) jobs/s")
        flush()

        // Throughput: the bare-SQL baseline and the worker, alternately, on a fresh table each time.
        var configurations = [processes]
        if scalingProcesses > 0 && scalingProcesses != processes { configurations.append(scalingProcesses) }
        var best: [Int: (worker: Double, baseline: Double)] = [:]
        var bulk = 0.0
        for round in 1...rounds {
            for count in configurations {
                let (baselineRate, bulkRate) = try await measureBaseline(queue, bench, connections: count)
                let (workerRate, batches) = try await measureWorker(queue, bench, processes: count)
                bulk = max(bulk, bulkRate)
                let previous = best[count] ?? (0, 0)
                best[count] = (max(previous.worker, workerRate), max(previous.baseline, baselineRate))
                print("round \(round), \(count) process(es): baseline \(rate(baselineRate)) jobs/s, "
                      + "worker \(rate(workerRate)) jobs/s = \(ratio(workerRate / baselineRate))x" + batches)
                flush()
            }
        }
        print("enqueue, bulk (\(BenchQueue.bulkBatch) jobs per INSERT, \(jobs) per transaction): \(rate(bulk)) jobs/s")
        for count in configurations {
            let figures = best[count]!
            print("throughput, \(count) process(es), best of \(rounds): \(rate(figures.worker)) jobs/s; "
                  + "baseline \(rate(figures.baseline)) jobs/s; \(ratio(figures.worker / figures.baseline))x baseline")
        }
        if configurations.count == 2, let one = best[configurations[0]], let more = best[configurations[1]] {
            print("scaling, \(configurations[1]) vs \(configurations[0]) process(es): worker \(ratio(more.worker / one.worker))x, "
                  + "baseline \(ratio(more.baseline / one.baseline))x")
        }
        flush()

        // Latency on an idle queue.
        try await queue.reset()
        let samples = try await LatencyBenchmark(database: bench, samples: latencySamples, concurrency: concurrency).run()
        let fromCommit = Percentiles(samples.map(\.fromCommit))
        let fromSend = Percentiles(samples.map(\.fromSend))
        print("latency, enqueue commit to handler start, \(samples.count) samples on an idle queue: "
              + "p50 \(ms(fromCommit.p50)) ms, p95 \(ms(fromCommit.p95)) ms, p99 \(ms(fromCommit.p99)) ms, max \(ms(fromCommit.max)) ms")
        print("latency, INSERT sent to handler start: p50 \(ms(fromSend.p50)) ms, p99 \(ms(fromSend.p99)) ms, max \(ms(fromSend.max)) ms")
        flush()

        // Memory of one worker process with many jobs in flight.
        if inFlight > 0 {
            try await queue.reset()
            let (idle, peak) = try await measureMemory(queue, bench)
            print("worker RSS: idle \(megabytes(idle.resident)) MB; \(inFlight) jobs in flight: "
                  + "RSS \(megabytes(peak.resident)) MB, peak (VmHWM) \(megabytes(peak.peakResident)) MB")
            flush()
        }

        // Many concurrent enqueuers: NOTIFY serialises commits.
        try await queue.reset()
        let inserts = InsertBenchmark(database: bench, clients: insertClients, duration: insertDuration)
        let sampler = WaitEventSampler(connection: control)
        let silent = try await sampled(sampler) { try await inserts.run(task: "bench_enqueue", notify: false) }
        try await queue.reset()
        let notifying = try await sampled(sampler) { try await inserts.run(task: "bench_enqueue", notify: true) }
        try await queue.reset()
        let withWorker = try await withWorkers(bench, queue, count: 1, task: "bench_enqueue") {
            try await sampled(sampler) { try await inserts.run(task: "bench_enqueue", notify: true) }
        }
        print("\(insertClients) clients inserting one job per transaction: \(rate(silent.value)) tx/s without NOTIFY, "
              + "\(rate(notifying.value)) tx/s with NOTIFY, \(rate(withWorker.value)) tx/s with NOTIFY and a worker running")
        print("  waits without NOTIFY: \(silent.waits); with NOTIFY: \(notifying.waits); "
              + "with NOTIFY and a worker: \(withWorker.waits)")
        flush()

        if handlers {
            try await compareHandlers(queue, bench)
        }

        if explainRows > 0 {
            print(try await ClaimPlan.explain(control, finishedRows: explainRows, runnableRows: 1000), terminator: "")
        }
        await control.close()

        let headline = best[processes]!
        print("throughput \(rate(headline.worker)) jobs/s = \(ratio(headline.worker / headline.baseline))x baseline; "
              + "latency p50 \(ms(fromCommit.p50)) ms p99 \(ms(fromCommit.p99)) ms")
    }

    // MARK: - Measurements

    private var insertDuration: Duration { .milliseconds(Int(insertSeconds * 1000)) }

    /// The bare-SQL baseline on `connections` connections. Returns its rate and the bulk enqueue rate.
    private func measureBaseline(_ queue: BenchQueue, _ bench: BenchDatabase, connections count: Int) async throws -> (Double, Double) {
        try await queue.reset()
        var connections: [PQConnection] = []
        for index in 0..<count { connections.append(try await bench.connect("baseline-\(index + 1)")) }
        let bulk = try await queue.insertBulk(task: "bench_noop", count: jobs)
        let drain = Task { [connections, concurrency] in
            try await BaselineQueue.drain(task: "bench_noop", batchSize: concurrency, connections: connections)
        }
        do {
            // Polled like the worker run is, so both carry the same observer load.
            try await queue.waitUntilDrained()
            _ = try await drain.value
        } catch {
            drain.cancel()
            throw error
        }
        for connection in connections { await connection.close() }
        return (try await queue.processingRate(expected: jobs), bulk)
    }

    /// `processes` worker processes, started on an empty queue, then given `jobs` no-op jobs at once.
    /// Returns the rate and, when function statistics are available, the average batch sizes.
    private func measureWorker(_ queue: BenchQueue, _ bench: BenchDatabase, processes count: Int) async throws -> (Double, String) {
        try await queue.reset()
        let before = try await queue.workerCalls()
        try await withWorkers(bench, queue, count: count, task: "bench_noop") {
            try await queue.insertBulk(task: "bench_noop", count: jobs)
            try await queue.waitUntilDrained()
        }
        let rate = try await queue.processingRate(expected: jobs)
        guard let before else { return (rate, "") }
        // Server sessions flush their function statistics when they end, just after the workers exit.
        try await Task.sleep(for: .milliseconds(300))
        guard let after = try await queue.workerCalls() else { return (rate, "") }
        let claims = after.claims - before.claims
        let completions = after.completions - before.completions
        func each(_ total: Double, _ count: Int) -> String { String(format: "%.1f", count > 0 ? total / Double(count) : 0) }
        // Turns that only succeeded record their outcomes inside the turn's own statement
        // (SQL/functions/complete_and_claim.sql); complete_jobs runs only for batches with failures.
        let separate = completions == 0 ? "outcomes written within the turns"
            : "\(completions) separate completion writes, \(each(after.completionMilliseconds - before.completionMilliseconds, completions)) ms each"
        return (rate, " (\(claims) turns, \(each(Double(jobs), claims)) jobs and "
                      + "\(each(after.claimMilliseconds - before.claimMilliseconds, claims)) ms of server time each; \(separate))")
    }

    /// A no-op persistent program: reads a job per line, parses it, answers success.
    static let pythonNoOpLoop = """
        python3 -c 'import json, sys
        for line in sys.stdin:
            sys.stdout.write("{\\"id\\": %d}\\n" % json.loads(line)["id"])
            sys.stdout.flush()'
        """

    /// No-op jobs/s of one worker process with each kind of handler, on the same table: the Swift
    /// handler, a SQL task (batched, on the stock 2 connections), the persistent program (`persistentCopies` copies) and a process per job.
    private func compareHandlers(_ queue: BenchQueue, _ bench: BenchDatabase) async throws {
        func persistent(pipeline: Int) -> (String, Int, Int, [String]) {
            ("persistent command, \(persistentCopies) copies, pipeline \(pipeline)", jobs,
             max(16, persistentCopies * pipeline * 2),
             ["--command", persistentCommand, "--persistent", "--copies", String(persistentCopies),
              "--pipeline", String(pipeline)])
        }
        let control = try await bench.connect("bench-sql-task")
        try await control.execute("CREATE FUNCTION bench_sql_noop(payload jsonb) RETURNS void LANGUAGE sql AS 'SELECT'")
        let kinds: [(name: String, jobs: Int, concurrency: Int, arguments: [String])] = [
            ("Swift handler", jobs, concurrency, []),
            ("SQL task (a no-op function, 2 connections)", jobs, concurrency, ["--sql-task"]),
            persistent(pipeline: 1),
            persistent(pipeline: persistentPipeline),
            ("a process per job (\(perJobCommand)), 16 at once", perJobJobs, 16, ["--command", perJobCommand]),
        ]
        var rates: [Double] = []
        for kind in kinds {
            try await queue.reset()
            // The task is a SQL task only while the SQL task's worker runs.
            try await control.execute(kind.arguments == ["--sql-task"]
                ? "SELECT pgworker.register_sql_task('bench_handler', 'bench_sql_noop(jsonb)')"
                : "DELETE FROM pgworker.sql_tasks WHERE task = 'bench_handler'")
            let children = try WorkerProcesses(count: 1, conninfo: bench.conninfo, task: "bench_handler",
                                               concurrency: kind.concurrency, settings: workerSettings,
                                               handlerArguments: kind.arguments)
            do {
                try await queue.waitForWorkers(1)
                try await queue.insertBulk(task: "bench_handler", count: kind.jobs)
                try await queue.waitUntilDrained()
                await children.stop()
            } catch {
                await children.stop()
                throw error
            }
            rates.append(try await queue.processingRate(expected: kind.jobs))
            print("handlers, \(kind.name): \(rate(rates.last!)) jobs/s (\(kind.jobs) no-op jobs, concurrency \(kind.concurrency))")
            flush()
        }
        await control.close()
        print("handlers: SQL task \(ratio(rates[1] / rates[0]))x the Swift handler; "
              + "persistent command \(ratio(rates[2] / rates[0]))x the Swift handler "
              + "(pipelined \(ratio(rates[3] / rates[0]))x), \(ratio(rates[2] / rates[4]))x a process per job "
              + "(pipelined \(ratio(rates[3] / rates[4]))x)")
    }

    /// `--handlers-only`: the Swift handler and the SQL task, alternately, `rounds` times each,
    /// with the ratio of each round (the machine's load changes between rounds, less within one).
    private func compareSwiftAndSQL(_ queue: BenchQueue, _ bench: BenchDatabase) async throws {
        let control = try await bench.connect("bench-sql-task")
        try await control.execute("CREATE FUNCTION bench_sql_noop(payload jsonb) RETURNS void LANGUAGE sql AS 'SELECT'")
        var ratios: [Double] = []
        for round in 1...rounds {
            var rates: [Double] = []
            for sqlTask in [false, true] {
                try await queue.reset()
                try await control.execute(sqlTask
                    ? "SELECT pgworker.register_sql_task('bench_handler', 'bench_sql_noop(jsonb)')"
                    : "DELETE FROM pgworker.sql_tasks WHERE task = 'bench_handler'")
                let children = try WorkerProcesses(count: 1, conninfo: bench.conninfo, task: "bench_handler",
                                                   concurrency: concurrency, settings: workerSettings,
                                                   handlerArguments: sqlTask ? ["--sql-task"] : [])
                do {
                    try await queue.waitForWorkers(1)
                    try await queue.insertBulk(task: "bench_handler", count: jobs)
                    try await queue.waitUntilDrained()
                    await children.stop()
                } catch {
                    await children.stop()
                    throw error
                }
                rates.append(try await queue.processingRate(expected: jobs))
            }
            ratios.append(rates[1] / rates[0])
            // Server sessions flush their function statistics when they end, just after the worker exits.
            try await Task.sleep(for: .milliseconds(300))
            print("round \(round): Swift handler \(rate(rates[0])) jobs/s, SQL task \(rate(rates[1])) jobs/s = \(ratio(rates[1] / rates[0]))x"
                  + (try await sqlTaskCalls(control)))
            flush()
        }
        await control.close()
        print("handlers: SQL task \(ratios.map(ratio).joined(separator: ", "))x the Swift handler")
    }

    /// The SQL task's batches and turns so far (cumulative, from `pg_stat_user_functions`), or "".
    private func sqlTaskCalls(_ connection: PQConnection) async throws -> String {
        try await connection.execute("SELECT pg_stat_clear_snapshot()")
        let rows = try await connection.query(
            """
            SELECT funcname, calls, total_time FROM pg_stat_user_functions
            WHERE schemaname = 'pgworker' AND funcname IN ('run_sql_jobs', 'complete_and_claim')
            """
        ).rows
        var calls: [String: (Int, Double)] = [:]
        for row in rows { calls[try row.decode("funcname")] = (try row.decode("calls"), try row.decode("total_time")) }
        guard let batches = calls["run_sql_jobs"], batches.0 > 0 else { return "" }
        let turns = calls["complete_and_claim"] ?? (0, 0)
        return String(format: " (so far: %d SQL batches, %.2f ms of server time each; %d turns in all)",
                      batches.0, batches.1 / Double(batches.0), turns.0)
    }

    /// Peak memory of one worker process with `inFlight` sleeping jobs, and its memory when idle.
    private func measureMemory(_ queue: BenchQueue, _ bench: BenchDatabase) async throws -> (idle: ProcessMemory, busy: ProcessMemory) {
        let children = try WorkerProcesses(count: 1, conninfo: bench.conninfo, task: "bench_sleep",
                                           concurrency: inFlight, sleepMilliseconds: 3000, settings: workerSettings)
        do {
            try await queue.waitForWorkers(1)
            let idle = try ProcessMemory.read(pid: children.pids[0])
            try await queue.insertBulk(task: "bench_sleep", count: inFlight)
            let deadline = ContinuousClock.now + .seconds(30)
            while try await queue.runningCount() < inFlight {
                guard ContinuousClock.now < deadline else { throw BenchError("\(inFlight) jobs never ran at once") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let busy = try ProcessMemory.read(pid: children.pids[0])
            try await queue.waitUntilDrained()
            await children.stop()
            return (idle, busy)
        } catch {
            await children.stop()
            throw error
        }
    }

    /// Runs `body` while sampling the sessions' wait events for the insert duration.
    private func sampled(_ sampler: WaitEventSampler, _ body: @Sendable () async throws -> Double) async throws -> (value: Double, waits: String) {
        async let shares = sampler.sample(for: insertDuration)
        let value = try await body()
        return (value, WaitEventSampler.describe(try await shares))
    }

    /// Runs `body` while `count` worker processes for `task` are running and registered.
    private func withWorkers<T: Sendable>(
        _ bench: BenchDatabase, _ queue: BenchQueue, count: Int, task: String, _ body: () async throws -> T
    ) async throws -> T {
        let children = try WorkerProcesses(count: count, conninfo: bench.conninfo, task: task, concurrency: concurrency,
                                           settings: workerSettings)
        do {
            try await queue.waitForWorkers(count)
            let value = try await body()
            await children.stop()
            return value
        } catch {
            await children.stop()
            throw error
        }
    }

    /// One line on the server and the machine, since every figure depends on them.
    private func serverDescription(_ connection: PQConnection, _ bench: BenchDatabase) async throws -> String {
        let row = try await connection.query(
            """
            SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
                   current_setting('synchronous_commit') AS synchronous_commit,
                   current_setting('shared_buffers') AS shared_buffers
            """
        ).rows[0]
        let version: String = try row.decode("version")
        let fsync: String = try row.decode("fsync")
        let synchronousCommit: String = try row.decode("synchronous_commit")
        let sharedBuffers: String = try row.decode("shared_buffers")
        return "pgworker bench: PostgreSQL \(version) (fsync \(fsync), synchronous_commit \(synchronousCommit), "
            + "shared_buffers \(sharedBuffers)); \(ProcessInfo.processInfo.activeProcessorCount) CPUs here; "
            + "database \(bench.name), dropped at the end"
    }

    // MARK: - Formatting

    private func rate(_ value: Double) -> String { String(Int(value.rounded())) }
    private func ratio(_ value: Double) -> String { String(format: "%.2f", value) }
    private func ms(_ value: Double) -> String { String(format: "%.1f", value) }
    private func megabytes(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }
    /// Shows each figure as soon as it is known (stdout is block-buffered when piped).
    private func flush() { fflush(nil) }
}
