import InMemoryTracing
import Synchronization
import Tracing

/// swift-distributed-tracing's `InMemoryTracer`, propagating as OpenTelemetry does: it injects
/// and extracts a W3C `traceparent` (`00-<32 hex trace id>-<16 hex span id>-01`) instead of
/// InMemoryTracer's own keys, so tests see the column and the environment variable a real
/// OpenTelemetry set-up would write. Bind it with `withTracer(tracer) { ... }`.
struct W3CTestTracer: Tracer {
    /// Records the spans.
    let spans: InMemoryTracer

    init() {
        let counter = Counter()
        spans = InMemoryTracer(idGenerator: .init(
            nextTraceID: { hex(counter.next(), digits: 32) },
            nextSpanID: { hex(counter.next(), digits: 16) }
        ))
    }

    /// The spans that ended, in order.
    var finishedSpans: [FinishedInMemorySpan] { spans.finishedSpans }

    /// The ended spans named `name`.
    func finished(_ name: String) -> [FinishedInMemorySpan] {
        finishedSpans.filter { $0.operationName == name }
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        spans.startSpan(operationName, context: context(), ofKind: kind, at: instant(),
                        function: function, file: fileID, line: line)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Carrier == Inject.Carrier {
        guard let span = context.inMemorySpanContext else { return }
        injector.inject("00-\(span.traceID)-\(span.spanID)-01", forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Carrier == Extract.Carrier {
        guard let traceparent = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = traceparent.split(separator: "-")
        guard parts.count == 4, parts[1].count == 32, parts[2].count == 16 else { return }
        context.inMemorySpanContext = InMemorySpanContext(traceID: String(parts[1]), spanID: String(parts[2]), parentSpanID: nil)
    }

    private final class Counter: Sendable {
        private let value = Mutex(0)
        func next() -> Int { value.withLock { $0 += 1; return $0 } }
    }
}

private func hex(_ value: Int, digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: digits - text.count) + text
}

extension FinishedInMemorySpan {
    /// A string attribute's value.
    func string(_ key: String) -> String? {
        if case .string(let value)? = attributes[key]?.toSpanAttribute() { return value }
        return nil
    }

    /// An integer attribute's value.
    func int(_ key: String) -> Int64? {
        switch attributes[key]?.toSpanAttribute() {
        case .int64(let value)?: return value
        case .int32(let value)?: return Int64(value)
        default: return nil
        }
    }
}
