"""Flag store (Redis), per-process snapshot, bootstrap file, and the pure flag evaluation.

Redis layout (one hash tag so a Cluster keeps it in one slot), ``P = {ns}:{{{ns}}}:v1``:

=================  =======  ====================================================
``P:global``       HASH     ``mode`` = normal | force-celery | force-saq
``P:rules``        HASH     field = exact task name or glob; value = JSON rule
``P:sched``        HASH     field = beat entry name; value = JSON ``{"owner": ...}``
``P:version``      STRING   INCR'd by every write (compare-and-set anchor)
``P:audit``        STREAM   who, when, why, old -> new, version
``P:changed``      PUBSUB   the new version, a hint only (polling is the backstop)
=================  =======  ====================================================

A rule is ``{"target": "celery"|"saq", "percent_bp": 0..10000}``: ``percent_bp`` (basis
points) is the share that goes to SAQ for a ``saq`` rule; 10000 means all of it.

Reading never raises: a process serves its last snapshot when Redis is unreachable, then a
bootstrap file, then the compiled default (everything on Celery).
"""

from __future__ import annotations

import fnmatch
import getpass
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
import weakref
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

log = logging.getLogger("saqmigrate.flags")

MODES = ("normal", "force-celery", "force-saq")
BACKENDS = ("celery", "saq")
CELERY, SAQ = "celery", "saq"
FULL_BP = 10_000
# SAQMIGRATE_NAMESPACE lets several apps (or a demo) share one Redis without seeing each other's flags.
DEFAULT_NAMESPACE = os.environ.get("SAQMIGRATE_NAMESPACE") or "saqmigrate"
DEFAULT_POLL_INTERVAL = 1.0  # seconds; staleness bound ~ poll + socket timeout < 2 s
DEFAULT_SOCKET_TIMEOUT = 0.25

# Route-decision reasons (also the metric label values).
R_KILL = "kill_switch"
R_OVERRIDE = "override"
R_PERCENT = "percentage"
R_PATTERN = "pattern"
R_DEFAULT = "default"
R_UNAVAILABLE = "store_unavailable"
R_RETRY = "pinned_retry"
R_UNSUPPORTED = "unsupported_option"
R_NOT_REGISTERED = "not_registered"


class FlagError(ValueError):
    """A bad flag value; the message is one line for a person."""


class ConflictError(RuntimeError):
    """Compare-and-set failed: someone else changed the flags first."""


class StoreUnavailable(RuntimeError):
    """The flag store's Redis does not answer."""


def redis_url_from_env() -> str | None:
    return os.environ.get("SAQMIGRATE_REDIS_URL") or os.environ.get("REDIS_URL") or None


# --------------------------------------------------------------------------- pure part


def bucket(task: str, routing_key: Any) -> int:
    """Stable bucket 0..9999 for (task, routing key): crc32, never Python's salted hash()."""
    return zlib.crc32(f"{task}:{routing_key}".encode("utf-8", "surrogatepass")) % FULL_BP


def parse_percent(value: Any) -> int:
    """'12.5' / 12.5 -> 1250 basis points; FlagError on anything outside 0..100."""
    try:
        pct = float(value)
    except (TypeError, ValueError):
        raise FlagError(f"--percent must be a number from 0 to 100, got {value!r}") from None
    if not (0.0 <= pct <= 100.0) or pct != pct:
        raise FlagError(f"--percent must be from 0 to 100, got {value!r}")
    return int(round(pct * 100))


def make_rule(target: str, percent_bp: int | None = None) -> dict[str, Any]:
    if target not in BACKENDS:
        raise FlagError(f"backend must be 'celery' or 'saq', got {target!r}")
    if percent_bp is None:
        percent_bp = FULL_BP
    if target == CELERY and percent_bp != FULL_BP:
        raise FlagError("--percent applies to 'saq' only (it is the share sent to SAQ)")
    if not 0 <= int(percent_bp) <= FULL_BP:
        raise FlagError(f"percent out of range: {percent_bp / 100}")
    return {"target": target, "percent_bp": int(percent_bp)}


def _is_pattern(name: str) -> bool:
    return any(c in name for c in "*?[")


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    mode: str = "normal"
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    schedules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "default"  # redis | bootstrap | default
    epoch: str = ""  # random id of the store's life; changes if the store lost its data
    loaded_at: float = 0.0  # wall clock of the load from Redis (or of the bootstrap file)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str) -> Snapshot:
        mode = data.get("mode") or "normal"
        if mode not in MODES:
            mode = "normal"
        return cls(
            version=int(data.get("version") or 0),
            mode=mode,
            rules=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in (data.get("rules") or {}).items()}),
            schedules=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in (data.get("schedules") or {}).items()}),
            source=source,
            loaded_at=float(data.get("loaded_at") or 0.0),
            epoch=str(data.get("epoch") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "mode": self.mode,
            "rules": {k: dict(v) for k, v in self.rules.items()},
            "schedules": {k: dict(v) for k, v in self.schedules.items()},
            "loaded_at": self.loaded_at,
            "epoch": self.epoch,
        }

    def rule_for(self, task: str) -> tuple[str | None, Mapping[str, Any] | None]:
        """(matched name, rule): the exact rule, else the longest matching glob."""
        rule = self.rules.get(task)
        if rule is not None and not _is_pattern(task):
            return task, rule
        best = None
        for pat in self.rules:
            if _is_pattern(pat) and fnmatch.fnmatchcase(task, pat):
                if best is None or len(pat) > len(best) or (len(pat) == len(best) and pat < best):
                    best = pat
        if best is None:
            return None, None
        return best, self.rules[best]


def evaluate(snap: Snapshot, task: str, routing_key: Any) -> tuple[str, str]:
    """(backend, reason) from the flags alone. Pure; never raises on bad stored data."""
    try:
        if snap.mode == "force-celery":
            return CELERY, R_KILL
        if snap.mode == "force-saq":
            return SAQ, R_KILL
        matched, rule = snap.rule_for(task)
        if rule is None:
            return CELERY, (R_UNAVAILABLE if snap.source == "default" else R_DEFAULT)
        target = rule.get("target")
        bp = int(rule.get("percent_bp", FULL_BP))
        exact = matched == task
        if target == SAQ and bp < FULL_BP:
            backend = SAQ if bucket(task, routing_key) < bp else CELERY
            return backend, (R_PERCENT if exact else R_PATTERN)
        if target in BACKENDS:
            return target, (R_OVERRIDE if exact else R_PATTERN)
        return CELERY, R_DEFAULT
    except Exception:  # a corrupt rule must not break a dispatch
        return CELERY, R_UNAVAILABLE


def schedule_owner(snap: Snapshot, entry: str, task: str) -> tuple[str, str]:
    """Who fires a beat entry: the kill switch, else an explicit owner, else the task's route.

    The task route is evaluated with the routing key ``schedule:{entry}`` so a percent rule
    moves whole entries, deterministically, in every process.
    """
    if snap.mode == "force-celery":
        return CELERY, R_KILL
    if snap.mode == "force-saq":
        return SAQ, R_KILL
    explicit = snap.schedules.get(entry)
    if explicit and explicit.get("owner") in BACKENDS:
        return explicit["owner"], R_OVERRIDE
    return evaluate(snap, task, f"schedule:{entry}")


DEFAULT_SNAPSHOT = Snapshot()


# --------------------------------------------------------------------------- Redis part


class Keys:
    def __init__(self, namespace: str = DEFAULT_NAMESPACE):
        if not namespace or any(c in namespace for c in "{} "):
            raise FlagError(f"bad flag-store namespace {namespace!r}: use letters, digits, '-', '_', ':'")
        self.namespace = namespace
        p = f"{namespace}:{{{namespace}}}:v1"
        self.prefix = p
        self.global_ = f"{p}:global"
        self.rules = f"{p}:rules"
        self.sched = f"{p}:sched"
        self.version = f"{p}:version"
        self.epoch = f"{p}:epoch"
        self.audit = f"{p}:audit"
        self.changed = f"{p}:changed"
        self.claims = f"{p}:claim"

    def all(self) -> list[str]:
        return [self.global_, self.rules, self.sched, self.version, self.epoch, self.audit]

    def claim(self, entry: str, due: int) -> str:
        return f"{self.claims}:{entry}:{due}"


def make_client(url: str, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT):
    """A sync redis-py client with short timeouts and no retries (flag reads must be cheap)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        decode_responses=True,
    )


def _actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _load(client, keys: Keys) -> Snapshot:
    pipe = client.pipeline(transaction=True)
    pipe.get(keys.version).hgetall(keys.global_).hgetall(keys.rules).hgetall(keys.sched).get(keys.epoch)
    version, glob, rules, sched, epoch = pipe.execute()

    def _parse(raw: dict) -> dict:
        out = {}
        for k, v in raw.items():
            try:
                val = json.loads(v)
            except ValueError:
                continue  # a hand-written garbage value is ignored, never fatal
            if isinstance(val, dict):
                out[k] = val
        return out

    return Snapshot.from_json(
        {"version": int(version or 0), "mode": glob.get("mode", "normal"), "rules": _parse(rules),
         "schedules": _parse(sched), "loaded_at": time.time(), "epoch": epoch or ""},
        source="redis",
    )


class FlagStore:
    """Reads and audited, compare-and-set writes. Used by the CLI and by tests."""

    def __init__(self, url: str, namespace: str = DEFAULT_NAMESPACE, socket_timeout: float = 1.0):
        self.url = url
        self.keys = Keys(namespace)
        self.client = make_client(url, socket_timeout)

    def ping(self) -> None:
        import redis

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable(
                f"flag store Redis at {_redact(self.url)} does not answer ({exc.__class__.__name__}); "
                "start it or point --redis-url / SAQMIGRATE_REDIS_URL at a running Redis"
            ) from None

    def snapshot(self) -> Snapshot:
        return _load(self.client, self.keys)

    def version(self) -> int:
        return int(self.client.get(self.keys.version) or 0)

    # -- writes --------------------------------------------------------------------

    def _write(self, target: str, old: Any, new: Any, ops, *, reason: str, expected_version: int | None,
               actor: str | None = None, argv: list[str] | None = None) -> int:
        import redis

        if not reason or not str(reason).strip():
            raise FlagError("--reason is required for every change (it goes into the audit stream)")
        k = self.keys
        for _ in range(20):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(k.version)
                    current = int(pipe.get(k.version) or 0)
                    if expected_version is not None and current != expected_version:
                        raise ConflictError(
                            f"flags changed since you read them (version {expected_version} -> {current}); "
                            "re-run `saqmigrate route show` and retry"
                        )
                    pipe.multi()
                    pipe.setnx(k.epoch, uuid.uuid4().hex)
                    ops(pipe)
                    pipe.incr(k.version)
                    new_version = current + 1
                    pipe.xadd(k.audit, {
                        "ts": f"{time.time():.3f}", "actor": actor or _actor(), "target": target,
                        "old": json.dumps(old), "new": json.dumps(new), "reason": reason,
                        "version": str(new_version), "argv": json.dumps(argv if argv is not None else sys.argv[1:]),
                    }, maxlen=100_000, approximate=True)
                    pipe.publish(k.changed, str(new_version))
                    pipe.execute()
                    return new_version
                except redis.WatchError:
                    if expected_version is not None:
                        raise ConflictError(
                            "flags changed while writing; re-run `saqmigrate route show` and retry"
                        ) from None
                    continue
        raise ConflictError("flag store too busy: 20 concurrent-write retries failed")

    def set_rule(self, name: str, target: str | None, percent_bp: int | None = None, *, reason: str,
                 expected_version: int | None = None, expires_at: str | None = None, **kw) -> int:
        """Set (or with target=None clear) the rule for an exact task name or a glob.

        ``expires_at`` (ISO date) is reported by ``saqmigrate check`` once passed (SM634, like
        Unleash's "potentially stale"); it never changes how the rule routes.
        """
        if not name or not name.strip():
            raise FlagError("task name or pattern must not be empty")
        rule = make_rule(target, percent_bp) if target is not None else None
        raw = self.client.hget(self.keys.rules, name)
        old = json.loads(raw) if raw else None
        if rule is not None:
            rule = dict(rule, updated_at=time.time(), reason=reason)
            if expires_at:
                rule["expires_at"] = expires_at

        def ops(pipe):
            if rule is None:
                pipe.hdel(self.keys.rules, name)
            else:
                pipe.hset(self.keys.rules, name, json.dumps(rule))

        return self._write(f"rule:{name}", old, rule, ops, reason=reason, expected_version=expected_version, **kw)

    def set_mode(self, mode: str, *, reason: str, expected_version: int | None = None, **kw) -> int:
        if mode not in MODES:
            raise FlagError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        old = self.client.hget(self.keys.global_, "mode") or "normal"

        def ops(pipe):
            pipe.hset(self.keys.global_, mapping={"mode": mode, "updated_at": f"{time.time():.3f}"})

        return self._write("mode", old, mode, ops, reason=reason, expected_version=expected_version, **kw)

    def set_schedule_owner(self, entry: str, owner: str | None, *, reason: str,
                           expected_version: int | None = None, **kw) -> int:
        if owner is not None and owner not in BACKENDS:
            raise FlagError(f"schedule owner must be 'celery' or 'saq', got {owner!r}")
        raw = self.client.hget(self.keys.sched, entry)
        old = json.loads(raw) if raw else None
        new = {"owner": owner, "updated_at": time.time(), "reason": reason} if owner else None

        def ops(pipe):
            if new is None:
                pipe.hdel(self.keys.sched, entry)
            else:
                pipe.hset(self.keys.sched, entry, json.dumps(new))

        return self._write(f"schedule:{entry}", old, new, ops, reason=reason, expected_version=expected_version, **kw)

    def history(self, count: int = 50) -> list[dict[str, Any]]:
        out = []
        for entry_id, fields in self.client.xrevrange(self.keys.audit, count=count):
            item = dict(fields)
            item["id"] = entry_id
            for f in ("old", "new", "argv"):
                try:
                    item[f] = json.loads(item.get(f, "null"))
                except ValueError:
                    pass
            out.append(item)
        return out

    def audit_length(self) -> int:
        return int(self.client.xlen(self.keys.audit))

    def claim(self, entry: str, due: int, holder: str, ttl: int = 7 * 24 * 3600) -> bool:
        """First caller for (entry, due time) wins: the one-fire-per-due-time guard."""
        return bool(self.client.set(self.keys.claim(entry, due), holder, nx=True, ex=ttl))

    def delete_all(self) -> None:
        keys = self.keys.all() + list(self.client.scan_iter(f"{self.keys.claims}:*", count=500))
        if keys:
            self.client.delete(*keys)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


# --------------------------------------------------------------------------- per-process client

_CLIENTS: "weakref.WeakSet[FlagClient]" = weakref.WeakSet()
_ABANDONED: list = []


def _after_fork_in_child() -> None:
    for c in list(_CLIENTS):
        c._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class FlagClient:
    """A process-local snapshot, refreshed by a daemon thread (poll + pub/sub hint).

    ``snapshot()`` never raises and never does I/O after the first call in a process.
    """

    def __init__(self, url: str | None = None, *, namespace: str = DEFAULT_NAMESPACE,
                 poll_interval: float = DEFAULT_POLL_INTERVAL, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
                 bootstrap_path: str | os.PathLike | None = None, write_bootstrap: bool = False,
                 metrics: Any = None):
        self.url = url or redis_url_from_env()
        self.keys = Keys(namespace)
        self.poll_interval = float(poll_interval)
        self.socket_timeout = float(socket_timeout)
        env_boot = os.environ.get("SAQMIGRATE_BOOTSTRAP")
        self.bootstrap_path = Path(bootstrap_path or env_boot) if (bootstrap_path or env_boot) else None
        self.write_bootstrap = write_bootstrap
        self.metrics = metrics
        self._snap: Snapshot = DEFAULT_SNAPSHOT
        self._last_ok: float | None = None  # monotonic time of the last successful contact
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.errors = 0
        _CLIENTS.add(self)

    # -- public -------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        if self._pid != os.getpid():
            self._start()
        return self._snap

    @property
    def age(self) -> float | None:
        """Seconds since the flag store last answered (None: never in this process)."""
        return None if self._last_ok is None else time.monotonic() - self._last_ok

    def refresh_now(self) -> bool:
        """Synchronously reload from Redis; False (and the old snapshot kept) on failure."""
        client = self._client()
        if client is None:
            return False
        try:
            self._apply(_load(client, self.keys))
            return True
        except Exception as exc:
            self._error("load", exc)
            return False

    def close(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t.is_alive() and t is not threading.current_thread():
            t.join(timeout=self.poll_interval + 2)
        self._thread = None
        self._pid = None

    # -- internals ----------------------------------------------------------------

    def _forget_after_fork(self) -> None:
        # The parent's thread and sockets do not exist here; keep the data, restart lazily.
        self._pid = None
        self._thread = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # keep the parent's client alive (never GC'd here) so its sockets are never closed
        _ABANDONED.append(self.__dict__.pop("_redis", None))

    def _client(self):
        c = self.__dict__.get("_redis")
        if c is None and self.url:
            try:
                c = make_client(self.url, self.socket_timeout)
            except Exception as exc:  # bad URL: treated as unreachable, never raised
                self._error("connect", exc)
                return None
            self.__dict__["_redis"] = c
        return c

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._stop = threading.Event()
            if not self.refresh_now() and self._snap.source == "default":
                self._apply_bootstrap()
            self._pid = os.getpid()
            if self.url:
                self._thread = threading.Thread(target=self._run, name="saqmigrate-flags", daemon=True)
                self._thread.start()

    def _apply(self, snap: Snapshot) -> None:
        old = self._snap
        self._snap = snap
        self._last_ok = time.monotonic()
        if self.metrics is not None:
            self.metrics.config_loaded(snap.version, snap.loaded_at)
        if self.write_bootstrap and self.bootstrap_path and snap.version != old.version:
            self._save_bootstrap(snap)

    def _apply_bootstrap(self) -> None:
        path = self.bootstrap_path
        if not path:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self._snap = Snapshot.from_json(data, source="bootstrap")
        except FileNotFoundError:
            pass
        except Exception as exc:
            self._error("bootstrap", exc)

    def _save_bootstrap(self, snap: Snapshot) -> None:
        try:
            tmp = self.bootstrap_path.with_name(self.bootstrap_path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(snap.to_json()), encoding="utf-8")
            os.replace(tmp, self.bootstrap_path)
        except Exception as exc:
            self._error("bootstrap_write", exc)

    def _error(self, op: str, exc: BaseException) -> None:
        self.errors += 1
        if self.metrics is not None:
            self.metrics.store_error(op)
        log.debug("flag store %s failed: %r", op, exc)

    def _run(self) -> None:
        stop = self._stop
        pubsub = None
        while not stop.is_set():
            client = self._client()
            if client is None:
                stop.wait(self.poll_interval)
                continue
            try:
                if pubsub is None:
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(self.keys.changed)
                # Wait for a hint, at most one poll interval; then check the version either way.
                pubsub.get_message(timeout=self.poll_interval)
                version, epoch = client.mget(self.keys.version, self.keys.epoch)
                if (int(version or 0), epoch or "") != (self._snap.version, self._snap.epoch) \
                        or self._snap.source != "redis":
                    self._apply(_load(client, self.keys))
                else:
                    self._last_ok = time.monotonic()
                    if self.metrics is not None:
                        self.metrics.config_checked(self._snap.loaded_at)
            except Exception as exc:
                self._error("poll", exc)
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass
                    pubsub = None
                stop.wait(min(self.poll_interval, 0.5))
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:
                pass
