import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `pgworker bench-worker` child processes of this same binary, each a real ``Worker`` with a
/// benchmark handler, pointed at the benchmark database through `DATABASE_URL`.
final class WorkerProcesses: Sendable {
    private let processes: [ChildWorker]

    /// Starts `count` children. Their stdout is discarded; their stderr is ours, so their errors show.
    /// `settings` (`name=value`, no spaces) are server settings for the children's sessions only,
    /// passed through libpq's `PGOPTIONS`.
    /// `handlerArguments` are more `bench-worker` options (its handler: `--command`, `--persistent`...).
    init(count: Int, conninfo: String, task: String, concurrency: Int, sleepMilliseconds: Int = 0,
         settings: [String] = [], handlerArguments: [String] = []) throws {
        let executable = try Self.executablePath()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = conninfo
        if !settings.isEmpty {
            let options = settings.map { "-c \($0)" }.joined(separator: " ")
            environment["PGOPTIONS"] = [environment["PGOPTIONS"], options].compactMap { $0 }.joined(separator: " ")
        }
        var started: [ChildWorker] = []
        do {
            for _ in 0..<count {
                started.append(try ChildWorker(
                    executable: executable,
                    arguments: ["bench-worker", "--task", task, "--concurrency", String(concurrency),
                                "--sleep-ms", String(sleepMilliseconds)] + handlerArguments,
                    environment: environment))
            }
        } catch {
            for child in started { child.terminate() }
            throw error
        }
        processes = started
    }

    /// The children's process ids.
    var pids: [Int32] { processes.map(\.pid) }

    /// Stops every child gracefully (SIGTERM) and waits for it to exit.
    func stop() async {
        for child in processes { child.terminate() }
        for child in processes { await child.waitForExit() }
    }

    /// This program's own executable, which the children run.
    private static func executablePath() throws -> String {
        do {
            return try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        } catch {
            throw BenchError("cannot find this program's executable to start worker processes: \(error)")
        }
    }
}

/// One child process; waiting for it happens in Foundation's `Process` machinery, off the
/// cooperative pool.
private final class ChildWorker: Sendable {
    /// Kept so the child stays owned; signals go to `pid`, the exit comes from the termination handler.
    private let process: Process
    private let exited: Task<Int32, Never>
    let pid: Int32

    init(executable: String, arguments: [String], environment: [String: String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            continuation.yield(process.terminationStatus)
            continuation.finish()
        }
        do {
            try process.run()
        } catch {
            throw BenchError("cannot start a worker process (\(executable)): \(error)")
        }
        self.process = process
        self.pid = process.processIdentifier
        exited = Task { await stream.first(where: { _ in true }) ?? -1 }
    }

    func terminate() {
        kill(pid, SIGTERM)
    }

    func waitForExit() async {
        _ = await exited.value
    }
}

/// Memory figures of a process, from `/proc/<pid>/status`, in bytes.
struct ProcessMemory: Sendable {
    /// Resident set size now (`VmRSS`).
    let resident: Int
    /// Peak resident set size so far (`VmHWM`).
    let peakResident: Int

    /// Reads the figures of a running process.
    static func read(pid: Int32) throws -> ProcessMemory {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func kilobytes(_ field: String) throws -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
                  let value = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first,
                  let number = Int(value)
            else { throw BenchError("no \(field) in /proc/\(pid)/status") }
            return number * 1024
        }
        return ProcessMemory(resident: try kilobytes("VmRSS"), peakResident: try kilobytes("VmHWM"))
    }
}
