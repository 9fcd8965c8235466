import Foundation
import Tracing

/// A job's trace context as stored in `pgworker.jobs.trace_context`: the string values the active
/// instrument injects (with OpenTelemetry, the W3C `traceparent` and `tracestate`), as a JSON
/// object. pgworker never reads the values itself, so whatever propagator the application
/// bootstrapped decides the format.
enum TraceContextCarrier {
    /// The JSON text to store for `context`, or nil when the instrument wrote nothing (no tracer,
    /// or no span in `context`).
    static func json(injecting context: ServiceContext, with instrument: any Instrument) -> String? {
        let values = inject(context, with: instrument)
        guard !values.isEmpty,
              let data = try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])
        else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// A top-level context carrying the trace context stored as `json`. Values that are not
    /// strings, and text that is not a JSON object, are ignored: a bad context never fails a job.
    static func context(extracting json: String, with instrument: any Instrument) -> ServiceContext {
        var context = ServiceContext.topLevel
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            return context
        }
        let values = object.compactMapValues { $0 as? String }
        instrument.extract(values, into: &context, using: DictionaryExtractor())
        return context
    }

    /// The environment variables that carry `context` to a child process, named after the
    /// injected keys in upper case (`TRACEPARENT`, `TRACESTATE`), as OpenTelemetry's
    /// "environment variables as context propagation carriers" specifies.
    static func environment(injecting context: ServiceContext, with instrument: any Instrument) -> [String: String] {
        var environment: [String: String] = [:]
        for (key, value) in inject(context, with: instrument) {
            environment[environmentName(key)] = value
        }
        return environment
    }

    /// `traceparent` → `TRACEPARENT`; characters a variable name cannot hold become `_`.
    static func environmentName(_ key: String) -> String {
        String(key.uppercased().unicodeScalars.map { scalar -> Character in
            ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) ? Character(scalar) : "_"
        })
    }

    private static func inject(_ context: ServiceContext, with instrument: any Instrument) -> [String: String] {
        var values: [String: String] = [:]
        instrument.inject(context, into: &values, using: DictionaryInjector())
        return values
    }
}

/// Writes injected values into a dictionary.
struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

/// Reads values from a dictionary.
struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key]
    }
}
