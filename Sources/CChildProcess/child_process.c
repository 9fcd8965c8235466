// Starting command handlers so that they cannot outlive the worker; see ChildProcess.swift for
// why this is a lifeline pipe and not PR_SET_PDEATHSIG or a supervisor process.
#define _GNU_SOURCE
#include "child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#ifdef __linux__
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>

struct spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    int stdin_fd, stdout_fd, stderr_fd;
    int lifeline_read_fd, lifeline_write_fd;
    /// Set by the child when it cannot run the program (the memory is shared until exec).
    volatile int error;
};

static void fail(struct spawn_request *request, int error) {
    request->error = error;
    _exit(127);
}

/// Makes `fd` the child's descriptor `target`, open across exec.
static int move_to(int fd, int target) {
    if (fd == target) return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

/// Runs in the child, on its own stack but in the caller's memory (CLONE_VM, as glibc's
/// posix_spawn does) until execve: only system calls, no allocation, no locks.
static int child_main(void *argument) {
    struct spawn_request *request = argument;
    // The caller blocked every signal before the clone, so no handler of the caller's can run
    // here in its memory. Every signal back to its default, then none blocked.
    struct sigaction default_action;
    memset(&default_action, 0, sizeof default_action);
    default_action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &default_action, NULL);
    }
    if (setpgid(0, 0) != 0) fail(request, errno);
    if (move_to(request->stdin_fd, 0) != 0 || move_to(request->stdout_fd, 1) != 0 ||
        move_to(request->stderr_fd, 2) != 0) {
        fail(request, errno);
    }
    if (request->lifeline_read_fd >= 0) {
        int fd = request->lifeline_read_fd;
        struct f_owner_ex owner = { .type = F_OWNER_PGRP, .pid = getpid() };
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETOWN_EX, &owner) != 0 || fcntl(fd, F_SETSIG, SIGKILL) != 0 ||
            fcntl(fd, F_SETFL, flags | O_ASYNC) != 0 || fcntl(fd, F_SETFD, 0) != 0) {
            fail(request, errno);
        }
        // Armed. If the caller died meanwhile, this copy is the last write end, and closing it
        // kills this group here, before the program runs.
        close(request->lifeline_write_fd);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(request->path, request->argv, request->envp);
    fail(request, errno);
    return 127;
}

int pgw_spawn_in_new_group(const char *path, char *const argv[], char *const envp[],
                           int stdin_fd, int stdout_fd, int stderr_fd,
                           int lifeline_read_fd, int lifeline_write_fd, pid_t *pid) {
    struct spawn_request request = {
        .path = path, .argv = argv, .envp = envp,
        .stdin_fd = stdin_fd, .stdout_fd = stdout_fd, .stderr_fd = stderr_fd,
        .lifeline_read_fd = lifeline_read_fd, .lifeline_write_fd = lifeline_write_fd,
        .error = 0,
    };
    const size_t stack_size = 64 * 1024;
    char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    // CLONE_VFORK: this thread waits until the child has called execve or exited.
    pid_t child = clone(child_main, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
    int clone_error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, stack_size);
    if (child < 0) return clone_error;
    if (request.error != 0) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return request.error;
    }
    *pid = child;
    return 0;
}

int pgw_exit_descriptor(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

#else
#include <spawn.h>

int pgw_spawn_in_new_group(const char *path, char *const argv[], char *const envp[],
                           int stdin_fd, int stdout_fd, int stderr_fd,
                           int lifeline_read_fd, int lifeline_write_fd, pid_t *pid) {
    (void)lifeline_read_fd;
    (void)lifeline_write_fd;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setpgroup(&attributes, 0);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int error = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return error;
}

int pgw_exit_descriptor(pid_t pid) {
    (void)pid;
    return -1;
}
#endif
