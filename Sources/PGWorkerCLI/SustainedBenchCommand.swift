import ArgumentParser
import Foundation
import PGWorker
import PQClient

/// `pgworker bench-sustained`: a steady offered load for minutes, not a burst. Producers insert
/// at a fixed rate while the consumer runs; then the same with the bare SQL consumer, and with a
/// snapshot held open the whole time. This is where a queue that drains a burst well can still
/// fall behind: dead rows pile up in front of the claim, and a pinned snapshot keeps vacuum from
/// removing them.
struct SustainedBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-sustained",
        abstract: "Offer jobs at a fixed rate for minutes; compare the worker with the bare SQL, with and without a pinned snapshot.",
        discussion: """
            Creates a database pgworker_bench_<random> on the configured server, runs each phase for \
            --duration seconds on a fresh table, prints a line every --report-every seconds (jobs \
            finished per second, backlog, table and claim index size, dead rows, claim-turn p99) and drops the database. \
            The last line has a fixed form for scripts:
            sustained R jobs/s offered: worker W jobs/s = X x offered, bare SQL B jobs/s; pinned snapshot P jobs/s = Y x; size S MB
            Rates are over the last half of each phase; Y compares the pinned run with the worker's.
            """
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Jobs offered per second.")
    var rate: Int = 15_000

    @Option(help: "Seconds each phase runs.")
    var duration: Double = 600

    @Option(help: "Rows per producer INSERT transaction.")
    var batch: Int = 100

    @Option(help: "Producer connections.")
    var producers: Int = 4

    @Option(help: "Worker processes.")
    var processes: Int = 1

    @Option(help: "Jobs each worker process runs at once; also the bare SQL consumer's batch.")
    var concurrency: Int = 100

    @Option(help: "Seconds between report lines.")
    var reportEvery: Double = 10

    @Option(help: "How long succeeded jobs are kept (seconds): the workers' retention prunes older ones.")
    var keepSucceeded: Int = 600

    @Option(help: "Phases to run, comma-separated: worker, sql, pinned.")
    var phases: String = "worker,sql,pinned"

    @Option(help: "Also write every sample to this CSV file.")
    var csv: String?

    func validate() throws {
        guard rate >= 1, batch >= 1, producers >= 1, processes >= 1, concurrency >= 1 else {
            throw ValidationError("--rate, --batch, --producers, --processes and --concurrency must be at least 1")
        }
        guard duration > 0, reportEvery > 0 else { throw ValidationError("--duration and --report-every must be positive") }
        guard keepSucceeded >= 0 else { throw ValidationError("--keep-succeeded must not be negative") }
        let known: Set = ["worker", "sql", "pinned"]
        guard !phaseList.isEmpty, phaseList.allSatisfy(known.contains) else {
            throw ValidationError("--phases must list some of worker, sql, pinned")
        }
    }

    private var phaseList: [String] { phases.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

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

    /// What a phase measured.
    private struct Outcome {
        var rate: Double
        var maxBacklogSeconds: Double
        var maxTableBytes: Int
    }

    private func measure(_ bench: BenchDatabase) async throws {
        let control = try await bench.connect("bench-sustained-control")
        print("pgworker bench-sustained: \(rate) jobs/s offered in INSERTs of \(batch) rows from \(producers) producers, "
              + "\(duration) s per phase, \(processes) worker process(es) of concurrency \(concurrency), "
              + "succeeded jobs kept \(keepSucceeded) s")
        var csvLines = csv == nil ? nil : ["phase,elapsed_s,done_per_s,backlog,table_mb,claim_index_mb,dead_rows,claim_p99_ms"]
        var outcomes: [String: Outcome] = [:]
        for phase in phaseList {
            let outcome = try await runPhase(phase, bench: bench, control: control, csv: &csvLines)
            outcomes[phase] = outcome
            print("\(phase): \(Int(outcome.rate)) jobs/s over the last half = \(format(outcome.rate / Double(rate)))x offered; "
                  + "largest backlog \(format(outcome.maxBacklogSeconds)) s of work; largest table \(outcome.maxTableBytes / 1_048_576) MB")
            fflush(nil)
        }
        await control.close()
        if let csv, let csvLines {
            try csvLines.joined(separator: "\n").appending("\n").write(toFile: csv, atomically: true, encoding: .utf8)
        }
        let worker = outcomes["worker"], bare = outcomes["sql"], pinned = outcomes["pinned"]
        let pinnedRatio = pinned.flatMap { p in worker.map { p.rate / max($0.rate, 1) } }
        print("sustained \(rate) jobs/s offered: worker \(worker.map { String(Int($0.rate)) } ?? "-") jobs/s = "
              + "\(worker.map { format($0.rate / Double(rate)) } ?? "-") x offered, bare SQL \(bare.map { String(Int($0.rate)) } ?? "-") jobs/s; "
              + "pinned snapshot \(pinned.map { String(Int($0.rate)) } ?? "-") jobs/s = \(pinnedRatio.map(format) ?? "-") x; "
              + "size \((worker ?? pinned ?? bare).map { String($0.maxTableBytes / 1_048_576) } ?? "-") MB")
    }

    private func runPhase(_ phase: String, bench: BenchDatabase, control: PQConnection,
                          csv: inout [String]?) async throws -> Outcome {
        try await control.execute("TRUNCATE pgworker.jobs; DELETE FROM pgworker.workers")
        try await control.query("SELECT pgworker.set_retention('succeeded', make_interval(secs => $1))", [keepSucceeded])
        try await control.execute("VACUUM ANALYZE pgworker.jobs")

        var snapshot: PQConnection?
        if phase == "pinned" {
            let holder = try await bench.connect("bench-sustained-snapshot")
            try await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            try await holder.query("SELECT count(*) FROM pgworker.migrations")
            snapshot = holder
        }
        var workers: WorkerProcesses?
        var bareConsumer: Task<Void, any Error>?
        let bareClaimTimes = ClaimTurnTimes()
        if phase == "sql" {
            let connection = try await bench.connect("bench-sustained-bare-sql")
            bareConsumer = Task { try await SustainedLoad.consume(connection, batch: concurrency, claimTimes: bareClaimTimes) }
        } else {
            workers = try WorkerProcesses(count: processes, conninfo: bench.conninfo, task: SustainedLoad.task,
                                          concurrency: concurrency)
        }
        var producerConnections: [PQConnection] = []
        for index in 0..<producers { producerConnections.append(try await bench.connect("bench-sustained-producer-\(index + 1)")) }
        let connections = producerConnections
        let rate = self.rate, batch = self.batch
        let producing = Task { try await SustainedLoad.produce(connections: connections, rate: rate, batch: batch) }

        let started = try await SustainedLoad.serverTime(control)
        var previous = started
        // (server time, jobs finished since the previous sample): counted when they finished, so a
        // retention shorter than the phase cannot prune them from the count first.
        var finishes: [(at: Double, jobs: Double)] = []
        var outcome = Outcome(rate: 0, maxBacklogSeconds: 0, maxTableBytes: 0)
        let end = ContinuousClock.now + .seconds(duration)
        while ContinuousClock.now < end {
            try await Task.sleep(for: .seconds(min(reportEvery, max((end - ContinuousClock.now) / .seconds(1), 0.01))))
            let sample = try await SustainedLoad.sample(control, since: previous)
            finishes.append((sample.serverTime, sample.donePerSecond * (sample.serverTime - previous)))
            previous = sample.serverTime
            let elapsed = sample.serverTime - started
            outcome.maxBacklogSeconds = max(outcome.maxBacklogSeconds, Double(sample.backlog) / Double(rate))
            outcome.maxTableBytes = max(outcome.maxTableBytes, sample.tableBytes)
            let claimP99 = phase == "sql" ? bareClaimTimes.takeInterval().p99Milliseconds : sample.workerClaimP99
            print("  \(phase) \(Int(elapsed)) s: \(Int(sample.donePerSecond)) jobs/s done, backlog \(sample.backlog), "
                  + "table \(sample.tableBytes / 1_048_576) MB, claim index \(sample.claimIndexBytes / 1_048_576) MB, "
                  + "dead rows \(sample.deadRows), claim p99 \(claimP99.map { format($0) + " ms" } ?? "-")")
            fflush(nil)
            csv?.append("\(phase),\(format(elapsed)),\(Int(sample.donePerSecond)),\(sample.backlog),"
                        + "\(format(Double(sample.tableBytes) / 1_048_576)),\(format(Double(sample.claimIndexBytes) / 1_048_576)),\(sample.deadRows),\(claimP99.map(format) ?? "")")
        }
        let finished = try await SustainedLoad.serverTime(control)
        // Over the samples that end in the second half (from the first of them to the end).
        let half = started + (finished - started) / 2
        let secondHalf = finishes.filter { $0.at > half }
        let windowStart = finishes.last(where: { $0.at <= half })?.at ?? started
        outcome.rate = secondHalf.map(\.jobs).reduce(0, +) / max(finishes.last.map { $0.at - windowStart } ?? 0, 0.001)

        producing.cancel()
        _ = try? await producing.value
        bareConsumer?.cancel()
        _ = try? await bareConsumer?.value
        await workers?.stop()
        for connection in connections { await connection.close() }
        if let snapshot {
            try? await snapshot.execute("ROLLBACK")
            await snapshot.close()
        }
        return outcome
    }

    private func format(_ value: Double) -> String { String(format: "%.2f", value) }
}
