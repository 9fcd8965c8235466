import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A built executable of this package (`pgworker`, `pgworker-example`) run as a real process.
///
/// Spawned with `posix_spawn` and reaped with `waitpid`: Foundation's `Process` on Linux can miss
/// a quickly exiting child and wait forever.
final class WorkerProcess {
    /// The process id.
    let pid: pid_t
    /// Where the process's stdout goes.
    let stdoutFile: URL
    /// Where the process's stderr goes.
    let stderrFile: URL
    private var status: Int32?

    /// The folder holding the package's built products (next to the test bundle).
    static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    /// Starts `product` with `arguments`, adding `environment` to this process's environment and
    /// removing the variables named in `removed`; in `directory` when given.
    init(_ product: String, _ arguments: [String] = [], environment: [String: String] = [:],
         removingEnvironment removed: [String] = [], in directory: URL? = nil) throws {
        let executable = Self.productsDirectory.appendingPathComponent(product).path
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
            throw NSError(domain: "WorkerProcess", code: Int(error), userInfo: [NSLocalizedDescriptionKey: "cannot start \(argv[0])"])
        }
        self.pid = pid
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            var ignored: Int32 = 0
            waitpid(pid, &ignored, 0)
        }
    }

    /// Sends a signal.
    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the process to exit; returns its exit status (128 + n if killed by signal n), or
    /// nil after `timeout`.
    func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while status == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                break
            }
            if ContinuousClock.now > deadline { return nil }
            try await Task.sleep(for: .milliseconds(20))
        }
        return status
    }

    /// What the process wrote to stdout so far.
    var stdout: String { (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? "" }
    /// What the process wrote to stderr so far.
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }
    /// Both, for failure messages.
    var output: String { stdout + stderr }
}

/// Runs a product to completion (at most 60 s); returns its exit status, stdout and stderr.
func runProduct(
    _ product: String, _ arguments: [String], environment: [String: String] = [:],
    removingEnvironment removed: [String] = [], in directory: URL? = nil
) async throws -> (status: Int32, stdout: String, stderr: String) {
    let process = try WorkerProcess(product, arguments, environment: environment, removingEnvironment: removed, in: directory)
    let status = try await process.waitForExit(timeout: .seconds(60))
    return (status ?? -1, process.stdout, process.stderr)
}
