"""Prometheus metrics for operators: traffic, latency, the model's batches, try-on stages, the live index.

Under gunicorn every worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` (``app.server``
creates it before forking) and ``/metrics`` adds them up, so one scrape counts all workers. Labels carry
endpoint names, status codes, error codes and stage names only: never a path (product ids), query text
or a client address.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Sequence

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.api_spec import ApiResponses, api
from app.errors import ApiError
from app.settings import MULTIPROCESS_ENV, Settings

EXTENSION = "shoplens.metrics"
# Request latencies from a cached product lookup (ms) to a loaded try-on (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128)

bp = Blueprint("metrics", __name__)


class Metrics:
    """The app's series, in a registry of its own (two apps in one process never mix counts)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        series = {"registry": self.registry}
        self.requests = Counter("shoplens_http_requests", "HTTP requests answered, by endpoint and status.",
                                ["endpoint", "method", "status"], **series)
        self.latency = Histogram("shoplens_http_request_duration_seconds", "Time to answer a request.",
                                 ["endpoint", "status"], buckets=LATENCY_BUCKETS, **series)
        self.errors = Counter("shoplens_errors", "Error responses, by the API's error code.", ["code"], **series)
        self.rate_limited = Counter("shoplens_rate_limited", "Requests refused by a rate limit, by endpoint.",
                                    ["endpoint"], **series)
        self.forward = Histogram("shoplens_model_forward_seconds", "One forward pass of the CLIP model.", ["tower"],
                                 buckets=STAGE_BUCKETS, **series)
        self.batch_size = Histogram("shoplens_model_batch_size", "Queries per forward pass.", ["tower"],
                                    buckets=BATCH_BUCKETS, **series)
        self.queue_wait = Histogram("shoplens_model_queue_wait_seconds", "Time a query waited for its forward "
                                    "pass.", ["tower"], buckets=STAGE_BUCKETS, **series)
        self.dropped = Counter("shoplens_model_queries_dropped", "Queries dropped before the model: past their "
                               "deadline or the client gone.", ["tower", "reason"], **series)
        self.decode = Histogram("shoplens_image_decode_seconds", "Decoding (and shrinking) an uploaded photo.",
                                buckets=STAGE_BUCKETS, **series)
        self.tryon_stage = Histogram("shoplens_tryon_stage_seconds", "Time in each try-on stage.", ["stage"],
                                     buckets=STAGE_BUCKETS, **series)
        self.look_items = Histogram("shoplens_look_items", "Items shop the look found in one photo (detect=true).",
                                    buckets=(0, 1, 2, 3, 4, 6, 8, 12), **series)
        self.index_info = Gauge("shoplens_index_info", "1 for the live index version and its model.",
                                ["version", "model"], multiprocess_mode="livemax", **series)
        self.index_products = Gauge("shoplens_index_products", "Products in the live index version.",
                                    multiprocess_mode="livemax", **series)
        self._live: tuple[str, str] | None = None

    # vision.batching.BatchObserver
    def batch_ran(self, tower: str, size: int, forward_seconds: float, waits: Sequence[float]) -> None:
        self.forward.labels(tower).observe(forward_seconds)
        self.batch_size.labels(tower).observe(size)
        for wait in waits:
            self.queue_wait.labels(tower).observe(wait)

    def query_dropped(self, tower: str, reason: str) -> None:
        self.dropped.labels(tower, reason).inc()

    def live_index(self, version: str, model: str, products: int) -> None:
        if self._live == (version, model):
            return
        if self._live is not None:
            self.index_info.labels(*self._live).set(0)
        self.index_info.labels(version, model).set(1)
        self.index_products.set(products)
        self._live = (version, model)

    def exposition(self) -> bytes:
        """The text format, summed over every worker when running multi-process."""
        if os.environ.get(MULTIPROCESS_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def metrics() -> Metrics:
    return current_app.extensions[EXTENSION]


def install_metrics(app: Flask, settings: Settings) -> Metrics:
    state = Metrics()
    app.extensions[EXTENSION] = state
    app.config["SHOPLENS_METRICS_TOKEN"] = settings.metrics_token

    @app.before_request
    def start_clock() -> None:
        g.shoplens_started = time.perf_counter()

    @app.after_request
    def count(response: Response) -> Response:
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
        if endpoint == "metrics.scrape":
            return response
        status = str(response.status_code)
        state.requests.labels(endpoint, request.method, status).inc()
        started = g.get("shoplens_started")
        if started is not None:
            state.latency.labels(endpoint, status).observe(time.perf_counter() - started)
        if response.status_code == 429:
            state.rate_limited.labels(endpoint).inc()
        if response.status_code >= 400:
            state.errors.labels(_error_code(response)).inc()
        return response

    app.register_blueprint(bp)
    return state


def _error_code(response: Response) -> str:
    """The ``code`` of a JSON error body (small: error bodies are a few hundred bytes)."""
    if response.is_json and not response.direct_passthrough:
        body = response.get_json(silent=True)
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code = body["error"].get("code")
            if isinstance(code, str):
                return code
    return "other"


@bp.get("/metrics")
@api.validate(resp=ApiResponses("Prometheus text exposition format, summed over all workers", "unauthorized",
                                media="text/plain"), tags=["meta"], operation_id="metrics")
def scrape():
    """Metrics for Prometheus

    Requests, latencies, model batches, try-on stages and the live index, in Prometheus's text format.
    Needs ``Authorization: Bearer <SHOPLENS_METRICS_TOKEN>`` when that setting is not empty (401 otherwise).
    """
    token = current_app.config.get("SHOPLENS_METRICS_TOKEN") or ""
    if token:
        supplied = request.headers.get("Authorization", "")
        if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
            raise ApiError("unauthorized", "Send the metrics token as 'Authorization: Bearer <token>'.",
                           {"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(metrics().exposition(), mimetype=CONTENT_TYPE_LATEST)
