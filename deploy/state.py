"""The service's state and its Prometheus metrics: the settings from params.yaml, the loaded models, the
prediction and feedback logs, and every counter the service exports (one place to read what `/metrics` says)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from deploy.jsonlines import JsonLinesLog
from deploy.payload import InputSpec
from deploy.scoring import Bundle

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class ServiceSettings:
    """From `serve:` in params.yaml (no defaults here: the values live there once)."""

    max_body_bytes: int
    request_timeout_seconds: float
    inline_max_rows: int  # larger batches are scored on a worker thread, under the timeout
    feedback_max_items: int  # outcomes per /feedback request
    feedback_max_age_days: float  # an id older than this is refused (its prediction has left the log window)
    challenger_traffic: float = 0.0  # share of requests the challenger answers (A/B, by id); 0: shadow only


@dataclass
class State:
    """What the app knows at a given moment; `bundle` is None until the model is loaded."""

    settings: ServiceSettings
    input_spec: InputSpec
    bundle: Bundle | None = None
    load_error: str | None = None
    challenger: Bundle | None = None  # scored on every request beside the champion (shadow), logged, not returned
    challenger_error: str | None = None
    log: JsonLinesLog | None = None
    feedback_log: JsonLinesLog | None = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    # large batches are scored off the event loop; two workers, as the image runs one process per core pair
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, "score"))
    routes: frozenset[str] = frozenset()  # the app's own paths (deploy/app.py sets them); others count as "other"

    def __post_init__(self) -> None:
        r = self.registry
        labels = ["route", "status", "model_version"]
        self.requests = Counter("prediction_requests", "HTTP requests by route and status", labels, registry=r)
        self.latency = Histogram(
            "prediction_request_duration_seconds",
            "request latency by route and status",
            labels,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=r,
        )
        self.predictions = Counter("predictions", "predicted rows by class", ["class", "model_version"], registry=r)
        self.ready = Gauge("model_ready", "1 once the model is loaded and verified", registry=r)
        self.info = Gauge(
            "model_info", "the loaded model", ["model_version", "model_hash", "git_commit", "data_hash"], registry=r
        )
        self.log_dropped = Gauge(
            "prediction_log_dropped", "prediction log records dropped (queue full or capped)", registry=r
        )
        self.log_dropped.set_function(lambda: float(self.log.dropped) if self.log else 0.0)
        self.feedback_dropped = Gauge(
            "feedback_log_dropped", "accepted outcomes the feedback log could not write", registry=r
        )
        self.feedback_dropped.set_function(lambda: float(self.feedback_log.dropped) if self.feedback_log else 0.0)
        self.feedback = Counter("feedback", "outcomes received by /feedback, by result", ["result"], registry=r)
        self.shadow_rows = Counter("shadow_rows", "rows the challenger scored, by whether it answered", ["answered"],
                                   registry=r)  # fmt: skip
        self.shadow_failures = Counter(
            "shadow_failures", "challenger failures (never a failed request), by stage", ["stage"], registry=r
        )
        self.not_logged_rows = Counter(
            "prediction_rows_not_logged", "answered rows the prediction log did not record (outcomes for their ids "
            "cannot be scored), by reason: sampled_out (serve.log.sample_rate), row_cap (max_rows_per_request)",
            ["reason"], registry=r,
        )  # fmt: skip
        self.invalid_outputs = Counter(
            "model_output_invalid", "rows whose output was NaN or infinite (answered 500, not logged), by version",
            ["model_version"], registry=r,
        )  # fmt: skip

    def not_logged(self, rows: int, sampled: bool) -> dict[str, Any] | None:
        """What a response says about its rows the log will not record (counted by reason), or None when every
        row is logged (or no log is configured)."""
        if self.log is None:
            return None
        log = self.log.settings
        if not sampled:
            self.not_logged_rows.labels("sampled_out").inc(rows)
            why = f"the request was sampled out (serve.log.sample_rate {log.sample_rate:g})"
            return {"rows": rows, "reason": why + ": outcomes for these ids cannot be scored"}
        if rows > log.max_rows_per_request:
            self.not_logged_rows.labels("row_cap").inc(rows - log.max_rows_per_request)
            cap = log.max_rows_per_request
            why = f"only the first {cap} rows of a request are logged (serve.log.max_rows_per_request)"
            return {
                "rows": rows - log.max_rows_per_request,
                "reason": why + ": outcomes for the later ids cannot be scored",
            }
        return None

    @property
    def version(self) -> str:
        """The loaded model's version label, or "none" before it is loaded."""
        return self.bundle.labels["model_version"] if self.bundle else "none"


class MetricsMiddleware:
    """Counts and times every request by route and status (a plain ASGI wrapper: no per-request objects)."""

    def __init__(self, app: ASGIApp, state: State):
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope["path"] if scope["path"] in self.state.routes else "other"
            labels = (route, str(status), self.state.version)
            self.state.requests.labels(*labels).inc()
            self.state.latency.labels(*labels).observe(time.perf_counter() - start)
