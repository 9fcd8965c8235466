/// How a command task's command line is handed to `/bin/sh -c`.
///
/// A simple command (`php worker.php`, `python3 'my job.py' --fast`) gets `exec ` in front, so the
/// program replaces the shell instead of running as its child: Debian's `/bin/sh` (dash) does not
/// exec the last command itself. The program then holds its stdin and stdout alone -- a
/// persistent program that closes its stdout is noticed at once, not at its timeout -- its signals
/// reach it directly, and a job costs one process instead of two. Anything the rule is unsure of
/// (operators, expansions, redirections, an assignment or a shell builtin first) runs as written.
enum ShellCommand {
    /// The shell words that must not follow `exec`.
    private static let builtins: Set<String> = [
        "exec", "cd", "export", "set", "unset", ".", "source", "eval", "command", "builtin", "trap", "ulimit",
        "umask", "wait", "if", "for", "while", "until", "case", "!", "time", "alias", "readonly", "shift",
        "return", "exit", "true", "false", ":", "test", "[", "echo", "printf", "read", "local", "type", "hash",
    ]

    /// The arguments that run `command`: `/bin/sh -c [exec ]command`.
    static func arguments(_ command: String) -> [String] {
        ["/bin/sh", "-c", execIfSimple(command)]
    }

    /// `exec command` when `command` is one simple command, else `command` unchanged.
    static func execIfSimple(_ command: String) -> String {
        let special: Set<Character> = [";", "&", "|", "<", ">", "(", ")", "$", "`", "\n", "\r", "{", "}", "\\", "*", "?", "[", "~", "#"]
        guard !command.contains(where: special.contains) else { return command }
        let trimmed = command.drop(while: { $0 == " " || $0 == "\t" })
        guard let first = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).first,
              !first.contains("="), !first.contains("\""), !first.contains("'"),
              !builtins.contains(String(first))
        else { return command }
        return "exec " + trimmed
    }
}
