import CChildProcess
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program just started as the leader of its own process group, with pipes to its stdin,
/// stdout and stderr, and its lifeline: the write end of a pipe whose closing makes the kernel
/// kill the group (see ``ChildProcess`` for why and how). The caller owns every descriptor.
struct SpawnedGroup {
    /// The leader's pid, which is also the group's id.
    let pid: pid_t
    /// The write end of the program's stdin.
    let stdin: Int32
    /// The read end of the program's stdout.
    let stdout: Int32
    /// The read end of the program's stderr.
    let stderr: Int32
    /// Held open as long as the group may live; closing it (or this process dying) kills the group.
    let lifeline: Int32

    /// Held while a child's pipes are created and marked close-on-exec, and around every spawn, so
    /// a child spawned concurrently never inherits another child's pipe ends (a `cat` would then
    /// never see end of file on stdin, and a lifeline would outlive this process in that child).
    /// Glibc's module does not export `pipe2(O_CLOEXEC)`.
    private static let spawnLock = Mutex(())

    /// Starts `arguments[0]` with `arguments` and `environment`. Blocks for the spawn only; call it
    /// from a dedicated thread. Throws a retryable ``JobFailure`` when it cannot.
    static func spawn(arguments: [String], environment: [String: String]) throws -> SpawnedGroup {
        var pipes: [[Int32]] = Array(repeating: [-1, -1], count: 4)
        let piped = spawnLock.withLock { _ -> Bool in
            for index in pipes.indices {
                guard pipe(&pipes[index]) == 0 else { return false }
                // dup2 onto 0/1/2 in the child clears the flag there; the lifeline's read end is
                // cleared by the child itself.
                for fd in pipes[index] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            }
            return true
        }
        guard piped else {
            let error = errno
            for fd in pipes.joined() where fd >= 0 { close(fd) }
            throw JobFailure.retry("cannot create pipes: errno \(error)")
        }
        let (stdinPipe, stdoutPipe, stderrPipe, lifeline) = (pipes[0], pipes[1], pipes[2], pipes[3])

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawnError = spawnLock.withLock { _ in
            pgw_spawn_in_new_group(arguments[0], argv, envp, stdinPipe[0], stdoutPipe[1], stderrPipe[1],
                                   lifeline[0], lifeline[1], &pid)
        }
        for fd in [stdinPipe[0], stdoutPipe[1], stderrPipe[1], lifeline[0]] { close(fd) }
        guard spawnError == 0 else {
            for fd in [stdinPipe[1], stdoutPipe[0], stderrPipe[0], lifeline[1]] { close(fd) }
            throw JobFailure.retry("cannot start \(arguments[0]): \(String(cString: strerror(spawnError)))")
        }
        return SpawnedGroup(pid: pid, stdin: stdinPipe[1], stdout: stdoutPipe[0], stderr: stderrPipe[0],
                            lifeline: lifeline[1])
    }

    /// The leader's wait status, decoded: (exit status, nil) or (nil, signal).
    /// WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out: the C macros are not imported.
    static func decode(waitStatus status: Int32) -> (exitStatus: Int32?, signal: Int32?) {
        status & 0x7f == 0 ? ((status >> 8) & 0xff, nil) : (nil, status & 0x7f)
    }
}
