"""Outcomes per task and backend: what each task did on Celery and on SAQ, in Redis time buckets.

Recorded by the routing wiring, never by the task code:

* **Celery**: :func:`install_celery` (called by ``install_send_task_hook``, i.e. the generated
  ``install(app)``) connects Celery's ``before_task_publish`` (stamps the publish time into the
  message headers, for the queue wait), ``task_prerun`` and ``task_postrun`` (state ``SUCCESS`` /
  ``FAILURE`` / ``RETRY`` and the run time) signals.
* **SAQ**: :func:`saq_hooks` (``before_process`` / ``after_process``, merged into the generated
  worker settings by ``runtime.worker.worker_settings``).

Per outcome, :meth:`OutcomeRecorder.record` adds to an in-process aggregate and observes the
Prometheus metrics (``saqmigrate_jobs_total{task,backend,status}`` ..., runtime/metrics.py). A
daemon thread flushes the aggregate every ``flush_interval`` seconds (default 1 s) in **one
pipeline** (one round trip for every outcome of that second, whatever their number). Recording
never raises into a task: a Redis error is counted (``OutcomeRecorder.errors``,
``saqmigrate_outcome_record_errors_total{op}``), logged at most once a minute, and that batch is
dropped; at most ``max_pending`` distinct keys wait in memory.

Redis layout (the flag store's Redis and namespace ``ns``; docs/cockpit.md has the cost)::

    {ns}:out:{bucket}:{backend}:{task}   HASH  ok, fail, retry, dead, d<bin>, w<bin>   (EXPIRE = retention)
    {ns}:out:tasks                       ZSET  "backend|task" -> last time seen (trimmed to the retention)
    {ns}:out:bucket                      STRING  the bucket size every writer and reader of ``ns`` uses
    {ns}:out:retention                   STRING  the longest retention of its writers (readers clamp to it)

``bucket`` is the Unix time of the bucket's start (``bucket_seconds``, default 60). ``d<bin>`` /
``w<bin>`` count run times / queue waits in log-spaced bins of ratio 2^(1/4) (about 19 %), so a
quantile read back is within about 9 % of the true one, and only bins that were hit cost memory.

Nothing here imports the analyzer, click or rich (the cockpit reads what this writes).
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

log = logging.getLogger("saqmigrate.outcomes")

CELERY, SAQ = "celery", "saq"
BACKENDS = (CELERY, SAQ)
SUCCESS, FAILURE, RETRY = "success", "failure", "retry"

ENV_ENABLED = "SAQMIGRATE_OUTCOMES"  # "0" turns recording off
ENV_BUCKET = "SAQMIGRATE_OUTCOMES_BUCKET"  # seconds per bucket (default 60)
ENV_RETENTION = "SAQMIGRATE_OUTCOMES_RETENTION"  # seconds a bucket is kept (default 2 days)
DEFAULT_BUCKET = 60
DEFAULT_RETENTION = 2 * 86400
SENT_HEADER = "saqmigrate_sent"  # epoch seconds a Celery message was published (queue wait)

# ---------------------------------------------------------------------------- histogram bins (pure)

BINS_PER_DOUBLING = 4
MIN_BIN = -40  # 2^(-10) ms ~ 1 microsecond and below
MAX_BIN = 88  # 2^22 ms ~ 70 min and above


def bin_of(seconds: float) -> int:
    """The log bin of a duration: bin b holds [2^(b/4), 2^((b+1)/4)) milliseconds (clamped)."""
    ms = seconds * 1000.0
    if not ms > 0:  # 0, negative, NaN
        return MIN_BIN
    b = math.floor(math.log2(ms) * BINS_PER_DOUBLING)
    return MIN_BIN if b < MIN_BIN else MAX_BIN if b > MAX_BIN else b


def bin_bounds(b: int) -> tuple[float, float]:
    """(lower, upper) seconds of bin ``b``."""
    return 2 ** (b / BINS_PER_DOUBLING) / 1000.0, 2 ** ((b + 1) / BINS_PER_DOUBLING) / 1000.0


def quantile(hist: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a bin -> count histogram, interpolated geometrically inside
    its bin; None for an empty histogram."""
    total = sum(c for c in hist.values() if c > 0)
    if total <= 0:
        return None
    q = min(max(q, 0.0), 1.0)
    rank = q * total
    seen = 0
    for b in sorted(hist):
        c = hist[b]
        if c <= 0:
            continue
        if seen + c >= rank:
            lo, hi = bin_bounds(b)
            frac = (rank - seen) / c
            return lo * (hi / lo) ** frac
        seen += c
    return bin_bounds(max(hist))[1]  # pragma: no cover - rounding


# ---------------------------------------------------------------------------- what one window holds


@dataclass
class Stats:
    """Everything one task did on one backend in a time range (bucket sums)."""

    successes: int = 0
    failures: int = 0
    retries: int = 0
    dead: int = 0
    duration: dict[int, int] = field(default_factory=dict)  # bin -> attempts
    wait: dict[int, int] = field(default_factory=dict)  # bin -> first attempts

    @property
    def runs(self) -> int:
        """Finished runs (successes + final failures); retried attempts are not runs."""
        return self.successes + self.failures

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.runs if self.runs else None

    def duration_q(self, q: float) -> float | None:
        return quantile(self.duration, q)

    def wait_q(self, q: float) -> float | None:
        return quantile(self.wait, q)

    def add_hash(self, h: Mapping[Any, Any]) -> None:
        """Add one stored bucket (a Redis hash, str or bytes fields)."""
        for k, v in h.items():
            k = k.decode() if isinstance(k, bytes) else str(k)
            try:
                n = int(v)
            except (TypeError, ValueError):
                continue
            if k == "ok":
                self.successes += n
            elif k == "fail":
                self.failures += n
            elif k == "retry":
                self.retries += n
            elif k == "dead":
                self.dead += n
            elif k[:1] in ("d", "w") and _is_int(k[1:]):
                hist = self.duration if k[0] == "d" else self.wait
                b = int(k[1:])
                hist[b] = hist.get(b, 0) + n

    def merge(self, other: "Stats") -> "Stats":
        out = Stats(
            self.successes + other.successes,
            self.failures + other.failures,
            self.retries + other.retries,
            self.dead + other.dead,
            dict(self.duration),
            dict(self.wait),
        )
        for src, dst in ((other.duration, out.duration), (other.wait, out.wait)):
            for b, c in src.items():
                dst[b] = dst.get(b, 0) + c
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "successes": self.successes,
            "failures": self.failures,
            "retries": self.retries,
            "dead_letters": self.dead,
            "failure_rate": self.failure_rate,
            "p50": self.duration_q(0.5),
            "p95": self.duration_q(0.95),
            "wait_p95": self.wait_q(0.95),
        }


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


# ---------------------------------------------------------------------------- keys


class OutcomeKeys:
    def __init__(self, namespace: str):
        self.namespace = namespace
        self.prefix = f"{namespace}:out"
        self.tasks = f"{self.prefix}:tasks"
        self.bucket_size = f"{self.prefix}:bucket"
        self.retention = f"{self.prefix}:retention"  # the longest retention a writer of the namespace uses

    def bucket(self, start: int, backend: str, task: str) -> str:
        return f"{self.prefix}:{start}:{backend}:{task}"


def _namespace_default() -> str:
    return os.environ.get("SAQMIGRATE_NAMESPACE") or "saqmigrate"


def _env_int(name: str, default: int) -> int:
    from saqmigrate.runtime.envvars import env_number

    return int(env_number(name, default))


def redis_time(client: Any) -> float:
    """The Redis server's clock (``TIME``), epoch seconds: the one clock every host of a namespace shares."""
    sec, usec = client.time()
    return int(sec) + int(usec) / 1e6


#: seconds of difference between a host's clock and Redis's above which it is logged (and corrected: the
#: recorders write buckets in Redis time, the cockpit reads and stamps steps in Redis time)
SKEW_WARN = 2.0


# ---------------------------------------------------------------------------- writing


_RECORDERS: "weakref.WeakSet[OutcomeRecorder]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for r in list(_RECORDERS):
        r._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class OutcomeRecorder:
    """Aggregates outcomes in memory and flushes them to Redis from a daemon thread.

    ``url=None``: resolved at the first flush from the process-wide router's flag client, else
    the flag store's environment (``SAQMIGRATE_REDIS_URL`` / ``REDIS_URL``); with none, outcomes
    are only counted in Prometheus. ``flush_interval=0``: no thread, call :meth:`flush`.
    """

    def __init__(
        self,
        url: str | None = None,
        namespace: str | None = None,
        *,
        bucket_seconds: int | None = None,
        retention: int | None = None,
        flush_interval: float = 1.0,
        metrics: Any = "default",
        max_pending: int = 10_000,
        socket_timeout: float = 0.5,
    ):
        self.url = url
        self.namespace = namespace
        self.bucket_seconds = int(bucket_seconds or _env_int(ENV_BUCKET, DEFAULT_BUCKET))
        self.retention = int(retention or _env_int(ENV_RETENTION, DEFAULT_RETENTION))
        self.flush_interval = float(flush_interval)
        self.max_pending = max_pending
        self.socket_timeout = socket_timeout
        self._metrics = metrics
        self.errors = 0
        self.dropped = 0
        self.flushes = 0
        self._last_error_log = 0.0
        self._pending: dict[tuple[int, str, str], dict[str, int]] = {}
        self._seen: dict[str, float] = {}  # "backend|task" -> last time
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._client: Any = None
        self._keys: OutcomeKeys | None = None
        self._last_trim = 0.0
        self.skew = 0.0  # Redis time - this host's time, measured at most once a minute by the flusher
        self._skew_at = -1e9
        self._skew_logged = False
        _RECORDERS.add(self)

    # -- recording (hot path: no I/O) ---------------------------------------------------

    @property
    def metrics(self) -> Any:
        m = self._metrics
        if m == "default":
            try:
                from saqmigrate.runtime.metrics import default_outcome_metrics

                m = default_outcome_metrics()
            except Exception:  # noqa: BLE001 - no prometheus: counts only in Redis
                m = None
            self._metrics = m
        return m

    def record(
        self,
        task: str,
        backend: str,
        status: str | None,
        *,
        duration: float | None = None,
        wait: float | None = None,
        dead: bool = False,
        now: float | None = None,
    ) -> None:
        """One attempt's outcome: ``status`` success | failure (final) | retry (will run again);
        ``None`` status: only the duration/wait (an aborted job). Never raises."""
        try:
            m = self.metrics
            if m is not None:
                m.observe(task, backend, status, duration, wait, dead)
            t = time.time() if now is None else now
            key = (int(t), backend, task)  # the bucket is chosen at flush time (the namespace's bucket size)
            fields: list[str] = []
            if status == SUCCESS:
                fields.append("ok")
            elif status == FAILURE:
                fields.append("fail")
            elif status == RETRY:
                fields.append("retry")
            if dead:
                fields.append("dead")
            if duration is not None:
                fields.append(f"d{bin_of(duration)}")
            if wait is not None:
                fields.append(f"w{bin_of(wait)}")
            if os.getpid() != self._pid:
                self._forget_after_fork()
            with self._lock:
                agg = self._pending.get(key)
                if agg is None:
                    if len(self._pending) >= self.max_pending:
                        self.dropped += 1
                        return
                    agg = self._pending[key] = {}
                for f in fields:
                    agg[f] = agg.get(f, 0) + 1
                self._seen[f"{backend}|{task}"] = t
            if self._thread is None and self.flush_interval > 0:
                self._start()
        except Exception:  # noqa: BLE001 - recording never breaks a task
            self.errors += 1
            self._error("record", None)

    # -- flushing ------------------------------------------------------------------------

    def _resolve(self) -> bool:
        if self._keys is not None and self._client is not None:
            return True
        url, ns = self.url, self.namespace
        if url is None or ns is None:
            try:
                from saqmigrate.runtime.router import get_router

                r = get_router()
                flags = getattr(r, "flags", None)
                if flags is not None:
                    url = url or flags.url
                    ns = ns or flags.keys.namespace
            except Exception:  # noqa: BLE001
                pass
        if url is None:
            from saqmigrate.runtime.urls import flag_store_url

            url = flag_store_url()
        if not url:
            return False
        from saqmigrate.runtime.flags import make_client

        client = make_client(url, self.socket_timeout)
        keys = OutcomeKeys(ns or _namespace_default())
        # every writer of a namespace uses one bucket size: the first one stored (readers read it too)
        client.set(keys.bucket_size, self.bucket_seconds, nx=True)
        stored = client.get(keys.bucket_size)
        if stored and str(stored).isdigit() and int(stored) > 0:
            self.bucket_seconds = int(stored)
        kept = client.get(keys.retention)  # readers clamp a window to it (a longer one would read nothing)
        if not (kept and str(kept).isdigit() and int(kept) >= self.retention):
            client.set(keys.retention, self.retention)
        self._client, self._keys = client, keys
        return True

    def _measure_skew(self) -> None:
        """Redis time - local time (a flush writes buckets in Redis time: the hosts' clocks may differ)."""
        if time.monotonic() - self._skew_at < 60:
            return
        self._skew_at = time.monotonic()
        t0 = time.time()
        rt = redis_time(self._client)
        self.skew = rt - (t0 + time.time()) / 2
        if abs(self.skew) > SKEW_WARN and not self._skew_logged:
            self._skew_logged = True
            log.warning(
                "saqmigrate outcomes: this host's clock is %+.1f s off the Redis server's; outcomes are "
                "bucketed in Redis time (keep the clocks in sync with NTP)",
                -self.skew,
            )

    def flush(self) -> bool:
        """Write what is pending in one pipeline; False (batch dropped, error counted) on failure."""
        with self._lock:
            pending, self._pending = self._pending, {}
            seen, self._seen = self._seen, {}
        if not pending and not seen:
            return True
        try:
            if not self._resolve():
                return False
            k = self._keys
            assert k is not None
            try:
                self._measure_skew()
            except Exception:  # noqa: BLE001 - no TIME (a proxy refusing it): local time
                self._skew_at = time.monotonic()
            # whole seconds only: under a second, the clocks agree at bucket resolution
            off = round(self.skew) if abs(self.skew) >= 1 else 0
            if off:
                seen = {m: t + off for m, t in seen.items()}
            size = self.bucket_seconds
            buckets: dict[str, dict[str, int]] = {}
            for (sec, backend, task), agg in pending.items():
                sec += off
                into = buckets.setdefault(k.bucket(sec // size * size, backend, task), {})
                for f, n in agg.items():
                    into[f] = into.get(f, 0) + n
            pipe = self._client.pipeline(transaction=False)
            for full, agg in buckets.items():
                for f, n in agg.items():
                    pipe.hincrby(full, f, n)
                pipe.expire(full, self.retention)
            if seen:
                pipe.zadd(k.tasks, seen)
            now = time.time() + off
            if now - self._last_trim > 60:
                pipe.zremrangebyscore(k.tasks, "-inf", now - self.retention)
                self._last_trim = now
            pipe.execute()
            self.flushes += 1
            return True
        except Exception as exc:  # noqa: BLE001 - counted and swallowed
            self.errors += 1
            self.dropped += len(pending)
            self._error("flush", exc)
            return False

    def _error(self, op: str, exc: BaseException | None) -> None:
        try:
            m = self.metrics
            if m is not None:
                m.record_error(op)
        except Exception:  # noqa: BLE001
            pass
        now = time.monotonic()
        if now - self._last_error_log > 60:
            self._last_error_log = now
            log.warning(
                "saqmigrate outcomes: %s failed (%s); outcomes of this batch are dropped, tasks are not "
                "affected (errors so far: %d)",
                op,
                exc,
                self.errors,
            )

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, name="saqmigrate-outcomes", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self.flush_interval):
            self.flush()
        self.flush()

    def close(self) -> None:
        """Stop the flusher (after a last flush)."""
        self._stop.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(self.flush_interval + 2 * self.socket_timeout + 1)
        else:
            self.flush()
        self._thread = None

    def _forget_after_fork(self) -> None:
        # a forked child (Celery prefork) has no flusher and must not write the parent's pending outcomes
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pending, self._seen = {}, {}
        self._thread = None
        self._stop = threading.Event()
        self._client = None  # a new connection in this process
        self._keys = None


# ---------------------------------------------------------------------------- reading


class OutcomeStore:
    """Reads what the recorders wrote (the cockpit's side)."""

    def __init__(
        self,
        url: str,
        namespace: str | None = None,
        *,
        bucket_seconds: int | None = None,
        socket_timeout: float = 2.0,
        client: Any = None,
    ):
        from saqmigrate.runtime.flags import make_client

        self.url = url
        self.keys = OutcomeKeys(namespace or _namespace_default())
        self.client = client if client is not None else make_client(url, socket_timeout)
        self._bucket_seconds = int(bucket_seconds) if bucket_seconds else None

    @property
    def bucket_seconds(self) -> int:
        """What the writers use (stored by the first one; read until it is there), else the default."""
        if self._bucket_seconds is not None:
            return self._bucket_seconds
        stored = self.client.get(self.keys.bucket_size)
        stored = stored.decode() if isinstance(stored, bytes) else stored
        if stored and str(stored).isdigit() and int(stored) > 0:
            self._bucket_seconds = int(stored)
            return self._bucket_seconds
        return _env_int(ENV_BUCKET, DEFAULT_BUCKET)

    @property
    def retention(self) -> int:
        """Seconds the writers keep a bucket (the longest one stored by a writer), else the default."""
        stored = self.client.get(self.keys.retention)
        stored = stored.decode() if isinstance(stored, bytes) else stored
        if stored and str(stored).isdigit() and int(stored) > 0:
            return int(stored)
        return _env_int(ENV_RETENTION, DEFAULT_RETENTION)

    def _starts(self, since: float, until: float) -> list[int]:
        b = self.bucket_seconds
        first = int(since // b) * b
        return list(range(first, int(until // b) * b + 1, b))

    def tasks(self, since: float | None = None) -> dict[str, set[str]]:
        """task -> backends seen (since ``since``, epoch seconds)."""
        out: dict[str, set[str]] = {}
        for member in self.client.zrangebyscore(self.keys.tasks, since if since is not None else "-inf", "+inf"):
            backend, _, task = str(member).partition("|")
            out.setdefault(task, set()).add(backend)
        return out

    def series(
        self, tasks: Iterable[str], since: float, until: float | None = None, backends: Iterable[str] = BACKENDS
    ) -> dict[tuple[str, str], list[tuple[int, Stats]]]:
        """(task, backend) -> [(bucket start, Stats)] for every bucket in [since, until], one pipeline."""
        until = time.time() if until is None else until
        starts = self._starts(since, until)
        pairs = [(t, b) for t in tasks for b in backends]
        pipe = self.client.pipeline(transaction=False)
        for t, b in pairs:
            for s in starts:
                pipe.hgetall(self.keys.bucket(s, b, t))
        raw = pipe.execute() if pairs and starts else []
        out: dict[tuple[str, str], list[tuple[int, Stats]]] = {}
        i = 0
        for pair in pairs:
            row = []
            for s in starts:
                st = Stats()
                st.add_hash(raw[i] or {})
                i += 1
                row.append((s, st))
            out[pair] = row
        return out

    def window(
        self, tasks: Iterable[str], since: float, until: float | None = None, backends: Iterable[str] = BACKENDS
    ) -> dict[tuple[str, str], Stats]:
        """(task, backend) -> Stats summed over [since, until] (whole buckets)."""
        out = {}
        for pair, row in self.series(tasks, since, until, backends).items():
            total = Stats()
            for _s, st in row:
                total = total.merge(st)
            out[pair] = total
        return out

    def delete_all(self) -> int:
        keys = list(self.client.scan_iter(f"{self.keys.prefix}:*", count=1000))
        return int(self.client.delete(*keys)) if keys else 0

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------------------- the process recorder


_default: OutcomeRecorder | None = None
_default_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get(ENV_ENABLED, "1").strip().lower() not in ("0", "false", "no", "off")


def default_recorder() -> OutcomeRecorder:
    """The process-wide recorder (flushes at exit)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = OutcomeRecorder()
                atexit.register(_default.close)
    return _default


def set_default_recorder(recorder: OutcomeRecorder | None) -> None:
    """Replace the process-wide recorder (tests, benchmarks, several apps)."""
    global _default
    _default = recorder


# ---------------------------------------------------------------------------- Celery side

_T0_ATTR = "_saqmigrate_outcome_t0"
_celery_installed = False
_celery_lock = threading.Lock()
_starts: dict[str, float] = {}  # task id -> perf_counter at prerun (threads / gevent pools share the process)
_waits: dict[str, float] = {}  # task id -> its queue wait, measured at prerun (publish -> start, not -> end)


def _stamp_publish(sender: Any = None, headers: Any = None, **_kw: Any) -> None:
    """``before_task_publish``: the publish time, read back by the worker for the queue wait."""
    try:
        if isinstance(headers, dict) and SENT_HEADER not in headers:
            headers[SENT_HEADER] = round(time.time(), 4)
    except Exception:  # noqa: BLE001 - never break a publish
        pass


def _celery_prerun(sender: Any = None, task_id: Any = None, task: Any = None, **_kw: Any) -> None:
    try:
        if task_id is not None:
            _starts[task_id] = time.perf_counter()
            wait = _celery_wait(task)  # at the start: measured at postrun it included the run time (attack 16 M1)
            if wait is not None:
                _waits[task_id] = wait
    except Exception:  # noqa: BLE001
        pass


def _celery_wait(task: Any) -> float | None:
    req = getattr(task, "request", None)
    if req is None or (getattr(req, "retries", 0) or 0) > 0:
        return None  # retries wait by design (countdown): not queue wait
    sent = getattr(req, SENT_HEADER, None)
    if sent is None:
        headers = getattr(req, "headers", None) or {}
        sent = headers.get(SENT_HEADER) if isinstance(headers, dict) else None
    if sent is None:
        return None
    ready = float(sent)
    eta = getattr(req, "eta", None)
    if eta:
        try:
            import datetime as _dt

            e = _dt.datetime.fromisoformat(eta) if isinstance(eta, str) else eta
            if e.tzinfo is None:
                e = e.replace(tzinfo=_dt.timezone.utc)
            ready = max(ready, e.timestamp())
        except Exception:  # noqa: BLE001
            pass
    return max(0.0, time.time() - ready)


_CELERY_STATES = {"SUCCESS": SUCCESS, "FAILURE": FAILURE, "RETRY": RETRY}


def _celery_postrun(sender: Any = None, task_id: Any = None, task: Any = None, state: Any = None, **_kw: Any) -> None:
    try:
        t0 = _starts.pop(task_id, None) if task_id is not None else None
        wait = _waits.pop(task_id, None) if task_id is not None else None
        name = getattr(task, "name", None) or getattr(sender, "name", None)
        if not name or name.startswith("celery."):
            return
        status = _CELERY_STATES.get(str(state))
        duration = None if t0 is None else time.perf_counter() - t0
        if status is None and task_id is not None:
            # an unfinished state (a hard time limit cancels the body, under gevent and in a prefork child): its
            # failure and its run time (the limit) come from the main process's on_timeout, which cannot know
            # about this process's sample: one run, one run-time sample (attack 16 M2)
            _remember(_ended_here, str(task_id))
            duration = None
        default_recorder().record(name, CELERY, status, duration=duration, wait=wait)
    except Exception:  # noqa: BLE001 - never break a task
        pass


# task ids whose failure was recorded from the worker's main process (a hard time limit, a lost child):
# newer Celery (5.7; not 5.4) sends task_failure from Request.on_timeout *and* the wrapper below sees it, so the
# second one must not count it again (bounded: the oldest are forgotten)
_parent_recorded: "OrderedDict[str, None]" = OrderedDict()
_PARENT_RECORDED_MAX = 10_000
_ended_here: "OrderedDict[str, None]" = OrderedDict()  # postrun seen in this process (its run time is recorded)


def _remember(d: "OrderedDict[str, None]", task_id: str) -> bool:
    """Add ``task_id``; False when it was there already."""
    if task_id in d:
        return False
    d[task_id] = None
    while len(d) > _PARENT_RECORDED_MAX:
        d.popitem(last=False)
    return True


def _celery_lost(task: Any, task_id: Any, exc: Any, limit: float | None = None) -> None:
    """A final failure Celery reports from the worker's main process, not from the child that ran the task:
    a hard time limit (the prefork child is killed: neither task_failure nor task_postrun fire in it) or a
    lost child (WorkerLostError). Counted once per task id."""
    try:
        name = getattr(task, "name", None)
        if not name or name.startswith("celery.") or task_id is None:
            return
        if task_id in _starts:  # prerun seen in this process: the run's own postrun counts it
            return
        if not _remember(_parent_recorded, str(task_id)):
            return
        # it ran for the whole hard limit (the body's own postrun, if any, records no run time for it)
        duration = float(limit) if limit is not None else None
        default_recorder().record(name, CELERY, FAILURE, duration=duration)
    except Exception:  # noqa: BLE001 - never break the worker
        pass


def _celery_task_failure(sender: Any = None, task_id: Any = None, exception: Any = None, **_kw: Any) -> None:
    """``task_failure``: only what the main process reports (hard time limit, lost child); a failure
    raised by the task itself is counted by ``task_postrun`` in the process that ran it."""
    try:
        from celery.exceptions import TimeLimitExceeded, WorkerLostError

        if isinstance(exception, TimeLimitExceeded):
            limit = exception.args[0] if exception.args and isinstance(exception.args[0], (int, float)) else None
            _celery_lost(sender, task_id, exception, limit)
        elif isinstance(exception, WorkerLostError):
            _celery_lost(sender, task_id, exception)
    except Exception:  # noqa: BLE001
        pass


_orig_on_timeout: Any = None


def _patch_on_timeout() -> None:
    """Older Celery (5.4) sends no signal for a hard time limit (``Request.on_timeout`` only marks the result
    failed): wrap it so that every Celery version counts it. Undone by :func:`uninstall_celery`."""
    global _orig_on_timeout
    from celery.worker.request import Request

    if _orig_on_timeout is not None:
        return
    orig = Request.on_timeout

    def on_timeout(self: Any, soft: bool, timeout: float) -> Any:
        if not soft:
            try:
                _celery_lost(self.task, self.id, None, timeout)
            except Exception:  # noqa: BLE001
                pass
        return orig(self, soft, timeout)

    on_timeout.__wrapped__ = orig  # type: ignore[attr-defined]
    _orig_on_timeout = orig
    Request.on_timeout = on_timeout


def _unpatch_on_timeout() -> None:
    global _orig_on_timeout
    if _orig_on_timeout is None:
        return
    from celery.worker.request import Request

    Request.on_timeout = _orig_on_timeout
    _orig_on_timeout = None


def _celery_flush(**_kw: Any) -> None:
    r = _default
    if r is not None:
        r.flush()


def install_celery(app: Any = None) -> bool:
    """Connect the Celery signals that record outcomes (once per process; idempotent).

    ``SAQMIGRATE_OUTCOMES=0`` turns it off. Returns True when the handlers are connected."""
    global _celery_installed
    if not enabled():
        return False
    with _celery_lock:
        if _celery_installed:
            return True
        from celery import signals

        signals.before_task_publish.connect(_stamp_publish, weak=False)
        signals.task_prerun.connect(_celery_prerun, weak=False)
        signals.task_postrun.connect(_celery_postrun, weak=False)
        signals.task_failure.connect(_celery_task_failure, weak=False)
        signals.worker_process_shutdown.connect(_celery_flush, weak=False)
        signals.worker_shutdown.connect(_celery_flush, weak=False)
        try:
            _patch_on_timeout()
        except Exception:  # noqa: BLE001 - a Celery without worker.request.Request: the signal alone
            pass
        _celery_installed = True
    return True


def uninstall_celery() -> None:
    """Disconnect the Celery handlers (tests, benchmarks)."""
    global _celery_installed
    from celery import signals

    with _celery_lock:
        signals.before_task_publish.disconnect(_stamp_publish)
        signals.task_prerun.disconnect(_celery_prerun)
        signals.task_postrun.disconnect(_celery_postrun)
        signals.task_failure.disconnect(_celery_task_failure)
        signals.worker_process_shutdown.disconnect(_celery_flush)
        signals.worker_shutdown.disconnect(_celery_flush)
        _unpatch_on_timeout()
        _celery_installed = False


# ---------------------------------------------------------------------------- SAQ side

_SAQ_T0 = "_saqmigrate_outcome_t0"


def saq_task_name(job: Any) -> str:
    """The Celery task name of a SAQ job: the router's ``meta``, else the SAQ function name (the
    generated workers register each twin under its Celery name)."""
    meta = getattr(job, "meta", None)
    if isinstance(meta, Mapping):
        sm = meta.get("saqmigrate")
        if isinstance(sm, Mapping) and sm.get("task"):
            return str(sm["task"])
    return str(getattr(job, "function", "") or "")


def saq_hooks(recorder: OutcomeRecorder | None = None, *, dead_letters: bool | None = None) -> dict[str, Any]:
    """``before_process`` / ``after_process`` hooks recording each SAQ job's outcome.

    ``dead_letters``: count final failures as dead letters (default: the dead-letter queue is on,
    ``SAQMIGRATE_DLQ`` is not ``0``)."""
    dead_on = (os.environ.get("SAQMIGRATE_DLQ", "1") != "0") if dead_letters is None else bool(dead_letters)

    def rec() -> OutcomeRecorder:
        return recorder if recorder is not None else default_recorder()

    async def before_process(ctx: dict) -> None:
        try:
            ctx[_SAQ_T0] = time.perf_counter()
        except Exception:  # noqa: BLE001
            pass

    async def after_process(ctx: dict) -> None:
        try:
            job = ctx.get("job")
            if job is None:
                return
            t0 = ctx.pop(_SAQ_T0, None)
            duration = None if t0 is None else time.perf_counter() - t0
            wait = None
            if job.attempts == 1 and job.queued and job.started:
                ready_ms = max(job.queued, (job.scheduled or 0) * 1000)
                wait = max(0.0, (job.started - ready_ms) / 1000.0)
            s = job.status
            s = getattr(s, "value", None) or str(s)
            status = {"complete": SUCCESS, "failed": FAILURE, "queued": RETRY}.get(s)
            rec().record(
                saq_task_name(job), SAQ, status, duration=duration, wait=wait, dead=dead_on and status == FAILURE
            )
        except Exception:  # noqa: BLE001 - never break a job
            pass

    before_process.__qualname__ = "saqmigrate_outcomes_before_process"
    after_process.__qualname__ = "saqmigrate_outcomes_after_process"

    async def startup(ctx: dict) -> None:
        try:
            worker = ctx.get("worker")
            if worker is not None:
                install_sweep_counting(worker.queue, rec, dead_on)
        except Exception:  # noqa: BLE001
            pass

    async def shutdown(ctx: dict) -> None:
        import asyncio

        try:
            worker = ctx.get("worker")
            if worker is not None:
                uninstall_sweep_counting(worker.queue)
            await asyncio.to_thread(rec().flush)
        except Exception:  # noqa: BLE001
            pass

    startup.__qualname__ = "saqmigrate_outcomes_startup"
    shutdown.__qualname__ = "saqmigrate_outcomes_shutdown"
    return {"startup": startup, "before_process": before_process, "after_process": after_process, "shutdown": shutdown}


_SWEEP_ATTR = "_saqmigrate_outcomes_sweep"


def install_sweep_counting(queue: Any, rec: Any, dead: bool) -> None:
    """Count the jobs SAQ's sweep ends as the task's final failures (and as retries when it retries them).

    A job whose worker died (SIGKILL, OOM kill, segfault) never reaches ``after_process``: the sweep of a
    surviving or restarted worker finds it stuck and ends it with ``queue.finish(job, ABORTED,
    error=queue.swept_error_message)`` (``queue.retry`` when it has attempts left; saqmigrate's SafeSweep does
    the same). Celery counts the same event (``WorkerLostError``) as a failure, so without this a SAQ port that
    crashes its worker compared clean (attack 16 C1). Wraps ``queue.finish`` / ``queue.retry`` (instance
    attributes, like the dead-letter queue's interceptor); ``rec`` returns the recorder."""
    if getattr(queue, _SWEEP_ATTR, None) is not None:
        return
    finish, retry = queue.finish, queue.retry

    def swept(job: Any, status: Any, error: Any) -> str | None:
        if error is None or error != getattr(queue, "swept_error_message", "swept"):
            return None
        s = getattr(status, "value", None) or str(status)
        return FAILURE if s == "aborted" else RETRY

    async def counted_finish(job: Any, status: Any, *args: Any, **kw: Any) -> Any:
        try:
            if swept(job, status, kw.get("error")) == FAILURE:
                rec().record(saq_task_name(job), SAQ, FAILURE, dead=dead)
        except Exception:  # noqa: BLE001 - never break the sweep
            pass
        return await finish(job, status, *args, **kw)

    async def counted_retry(job: Any, *args: Any, **kw: Any) -> Any:
        try:
            error = kw.get("error", args[0] if args else None)
            if swept(job, "queued", error) == RETRY:
                rec().record(saq_task_name(job), SAQ, RETRY)
        except Exception:  # noqa: BLE001
            pass
        return await retry(job, *args, **kw)

    queue.finish, queue.retry = counted_finish, counted_retry
    setattr(queue, _SWEEP_ATTR, (finish, retry, counted_finish, counted_retry))


def uninstall_sweep_counting(queue: Any) -> None:
    saved = getattr(queue, _SWEEP_ATTR, None)
    if saved is None:
        return
    finish, retry, counted_finish, counted_retry = saved
    if queue.finish is counted_finish:  # wrapped again since (the dead-letter queue): leave the chain alone
        queue.finish = finish
    if queue.retry is counted_retry:
        queue.retry = retry
    setattr(queue, _SWEEP_ATTR, None)
