#ifndef PGWORKER_CHILD_PROCESS_H
#define PGWORKER_CHILD_PROCESS_H

#include <sys/types.h>

/// Starts `path` with `argv` and `envp` as the leader of a new process group (its pid is the
/// group's id), with `stdin_fd`, `stdout_fd` and `stderr_fd` as its descriptors 0, 1 and 2, and
/// every signal at its default disposition and unblocked.
///
/// On Linux, when `lifeline_read_fd` is not -1, it is the read end of a pipe whose only other
/// writer is the caller (`lifeline_write_fd`, close-on-exec). Before the program starts, the read
/// end is set so that the kernel sends SIGKILL to the new process group as soon as the last write
/// end closes (O_ASYNC, F_SETOWN_EX to the group, F_SETSIG SIGKILL), and it is left open in the
/// program, so that everything the program starts inherits it. Whenever the caller's process ends,
/// however it ends, its write end closes and the whole group is killed. If the caller is already
/// gone when the child arms it, the child is killed before it runs the program. Elsewhere the
/// lifeline is ignored.
///
/// Returns 0 and sets `*pid`, or returns an errno value (also when the program could not be run).
int pgw_spawn_in_new_group(const char *path, char *const argv[], char *const envp[],
                           int stdin_fd, int stdout_fd, int stderr_fd,
                           int lifeline_read_fd, int lifeline_write_fd, pid_t *pid);

/// A descriptor that polls readable once process `pid` (a child not yet reaped) has exited,
/// or -1 where pidfd_open(2) is not available (Linux before 5.3, other systems).
int pgw_exit_descriptor(pid_t pid);

#endif
