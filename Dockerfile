# pgworker: one image for the worker (`pgworker run`), the dashboard (`pgworker dashboard`) and
# `pgworker migrate`. Build: docker build -t pgworker .
ARG SWIFT_IMAGE=swift:6.2-bookworm

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update -q && apt-get install -y -q --no-install-recommends libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
RUN swift build -c release --product pgworker --static-swift-stdlib \
    && install -m 0755 "$(swift build -c release --show-bin-path)/pgworker" /usr/local/bin/pgworker

FROM debian:bookworm-slim
# libpq5: the PostgreSQL client library; tini: PID 1 that forwards SIGTERM for graceful shutdown;
# postgresql-client: psql for `pgworker psql`.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
        libpq5 libstdc++6 ca-certificates tini postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin pgworker
COPY --from=build /usr/local/bin/pgworker /usr/local/bin/pgworker
USER pgworker
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/pgworker"]
CMD ["run"]
