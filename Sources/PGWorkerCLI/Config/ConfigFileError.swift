/// A config file that cannot be used, said in one line: the file, the line when known, the key,
/// and what is wrong (`pgworker.toml:7: tasks.resize.timeout: expected a number of seconds, got "abc"`).
struct ConfigFileError: Error, CustomStringConvertible {
    /// The file as the user named it.
    var file: String
    /// The 1-based line, when it is known.
    var line: Int?
    /// The 1-based column, when it is known (syntax errors).
    var column: Int? = nil
    /// The dotted key path (`tasks.resize.timeout`), or nil for errors about the whole file.
    var key: String?
    /// What is wrong.
    var message: String

    var description: String {
        let place = [file, line.map(String.init), column.map(String.init)].compactMap { $0 }.joined(separator: ":")
        let subject = key.map { "\(place): \($0)" } ?? place
        return "\(subject): \(message)".replacingOccurrences(of: "\n", with: " ")
    }
}
