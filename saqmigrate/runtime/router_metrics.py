"""Prometheus metrics of the routing shim (prefix ``saqmigrate_``).

Labels are bounded: task names, backend, reason, op. Never job ids or routing keys.
Pass ``registry=CollectorRegistry()`` in tests; the default is prometheus_client's global
registry (use ``PROMETHEUS_MULTIPROC_DIR`` mode under gunicorn / Celery prefork).
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "saqmigrate"):
        reg = REGISTRY if registry is None else registry
        self.registry = reg
        self.decisions = Counter(
            "route_decisions",
            "Route decisions by task, backend and reason.",
            ["task", "backend", "reason"],
            namespace=namespace,
            registry=reg,
        )
        self.enqueue_seconds = Histogram(
            "enqueue_duration_seconds",
            "Time to publish one dispatch, by backend.",
            ["backend"],
            namespace=namespace,
            registry=reg,
            buckets=_LATENCY_BUCKETS,
        )
        self.enqueue_errors = Counter(
            "enqueue_errors",
            "Publishes that raised, by backend and exception class.",
            ["backend", "error"],
            namespace=namespace,
            registry=reg,
        )
        self.store_errors = Counter(
            "flag_store_errors",
            "Flag-store operations that failed, by operation.",
            ["op"],
            namespace=namespace,
            registry=reg,
        )
        self.config_version = Gauge(
            "route_config_version",
            "Flag-store version this process routes with.",
            namespace=namespace,
            registry=reg,
        )
        self.config_age = Gauge(
            "route_config_age_seconds",
            "Seconds since this process last heard from the flag store (-1: never).",
            namespace=namespace,
            registry=reg,
        )
        self._flags: Any = None
        self.config_age.set_function(self._age)

    # called by the router / flag client
    def decision(self, task: str, backend: str, reason: str) -> None:
        self.decisions.labels(task, backend, reason).inc()

    def enqueued(self, backend: str, seconds: float) -> None:
        self.enqueue_seconds.labels(backend).observe(seconds)

    def enqueue_error(self, backend: str, exc: BaseException) -> None:
        self.enqueue_errors.labels(backend, type(exc).__name__).inc()

    def store_error(self, op: str) -> None:
        self.store_errors.labels(op).inc()

    def config_loaded(self, version: int, loaded_at: float) -> None:
        self.config_version.set(version)

    def config_checked(self, loaded_at: float) -> None:
        pass  # age is computed at scrape time from the bound flag client

    def bind_flags(self, flags: Any) -> None:
        self._flags = flags
        self.config_version.set(flags._snap.version)

    def _age(self) -> float:
        f = self._flags
        age = None if f is None else f.age
        return -1.0 if age is None else float(age)


def now() -> float:
    return time.perf_counter()
