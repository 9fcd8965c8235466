import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// Serves a Prometheus registry as `GET /metrics` (text exposition format) over HTTP.
public struct MetricsServer: Service {
    private let application: Application<RouterResponder<BasicRequestContext>>

    /// - Parameters:
    ///   - registry: what to expose; bootstrap swift-metrics with a `PrometheusMetricsFactory` on it.
    ///   - port: 0 picks a free one (reported to `onListening`).
    public init(registry: PrometheusCollectorRegistry, host: String = "127.0.0.1", port: Int,
                logger: Logger = Logger(label: "pgworker.metrics"),
                onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        let router = Router(context: BasicRequestContext.self)
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        application = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "pgworker-metrics"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Serves until cancelled or until graceful shutdown.
    public func run() async throws {
        try await application.run()
    }
}
