"""Prometheus metrics of the receiver: deliveries, processing, ack latency, inbox backlog.

``prometheus_client`` is imported on first use, not at import time: under gunicorn the
multi-process mode is chosen by ``PROMETHEUS_MULTIPROC_DIR`` *before* the first metric exists
(``stammkunde serve`` sets it, and its gunicorn config marks dead workers). In that mode
``/metrics`` aggregates the files of every worker; otherwise it reads this process's registry.
The backlog gauge is computed from the database at scrape time, so it is right in both modes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

OLDEST = "oldest_waiting_seconds"  # key of the backlog callable's age of the oldest waiting row
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    """Return the multi-process metrics directory if that mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class WebhookMetrics:
    """The receiver's metric objects, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "stammkunde_webhook_deliveries", "Webhook deliveries answered, by outcome.",
            ["platform", "topic", "outcome"], registry=self.registry)
        self.processed = Counter(
            "stammkunde_webhook_processed", "Stored deliveries processed, by outcome.",
            ["platform", "topic", "outcome"], registry=self.registry)
        self.ack_seconds = Histogram(
            "stammkunde_webhook_ack_seconds", "Time from request to acknowledgement.",
            ["platform"], buckets=BUCKETS, registry=self.registry)
        self.processing_seconds = Histogram(
            "stammkunde_webhook_processing_seconds", "Time to process one stored delivery.",
            ["platform"], buckets=BUCKETS, registry=self.registry)

    def delivery(self, platform: str, topic: str, outcome: str, seconds: float) -> None:
        """Count an answered delivery and its ack latency."""
        self.deliveries.labels(platform, topic, outcome).inc()
        self.ack_seconds.labels(platform).observe(seconds)

    def processing(self, platform: str, topic: str, outcome: str, seconds: float) -> None:
        """Count a processed delivery and its processing time."""
        self.processed.labels(platform, topic, outcome).inc()
        self.processing_seconds.labels(platform).observe(seconds)

    def render(self, backlog: Callable[[], dict[str, float]] | None = None
               ) -> tuple[bytes, str]:
        """Return the exposition text (all workers in multi-process mode) and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if multiprocess_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        text = generate_latest(registry)
        if backlog is not None:
            extra = CollectorRegistry()
            extra.register(_BacklogCollector(backlog))
            text += generate_latest(extra)
        return text, CONTENT_TYPE_LATEST


class _BacklogCollector:
    def __init__(self, backlog: Callable[[], dict[str, float]]) -> None:
        self.backlog = backlog

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily("stammkunde_webhook_inbox_backlog",
                                  "Inbox deliveries waiting, by status.", labels=["status"])
        try:
            counts = self.backlog()
        except Exception:
            counts = {}
            up = GaugeMetricFamily("stammkunde_database_up", "Whether the database answered.")
            up.add_metric([], 0)
            yield up
        else:
            up = GaugeMetricFamily("stammkunde_database_up", "Whether the database answered.")
            up.add_metric([], 1)
            yield up
        oldest = counts.pop(OLDEST, None)
        for status, count in sorted(counts.items()):
            gauge.add_metric([status], count)
        yield gauge
        if oldest is not None:
            age = GaugeMetricFamily(
                "stammkunde_webhook_inbox_oldest_waiting_seconds",
                "Age of the oldest delivery not processed yet (0: none waits).")
            age.add_metric([], oldest)
            yield age


_METRICS: WebhookMetrics | None = None


def get_metrics() -> WebhookMetrics:
    """Return the process-wide metrics (one registry per process)."""
    global _METRICS
    if _METRICS is None:
        _METRICS = WebhookMetrics()
    return _METRICS


def mark_worker_dead(pid: int) -> None:
    """Tell the multi-process collector that a gunicorn worker exited (gunicorn child_exit)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
