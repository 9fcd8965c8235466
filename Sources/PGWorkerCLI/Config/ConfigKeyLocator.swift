import Foundation

/// Finds the line of a key in a TOML text, for error messages (the TOML reader knows where a
/// syntax error is, but not where a well-formed value came from).
///
/// A best-effort scan: it follows `[table]` and `[[table]]` headers and `a.b = ...` keys, skips
/// multi-line strings, and answers nil rather than guess when the key is not written plainly.
struct ConfigKeyLocator {
    /// The file's text.
    var text: String

    /// The 1-based line where `path` is set or its table begins; for a key inside an inline table
    /// or a dotted key, the line of the nearest enclosing key that is written out.
    func line(of path: [String]) -> Int? {
        var table: [String] = []
        var insideMultilineString = false
        var best: (line: Int, depth: Int)?
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingPrefix(while: \.isWhitespace)
            let delimiters = line.ranges(of: "'''").count + line.ranges(of: "\"\"\"").count
            defer { if delimiters % 2 == 1 { insideMultilineString.toggle() } }
            if insideMultilineString || line.isEmpty || line.first == "#" { continue }
            let keyed: [String]
            if line.hasPrefix("[") {
                let header = line.drop { $0 == "[" }.prefix { $0 != "]" }
                table = Self.keyParts(header)
                keyed = table
            } else if let equals = line.firstIndex(of: "=") {
                keyed = table + Self.keyParts(line[..<equals])
            } else {
                continue
            }
            let shared = zip(keyed, path).prefix { $0 == $1 }.count
            // The key itself, or the table that holds it (`[tasks.resize]` for `tasks.resize.timeout`),
            // or a key that begins inside it (`tasks.resize` for an error about that whole table).
            guard shared == path.count || shared == keyed.count else { continue }
            if best.map({ shared > $0.depth }) ?? true { best = (index + 1, shared) }
        }
        return best?.line
    }

    /// `a."b.c" . d` as ["a", "b.c", "d"].
    private static func keyParts(_ text: Substring) -> [String] {
        var parts: [String] = []
        var current = ""
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "." {
                parts.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current.trimmingCharacters(in: .whitespaces))
        return parts
    }
}
