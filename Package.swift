// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "pgworker",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PQClient", targets: ["PQClient"]),
        .library(name: "PGWorker", targets: ["PGWorker"]),
        .library(name: "PGWorkerTesting", targets: ["PGWorkerTesting"]),
        .library(name: "PGWorkerNIO", targets: ["PGWorkerNIO"]),
        .executable(name: "pgworker", targets: ["PGWorkerCLI"]),
        .executable(name: "pgworker-example", targets: ["ExampleWorker"]),
    ],
    traits: [
        .trait(name: "OpenTelemetry", description: """
            `pgworker run --otel`: export job spans over OpenTelemetry (swift-otel, OTLP/HTTP). Off by \
            default, since it adds minutes to a clean build: `swift build --traits OpenTelemetry`.
            """),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // Reads `pgworker run/dashboard --config FILE` (TOML; docs/configuration.md).
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        // Already in the graph through Hummingbird; 1.7 brings `withTracer` (a tracer per task).
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // `pgworker run --otel`, only with our trait OpenTelemetry; OTLP over HTTP only (no gRPC).
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // libpq, the PostgreSQL C client library (Debian: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // A small, safe Swift layer over libpq: connections, bound parameters, rows, LISTEN.
        .target(
            name: "PQClient",
            dependencies: ["CLibPQ"]
        ),
        // Starting command handlers in a process group that dies with the worker (a few system
        // calls that must run between clone and exec, which Swift cannot do).
        .target(name: "CChildProcess"),
        // The job engine: migrations, enqueueing, the worker and its handlers.
        .target(
            name: "PGWorker",
            dependencies: [
                "CChildProcess",
                "PQClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Helpers for testing code that uses pgworker: a scoped running worker, draining the
        // queue, and assertions on enqueued jobs.
        .target(
            name: "PGWorkerTesting",
            dependencies: [
                "PGWorker",
                "PQClient",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Enqueueing from an app that talks to PostgreSQL through postgres-nio, inside its own
        // transactions. The only target that depends on postgres-nio: the core does not.
        .target(
            name: "PGWorkerNIO",
            dependencies: [
                "PGWorker",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The web dashboard and the Prometheus /metrics endpoint (Hummingbird); used by the CLI.
        .target(
            name: "PGWorkerDashboard",
            dependencies: [
                "PGWorker",
                "PQClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The `pgworker` command-line tool.
        .executableTarget(
            name: "PGWorkerCLI",
            dependencies: [
                "PGWorker",
                "PGWorkerDashboard",
                "PQClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OpenTelemetry"])),
            ]
        ),
        // An example of a worker with Swift handlers in the user's own executable; the
        // fault-injection tests run it as a real worker process.
        .executableTarget(
            name: "ExampleWorker",
            dependencies: [
                "PGWorker",
                "PQClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // An order service on Hummingbird and postgres-nio that enqueues a job in the same
        // transaction as its order (examples/OrdersApp/README.md). It imports PostgresNIO,
        // PGWorker, PQClient and PGWorkerNIO together: it building proves their names do not clash.
        .executableTarget(
            name: "OrdersApp",
            dependencies: [
                "PGWorker",
                "PGWorkerNIO",
                "PQClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "examples/OrdersApp",
            exclude: ["README.md"]
        ),
        .testTarget(
            name: "PGWorkerTests",
            dependencies: [
                "PGWorker", "PGWorkerDashboard", "PGWorkerNIO", "PGWorkerTesting", "PQClient",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            // Read by path (MigrationTests), not bundled.
            exclude: ["Fixtures"]
        ),
    ]
)
