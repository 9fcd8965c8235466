-- pgworker migration 012: the trace context of the span that enqueued a job (docs/tracing.md).
--
-- What the application's tracing instrument wrote when the job was enqueued, as a JSON object of
-- string values: with OpenTelemetry, the W3C `traceparent` (and `tracestate` if any). The worker
-- starts each attempt's span as a child of it, so a job can be followed from the request that
-- enqueued it to the handler that ran it. NULL when nothing was traced; a nullable column added
-- without a default rewrites nothing. W3C caps tracestate at 512 characters; 4 kB leaves room for
-- other propagators while keeping the claim's rows small.
ALTER TABLE pgworker.jobs ADD COLUMN IF NOT EXISTS trace_context jsonb
    CHECK (jsonb_typeof(trace_context) = 'object' AND octet_length(trace_context::text) <= 4096);

-- add_job takes a trace_context; its definition file creates the new signature.
DROP FUNCTION IF EXISTS pgworker.add_job(text, jsonb, text, timestamptz, integer, integer, text, text, text);
