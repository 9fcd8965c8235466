import ArgumentParser
import ServiceLifecycle
#if OpenTelemetry
import OTel
#endif

/// `pgworker run --otel`: export the spans of job attempts over OpenTelemetry (OTLP/HTTP, with
/// swift-otel), configured by the standard `OTEL_*` environment variables. Off by default.
///
/// The exporter is compiled in only with the package trait `OpenTelemetry`
/// (`swift build --traits OpenTelemetry`), since swift-otel and its HTTP client add minutes to
/// a clean build; without it, `--otel` fails with a line that says how to build it in.
struct OpenTelemetryOptions: ParsableArguments {
    @Flag(help: ArgumentHelp(
        "Export a span per job attempt over OpenTelemetry (OTLP/HTTP protobuf).",
        discussion: """
            Configured by the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (default \
            http://localhost:4318), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, \
            OTEL_SERVICE_NAME (default pgworker), OTEL_TRACES_SAMPLER and so on. Needs a pgworker \
            built with `--traits OpenTelemetry` (docs/tracing.md).
            """))
    var otel = false

    /// With `--otel`, bootstraps the process's tracer and returns the service that exports its
    /// spans, to run in the service group so that it outlives the worker and flushes its last
    /// spans; nil without `--otel`.
    func bootstrapExporter() throws -> (any Service)? {
        guard otel else { return nil }
        #if OpenTelemetry
        var configuration = OTel.Configuration.default
        configuration.serviceName = "pgworker"
        // pgworker reports metrics through Prometheus and logs through its own handlers.
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        return try OTel.bootstrap(configuration: configuration)
        #else
        throw ValidationError("""
            this pgworker was built without OpenTelemetry export; build it with \
            `swift build -c release --traits OpenTelemetry` (docs/tracing.md)
            """)
        #endif
    }
}
