/// A Swift type that can be read from a column in PostgreSQL's text output format.
public protocol PQDecodable: Sendable {
    /// Parses the text PostgreSQL sent, or returns nil when it does not fit the type.
    init?(postgresText: String)
}

extension String: PQDecodable {
    public init?(postgresText: String) { self = postgresText }
}

extension Int: PQDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int64: PQDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Int32: PQDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Double: PQDecodable {
    public init?(postgresText: String) { self.init(postgresText) }
}

extension Bool: PQDecodable {
    public init?(postgresText: String) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: return nil
        }
    }
}
