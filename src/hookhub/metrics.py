"""Prometheus metrics (issue #10): the metric families, the small functions the code records
through, and the text exposition `GET /metrics` serves (`api/metrics.py`).

Every label has a bounded set of values: HTTP routes are route templates (`/hooks/{integrationId}/
{token}`, `/api/v1/integrations.list`), never raw paths, which for hooks carry the integration's
secret token; methods outside the usual few are `other`; delivery attempts are `1`, `2`, `3`, `4+`;
hook refusal reasons are hookhub's own error codes (a script's error value is `script_error`).

Several processes (`hookhub serve --workers N`): the supervisor sets `PROMETHEUS_MULTIPROC_DIR`
to a fresh private directory before it starts the workers (`serving.Supervisor`), so
prometheus-client keeps every value in a per-process memory-mapped file there and any worker's
`/metrics` adds up all of them. Without it (one process, tests) the values live in this process.
The delivery-queue gauges are facts of the shared database: computed at scrape time
(`DeliveryGauges`), not per process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4

HookOutcome = Literal["posted", "refused", "rate_limited", "duplicate"]
ScriptKind = Literal["incoming", "outgoing"]
DeliveryOutcome = Literal["delivered", "retrying", "failed", "cancelled"]

# `*_created` samples (when each series was first seen) only add noise; multiprocess mode has none.
disable_created_metrics()  # type: ignore[no-untyped-call]

# The values this process records (written to its mmap files in multiprocess mode). Kept out of
# prometheus-client's global registry: /metrics shows hookhub's families and nothing else.
_REGISTRY = CollectorRegistry(auto_describe=False)

HTTP_REQUESTS = Counter(
    "hookhub_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
    registry=_REGISTRY,
)
HTTP_DURATION = Histogram(
    "hookhub_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=_REGISTRY,
)
INCOMING_HOOKS = Counter(
    "hookhub_incoming_hooks",
    "Incoming webhook calls (/hooks) by outcome; refusals by reason",
    ["outcome", "reason"],
    registry=_REGISTRY,
)
SCRIPT_RUNS = Counter(
    "hookhub_script_runs",
    "Integration script calls by kind (incoming, outgoing) and outcome",
    ["kind", "outcome"],
    registry=_REGISTRY,
)
SCRIPT_DURATION = Histogram(
    "hookhub_script_duration_seconds",
    "Wall time of integration script calls, by kind",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=_REGISTRY,
)
OUTGOING_DELIVERIES = Counter(
    "hookhub_outgoing_deliveries",
    "Outgoing webhook delivery attempts by outcome and attempt number",
    ["outcome", "attempt"],
    registry=_REGISTRY,
)
HISTORY_PRUNED = Counter(
    "hookhub_history_pruned",
    "Outgoing integration history records deleted by retention (age or count per integration)",
    registry=_REGISTRY,
)

# -- labels ----------------------------------------------------------------------------------------

_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
UNMATCHED: Final = "unmatched"
_HOOK_HELPERS = frozenset({"info", "sample", "add", "remove"})
_HOOK_ROUTES = {
    2: "/hooks/{integrationId}/{token}",
    3: "/hooks/{integrationId}/{userId}/{token}",
}
_HOOK_HELPER_ROUTES = {
    (name, n): f"/hooks/{name}/{{integrationId}}/{{token}}"
    if n == 3
    else f"/hooks/{name}/{{integrationId}}/{{userId}}/{{token}}"
    for name in _HOOK_HELPERS
    for n in (3, 4)
}
HOOK_OTHER_ROUTE: Final = "/hooks/{path}"


def method_label(method: str) -> str:
    """The request method, or `other` for anything outside the usual verbs (clients may send
    any token as a method)."""
    return method if method in _METHODS else "other"


def hook_route(raw_path: str) -> str:
    """The route template of a `/hooks/...` path, split as `api/hooks.py` splits it (on the raw
    path, so a `%2F` inside an old token stays in its segment). Never contains a path value but
    a helper's name."""
    rest = raw_path.split("/hooks/", 1)[1] if "/hooks/" in raw_path else ""
    segments = rest.split("/")
    count = len(segments)
    if count in (3, 4) and segments[0] in _HOOK_HELPERS:
        return _HOOK_HELPER_ROUTES[(segments[0], count)]
    return _HOOK_ROUTES.get(count, HOOK_OTHER_ROUTE)


def attempt_label(attempt: int) -> str:
    """A delivery attempt's number (1 = the first) as a bounded label."""
    return "4+" if attempt > 3 else str(max(attempt, 1))


# -- recording -------------------------------------------------------------------------------------

# Label children by value: `labels()` validates and locks on every call, which the per-request
# path does not need (label values are bounded, so this stays small).
_http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_hook_children: dict[tuple[str, str], Counter] = {}


def record_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered HTTP request (`route`: its template, see `api/metrics.py`)."""
    key = (method if method in _METHODS else "other", route, status)
    children = _http_children.get(key)
    if children is None:
        children = (
            HTTP_REQUESTS.labels(key[0], route, str(status)),
            HTTP_DURATION.labels(key[0], route),
        )
        _http_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def record_hook(outcome: HookOutcome, reason: str = "") -> None:
    """One incoming hook call's outcome; `reason` (a refusal's) must come from a bounded set."""
    counter = _hook_children.get((outcome, reason))
    if counter is None:
        counter = _hook_children[(outcome, reason)] = INCOMING_HOOKS.labels(outcome, reason)
    counter.inc()


def record_script(kind: ScriptKind, outcome: str, seconds: float) -> None:
    """One script call: `outcome` is the sandbox's status (ok, error, timeout, out_of_memory,
    compile_error)."""
    SCRIPT_RUNS.labels(kind, outcome).inc()
    SCRIPT_DURATION.labels(kind).observe(seconds)


def record_delivery(outcome: DeliveryOutcome, attempt: int) -> None:
    """How attempt number `attempt` (1 = the first) of a delivery ended."""
    OUTGOING_DELIVERIES.labels(outcome, attempt_label(attempt)).inc()


def record_history_pruned(count: int) -> None:
    if count > 0:
        HISTORY_PRUNED.inc(count)


# -- exposition ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryGauges:
    """The delivery queue at scrape time: deliveries claimable now, pending ones waiting for a
    later time (retries), and how long the oldest claimable one has waited (0 when none)."""

    due: int
    scheduled: int
    oldest_due_age_seconds: float


class _Gauges(Collector):
    def __init__(self, gauges: DeliveryGauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterable[Metric]:
        g = self._gauges
        yield GaugeMetricFamily(
            "hookhub_outgoing_deliveries_due",
            "Pending outgoing deliveries that could be sent now (due, not leased)",
            value=g.due,
        )
        yield GaugeMetricFamily(
            "hookhub_outgoing_deliveries_scheduled",
            "Pending outgoing deliveries waiting for a later attempt time (retries)",
            value=g.scheduled,
        )
        yield GaugeMetricFamily(
            "hookhub_outgoing_oldest_due_age_seconds",
            "How long the longest-waiting due delivery has been due (0 when none is)",
            value=g.oldest_due_age_seconds,
        )


class _Local(Collector):
    """This process's values (single-process mode)."""

    def collect(self) -> Iterator[Metric]:
        yield from _REGISTRY.collect()


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, or None when this process counts alone."""
    return os.environ.get(MULTIPROC_ENV) or None


def render(gauges: DeliveryGauges) -> bytes:
    """The text exposition of every family: in multiprocess mode summed over the files of every
    worker (past ones included: a replaced worker's counts stay), else this process's."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path is not None:
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Local())
    registry.register(_Gauges(gauges))
    return generate_latest(registry)


def process_ended(pid: int) -> None:
    """Bookkeeping for a worker that ended (multiprocess mode): its live-gauge files go; its
    counters stay in the sums."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
