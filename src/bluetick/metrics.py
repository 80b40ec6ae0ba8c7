"""Prometheus metrics of the service and of the agent helper (default registry)."""

from functools import cache

from prometheus_client import Counter, Gauge, Histogram

# set (to a directory) when several worker processes serve: each writes its metrics there
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

WEBHOOKS = Counter(
    "bluetick_webhooks_total", "Webhook posts received, by payload format and result.", ["format", "result"]
)
REJECTED = Counter("bluetick_rejected_requests_total", "Requests refused, by reason.", ["reason"])
ITEM_ERRORS = Counter("bluetick_item_errors_total", "Payload items skipped as unusable, by format.", ["format"])
EVENTS = Counter("bluetick_events_total", "Status events, messages and platform facts, by outcome.", ["outcome"])
QUEUE_DEPTH = Gauge(
    "bluetick_queue_depth", "Events queued or in flight, not yet committed.", multiprocess_mode="livesum"
)
BATCH_SIZE = Histogram(
    "bluetick_batch_size", "Events per committed batch.", buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
)
FLUSH_SECONDS = Histogram(
    "bluetick_flush_seconds",
    "Time of one batch's database call.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ACK_SECONDS = Histogram(
    "bluetick_ack_seconds",
    "Time from a webhook's arrival to its answer, by ack mode.",
    ["mode"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FLUSH_FAILURES = Counter("bluetick_flush_failures_total", "Batch attempts that failed, by kind.", ["kind"])
PURGED = Counter(
    "bluetick_purged_total",
    "Rows purged past ORPHAN_TTL, INBOX_TTL or EVENTS_TTL, by table (events_partitions: bluetick_events days dropped).",
    ["table"],
)
RETENTION = Counter(
    "bluetick_retention_total",
    "Past their retention: message_logs rows erased, inbox bodies deleted, parked events stripped of the BSUID.",
    ["table"],
)
REPORT_HOURS = Counter(
    "bluetick_report_hours_refreshed_total", "Hours of an organisation whose report rollups were recomputed."
)
CUSTOMER_REQUESTS = Counter(
    "bluetick_customer_requests_total", "Customer erasures and exports answered, by action.", ["action"]
)
INBOX_KEPT = Counter(
    "bluetick_inbox_kept_total",
    "Webhook bodies acknowledged and kept in the inbox (not turned completely into events), by format and reason.",
    ["format", "reason"],
)
WEBHOOK_DELIVERIES = Counter(
    "bluetick_webhook_deliveries_total",
    "Signed webhook deliveries to subscribers, by outcome: delivered (2xx), failed (another answer), timeout, "
    "refused (no connection), gone (410), blocked (a non-public address or a scheme not allowed).",
    ["outcome"],
)
WEBHOOK_LAG = Histogram(
    "bluetick_webhook_delivery_lag_seconds",
    "Time from an event's transaction to its receiver's 2xx.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400),
)
WEBHOOK_SUBSCRIPTIONS = Gauge(
    "bluetick_webhook_subscriptions",
    "Webhook subscriptions of every organisation by delivery state: ok, retrying (failing, still retried), "
    "failing (disabled after WEBHOOK_RETRY_FOR), gone (disabled by a 410). Read from the database every 15 s.",
    ["state"],
    multiprocess_mode="livemax",
)
WEBHOOKS_DISABLED = Counter(
    "bluetick_webhook_subscriptions_disabled_total",
    "Webhook subscriptions disabled by this process, by reason.",
    ["reason"],
)
CLIENT_FAILURES = Counter(
    "bluetick_client_failures_total", "Agent-side log calls that failed or timed out, by reason.", ["reason"]
)


# Children of the labelled metrics every webhook counts, looked up once: `labels()` costs a lock and a check.
@cache
def webhooks(payload_format: str, result: str) -> Counter:
    return WEBHOOKS.labels(payload_format, result)


@cache
def ack_seconds(mode: str) -> Histogram:
    return ACK_SECONDS.labels(mode)


@cache
def webhook_deliveries(outcome: str) -> Counter:
    return WEBHOOK_DELIVERIES.labels(outcome)
