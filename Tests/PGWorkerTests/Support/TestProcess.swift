import Foundation
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Where SwiftPM put this package's executables (`pgworker`, `pgworker-example`): next to the
/// test bundle. The one way the tests find a built binary.
enum BuiltProducts {
    /// The folder holding the built products.
    static var directory: URL { Bundle.main.bundleURL }

    /// The path of a built product.
    static func path(_ product: String) -> String { directory.appendingPathComponent(product).path }

    /// The `pgworker` binary.
    static var pgworker: String { path("pgworker") }
}

/// A program run by a test: the one way the tests start a process.
///
/// Spawned with `posix_spawn` and reaped with `waitpid`: Foundation's `Process` on Linux can miss
/// a quickly exiting child, or one whose descendants keep its monitoring socket, and wait
/// forever. stdout and stderr go to files, so a full pipe never stalls the child.
final class TestProcess: Sendable {
    /// The process id.
    let pid: pid_t
    /// Where the process's stdout goes.
    let stdoutFile: URL
    /// Where the process's stderr goes.
    let stderrFile: URL
    /// The exit status once reaped (128 + n if killed by signal n).
    private let status = Mutex<Int32?>(nil)

    /// Starts `executable` (a path) with `arguments`, adding `environment` to this process's
    /// environment and removing the variables named in `removed`; in `directory` when given.
    init(executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
         removingEnvironment removed: [String] = [], in directory: URL? = nil) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pgworker-test-\(UUID().uuidString)")
        stdoutFile = base.appendingPathExtension("out")
        stderrFile = base.appendingPathExtension("err")
        var merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        for name in removed { merged[name] = nil }
        // posix_spawn has no portable chdir, so a shell changes directory and then execs.
        var argv = [executable] + arguments
        if let directory {
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory.path] + argv
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrFile.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let error = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard error == 0 else {
            throw NSError(domain: "TestProcess", code: Int(error), userInfo: [NSLocalizedDescriptionKey: "cannot start \(argv[0])"])
        }
        self.pid = pid
    }

    /// Starts a built product of this package (see ``BuiltProducts``).
    convenience init(_ product: String, _ arguments: [String] = [], environment: [String: String] = [:],
                     removingEnvironment removed: [String] = [], in directory: URL? = nil) throws {
        try self.init(executable: BuiltProducts.path(product), arguments, environment: environment,
                      removingEnvironment: removed, in: directory)
    }

    deinit {
        if status.withLock({ $0 }) == nil {
            kill(pid, SIGKILL)
            var ignored: Int32 = 0
            waitpid(pid, &ignored, 0)
        }
        try? FileManager.default.removeItem(at: stdoutFile)
        try? FileManager.default.removeItem(at: stderrFile)
    }

    /// Sends a signal.
    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Whether the process has not been seen to exit yet.
    var isRunning: Bool { reap() == nil }

    /// Waits for the process to exit; returns its exit status (128 + n if killed by signal n), or
    /// nil after `timeout`.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = reap() { return status }
            if ContinuousClock.now > deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends SIGTERM and waits for the exit status; SIGKILL (and -1) after `timeout`.
    func terminate(timeout: Duration = .seconds(30)) async -> Int32 {
        signal(SIGTERM)
        if let status = try? await waitForExit(timeout: timeout) { return status }
        signal(SIGKILL)
        _ = try? await waitForExit(timeout: .seconds(5))
        return -1
    }

    /// Reaps the process if it has exited; returns its status.
    private func reap() -> Int32? {
        status.withLock { status in
            if status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                }
            }
            return status
        }
    }

    /// What the process wrote to stdout so far.
    var stdout: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
    /// What the process wrote to stderr so far.
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }
    /// Both, for failure messages.
    var output: String { stdout + stderr }
    /// The complete lines of stderr so far.
    var stderrLines: [String] { Self.completeLines(stderr) }
    /// The complete lines of stdout so far.
    var stdoutLines: [String] { Self.completeLines(stdout) }

    private static func completeLines(_ text: String) -> [String] {
        var lines = text.components(separatedBy: "\n")
        lines.removeLast()  // unfinished, or empty after the last newline
        return lines
    }

    /// Waits for a stderr line that satisfies `match`, and returns it; fails the test when the
    /// process exits or `timeout` passes first.
    func waitForLine(timeout: Duration = .seconds(30), _ match: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = stderrLines.first(where: match) { return line }
            if !isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("no matching line from the process; it wrote:\n" + stderrLines.joined(separator: "\n"))
        throw CancellationError()
    }
}

/// How a program run to completion ended.
struct ProcessOutput: Sendable {
    /// The exit status (128 + n if killed by signal n; -1 if it was killed at the timeout).
    var status: Int32
    /// What it wrote to stdout.
    var stdout: String
    /// What it wrote to stderr.
    var stderr: String
    /// Both, for failure messages.
    var text: String { stdout + stderr }
}

/// Runs a program (a path) to completion, killing it after `timeout`.
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:],
    removingEnvironment removed: [String] = [], in directory: URL? = nil, timeout: Duration = .seconds(60)
) async throws -> ProcessOutput {
    let process = try TestProcess(executable: executable, arguments, environment: environment,
                                  removingEnvironment: removed, in: directory)
    var status = try await process.waitForExit(timeout: timeout)
    if status == nil {
        process.signal(SIGKILL)
        _ = try await process.waitForExit(timeout: .seconds(5))
        status = -1
    }
    return ProcessOutput(status: status ?? -1, stdout: process.stdout, stderr: process.stderr)
}

/// Runs a built product of this package to completion (``runProcess(_:_:environment:removingEnvironment:in:timeout:)``).
func runProduct(
    _ product: String, _ arguments: [String], environment: [String: String] = [:],
    removingEnvironment removed: [String] = [], in directory: URL? = nil
) async throws -> ProcessOutput {
    try await runProcess(BuiltProducts.path(product), arguments, environment: environment, removingEnvironment: removed, in: directory)
}

/// The path of an installed program, or nil.
func installedProgram(_ name: String) -> String? {
    for folder in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin"] {
        let path = "\(folder)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}
