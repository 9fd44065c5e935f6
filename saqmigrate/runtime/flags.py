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
from collections.abc import Callable, Mapping
from typing import Any

from saqmigrate.errors import SaqmigrateError
from saqmigrate.runtime.urls import flag_store_url, redact, redact_argv

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
R_CANVAS = "canvas"  # a continuation of a Celery canvas (chain link, group member, chord body, link callback)
R_BAD = "bad_flag"  # the task's rule (or the mode) in the store cannot be read: Celery


class FlagError(SaqmigrateError, ValueError):
    """A bad flag value; the message is one line for a person."""


class ConflictError(SaqmigrateError, RuntimeError):
    """Compare-and-set failed: someone else changed the flags first."""


class StoreUnavailable(SaqmigrateError, RuntimeError):
    """The flag store's Redis does not answer."""


def redis_url_from_env() -> str | None:
    """The flag store's URL from the environment (``SAQMIGRATE_REDIS_URL``, else ``REDIS_URL``).

    Never SAQ's Redis: that is :func:`saqmigrate.runtime.urls.saq_redis_url`.
    """
    return flag_store_url()


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


BAD_VERSION = -1  # the snapshot's version when the stored one is not a whole number


def parse_version(raw: Any) -> int | None:
    """The stored version as an int (absent: 0); None when it is not a whole number >= 0."""
    if raw is None or raw == "":
        return 0
    if isinstance(raw, bool):
        return None
    try:
        v = int(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return v if v >= 0 else None


def parse_json(raw: Any) -> tuple[Any, str | None]:
    """(value, None) or (None, why) for a stored JSON string; never raises (deep nesting included)."""
    try:
        return json.loads(raw), None
    except RecursionError:
        return None, "JSON nested too deeply"
    except (TypeError, ValueError) as exc:
        return None, f"not JSON ({str(exc).splitlines()[0][:80]})"


def rule_problem(value: Any) -> str | None:
    """Why a stored rule cannot be applied (None: it is fine)."""
    if not isinstance(value, Mapping):
        return f"not a JSON object ({type(value).__name__})"
    target = value.get("target")
    if target not in BACKENDS:
        return f"target {_short(target)} is not 'celery' or 'saq'"
    bp = value.get("percent_bp", FULL_BP)
    if isinstance(bp, bool) or not isinstance(bp, (int, float)) or bp != bp or not 0 <= bp <= FULL_BP or int(bp) != bp:
        return f"percent_bp {_short(bp)} is not a whole number from 0 to {FULL_BP}"
    return None


def schedule_problem(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"not a JSON object ({type(value).__name__})"
    if value.get("owner") not in BACKENDS:
        return f"owner {_short(value.get('owner'))} is not 'celery' or 'saq'"
    return None


def _short(value: Any, limit: int = 40) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - RecursionError on a deep value, odd reprs
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Unreadable:
    """A stored value that could not be read at all (bad JSON, wrong Redis type)."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why


def _sanitize(kind: str, items: Any, bad: dict[str, str]) -> dict[str, Mapping[str, Any]]:
    """Each entry checked on its own: a bad one becomes a Celery entry marked ``bad``."""
    out: dict[str, Mapping[str, Any]] = {}
    if isinstance(items, Unreadable):
        bad[f"{kind}s"] = items.why
        return out
    if not isinstance(items, Mapping):
        if items:
            bad[f"{kind}s"] = f"not a JSON object ({type(items).__name__})"
        return out
    check = rule_problem if kind == "rule" else schedule_problem
    for name, value in items.items():
        name = str(name)
        if isinstance(value, Mapping) and value.get("bad"):
            why: str | None = str(value.get("bad"))  # already marked (a bootstrap file written from a snapshot)
        else:
            why = value.why if isinstance(value, Unreadable) else check(value)
        if why:
            bad[f"{kind}:{name}"] = why
            value = (
                {"target": CELERY, "percent_bp": FULL_BP, "bad": why}
                if kind == "rule"
                else {"owner": CELERY, "bad": why}
            )
        out[name] = MappingProxyType(dict(value))
    return out


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    mode: str = "normal"
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    schedules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "default"  # redis | bootstrap | default
    epoch: str = ""  # random id of the store's life; changes if the store lost its data
    loaded_at: float = 0.0  # wall clock of the load from Redis (or of the bootstrap file)
    # key -> why it cannot be read ("rule:NAME", "schedule:ENTRY", "mode", "version", ...).
    # A bad rule routes its tasks to Celery, a bad schedule owner is Celery, a bad mode is
    # force-celery: the safe side, key by key; everything else keeps applying.
    bad: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str, bad: Mapping[str, str] | None = None) -> Snapshot:
        """A snapshot from a dict (a bootstrap file, an export, or a Redis load). Never raises
        on bad values: each is recorded in ``bad`` and routed to Celery."""
        problems: dict[str, str] = dict(bad or {})
        if not isinstance(data, Mapping):
            problems["snapshot"] = f"not a JSON object ({type(data).__name__})"
            data = {}
        stored_bad = data.get("bad")
        if isinstance(stored_bad, Mapping):
            problems.update({str(k): str(v) for k, v in stored_bad.items() if str(k) not in problems})
        mode = data.get("mode")
        if isinstance(mode, Unreadable):
            problems["mode"], mode = mode.why, "force-celery"
        elif mode in (None, ""):
            mode = "normal"
        elif mode not in MODES:
            problems["mode"], mode = f"{_short(mode)} is not one of {', '.join(MODES)}", "force-celery"
        elif "mode" in problems:
            mode = "force-celery"
        raw_version = data.get("version")
        version = parse_version(raw_version) if not isinstance(raw_version, Unreadable) else None
        if version is None:
            problems["version"] = (
                raw_version.why
                if isinstance(raw_version, Unreadable)
                else f"{_short(raw_version)} is not a whole number"
            )
            version = BAD_VERSION
        try:
            loaded_at = float(data.get("loaded_at") or 0.0)
        except (TypeError, ValueError):
            loaded_at = 0.0
        rules = _sanitize("rule", data.get("rules") or {}, problems)
        schedules = _sanitize("schedule", data.get("schedules") or {}, problems)
        epoch = data.get("epoch")
        return cls(
            version=version,
            mode=mode,
            rules=MappingProxyType(rules),
            schedules=MappingProxyType(schedules),
            source=source,
            loaded_at=loaded_at,
            epoch="" if epoch is None or isinstance(epoch, Unreadable) else str(epoch),
            bad=MappingProxyType(problems),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "mode": self.mode,
            "rules": {k: dict(v) for k, v in self.rules.items()},
            "schedules": {k: dict(v) for k, v in self.schedules.items()},
            "loaded_at": self.loaded_at,
            "epoch": self.epoch,
            "bad": dict(self.bad),
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
            return CELERY, (R_BAD if "mode" in snap.bad else R_KILL)
        if snap.mode == "force-saq":
            return SAQ, R_KILL
        matched, rule = snap.rule_for(task)
        if rule is None:
            return CELERY, (R_UNAVAILABLE if snap.source == "default" else R_DEFAULT)
        if rule.get("bad"):
            return CELERY, R_BAD
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
        return CELERY, (R_BAD if "mode" in snap.bad else R_KILL)
    if snap.mode == "force-saq":
        return SAQ, R_KILL
    explicit = snap.schedules.get(entry)
    if explicit and explicit.get("bad"):
        return CELERY, R_BAD
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


def make_client(url: str, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT) -> Any:  # a redis.Redis
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


def _unreadable(exc: BaseException) -> Unreadable:
    return Unreadable(f"unreadable ({exc.__class__.__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''})")


def _load(client: Any, keys: Keys) -> Snapshot:
    """One consistent read (MULTI). A key that cannot be read (wrong Redis type, bad JSON, a
    non-integer version) is marked bad on its own; the others load normally."""
    pipe = client.pipeline(transaction=True)
    pipe.get(keys.version).hgetall(keys.global_).hgetall(keys.rules).hgetall(keys.sched).get(keys.epoch)
    version, glob, rules, sched, epoch = pipe.execute(raise_on_error=False)

    def _parse(raw: Any) -> Any:
        if isinstance(raw, BaseException):
            return _unreadable(raw)
        out = {}
        for k, v in raw.items():
            val, why = parse_json(v)
            out[k] = Unreadable(why) if why else val
        return out

    if isinstance(glob, BaseException):
        mode: Any = _unreadable(glob)
    else:
        mode = glob.get("mode", "normal")
    return Snapshot.from_json(
        {
            "version": _unreadable(version) if isinstance(version, BaseException) else version,
            "mode": mode,
            "rules": _parse(rules),
            "schedules": _parse(sched),
            "loaded_at": time.time(),
            "epoch": None if isinstance(epoch, BaseException) else (epoch or ""),
        },
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
        except redis.ResponseError as exc:  # it answered, with an error (a db index out of range, auth, ...)
            raise StoreUnavailable(
                f"flag store Redis at {redact(self.url)} answered with an error: {redact(str(exc))}; "
                "fix --redis-url / SAQMIGRATE_REDIS_URL (database number, password)"
            ) from None
        except redis.RedisError as exc:
            raise StoreUnavailable(
                f"flag store Redis at {redact(self.url)} does not answer ({exc.__class__.__name__}); "
                "start it or point --redis-url / SAQMIGRATE_REDIS_URL at a running Redis"
            ) from None

    def snapshot(self) -> Snapshot:
        return _load(self.client, self.keys)

    def version(self) -> int:
        """The stored version; BAD_VERSION (-1) when it is not a whole number."""
        import redis

        try:
            v = parse_version(self.client.get(self.keys.version))
        except redis.ResponseError:  # wrong Redis type
            v = None
        return BAD_VERSION if v is None else v

    # -- writes --------------------------------------------------------------------

    def _last_audited_version(self) -> int:
        import redis

        try:
            for _id, fields in self.client.xrevrange(self.keys.audit, count=1):
                v = parse_version(fields.get("version"))
                if v is not None:
                    return v
            return int(self.client.xlen(self.keys.audit))
        except redis.ResponseError:
            return 0

    def _wrong_type(self, pipe: Any, key: str, want: str) -> bool:
        """True when ``key`` exists with another Redis type than ``want`` (it will be set aside)."""
        try:
            kind = pipe.type(key)
        except Exception:  # noqa: BLE001
            return False
        return kind not in ("none", want)

    def _write(
        self,
        target: str,
        old: Any,
        new: Any,
        ops: Callable[[Any], None],
        *,
        reason: str,
        expected_version: int | None,
        actor: str | None = None,
        argv: list[str] | None = None,
        hashes: tuple[str, ...] = (),
    ) -> int:
        """One compare-and-set transaction: ``ops(pipe)``, bump the version, audit, publish.

        Whatever else is in the store, this writes: a version that is not a whole number is
        replaced (by the last audited version + 1), and a key of the wrong Redis type that the
        write needs (``hashes``, the audit stream, the version) is renamed aside to
        ``<key>:corrupt:<time>`` in the same transaction, so it can still be inspected.
        """
        import redis

        if not reason or not str(reason).strip():
            raise FlagError("--reason is required for every change (it goes into the audit stream)")
        k = self.keys
        argv_safe = redact_argv(list(argv if argv is not None else sys.argv[1:]))
        for _ in range(20):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(k.version)
                    try:
                        raw = pipe.get(k.version)
                        parsed = parse_version(raw)
                    except redis.ResponseError:  # the version key is not a string
                        parsed = None
                    current = BAD_VERSION if parsed is None else parsed
                    if expected_version is not None and current != expected_version:
                        raise ConflictError(
                            f"flags changed since you read them (version {expected_version} -> {current}); "
                            "re-run `saqmigrate route show` and retry"
                        )
                    stamp = int(time.time())
                    aside = [
                        key
                        for key, want in [(h, "hash") for h in hashes] + [(k.audit, "stream")]
                        if self._wrong_type(pipe, key, want)
                    ]
                    new_version = current + 1 if parsed is not None else self._last_audited_version() + 1
                    pipe.multi()
                    for key in aside:
                        pipe.rename(key, f"{key}:corrupt:{stamp}")
                    pipe.setnx(k.epoch, uuid.uuid4().hex)
                    ops(pipe)
                    if parsed is None:
                        pipe.delete(k.version)
                        pipe.set(k.version, new_version)
                    else:
                        pipe.incr(k.version)
                    pipe.xadd(
                        k.audit,
                        {
                            "ts": f"{time.time():.3f}",
                            "actor": actor or _actor(),
                            "target": target,
                            "old": _dumps(old),
                            "new": _dumps(new),
                            "reason": redact(reason),
                            "version": str(new_version),
                            "argv": json.dumps(argv_safe),
                            **(
                                {
                                    "repaired": json.dumps(
                                        {"version": raw if isinstance(raw, str) else None, "set_aside": aside}
                                    )
                                }
                                if parsed is None or aside
                                else {}
                            ),
                        },
                        maxlen=100_000,
                        approximate=True,
                    )
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

    def _old(self, key: str, field_: str) -> Any:
        """The stored value of one hash field for the audit's ``old`` (raw text if unreadable)."""
        import redis

        try:
            raw = self.client.hget(key, field_)
        except redis.ResponseError:
            return {"unreadable": "wrong Redis type"}
        if raw is None:
            return None
        val, why = parse_json(raw)
        return {"unreadable": why, "raw": raw[:200]} if why else val

    def set_rule(
        self,
        name: str,
        target: str | None,
        percent_bp: int | None = None,
        *,
        reason: str,
        expected_version: int | None = None,
        expires_at: str | None = None,
        **kw: Any,
    ) -> int:
        """Set (or with target=None clear) the rule for an exact task name or a glob.

        ``expires_at`` (ISO date) is reported by ``saqmigrate check`` once passed (SM634, like
        Unleash's "potentially stale"); it never changes how the rule routes.
        """
        if not name or not name.strip():
            raise FlagError("task name or pattern must not be empty")
        rule = make_rule(target, percent_bp) if target is not None else None
        old = self._old(self.keys.rules, name)
        if rule is not None:
            rule = dict(rule, updated_at=time.time(), reason=redact(reason))
            if expires_at:
                rule["expires_at"] = expires_at

        def ops(pipe: Any) -> None:
            if rule is None:
                pipe.hdel(self.keys.rules, name)
            else:
                pipe.hset(self.keys.rules, name, json.dumps(rule))

        return self._write(
            f"rule:{name}",
            old,
            rule,
            ops,
            reason=reason,
            expected_version=expected_version,
            hashes=(self.keys.rules,),
            **kw,
        )

    def set_mode(self, mode: str, *, reason: str, expected_version: int | None = None, **kw: Any) -> int:
        """The kill switch. Always writable: a global key of the wrong type is set aside."""
        if mode not in MODES:
            raise FlagError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        import redis

        try:
            old = self.client.hget(self.keys.global_, "mode") or "normal"
        except redis.ResponseError:
            old = {"unreadable": "wrong Redis type"}

        def ops(pipe: Any) -> None:
            pipe.hset(self.keys.global_, mapping={"mode": mode, "updated_at": f"{time.time():.3f}"})

        return self._write(
            "mode", old, mode, ops, reason=reason, expected_version=expected_version, hashes=(self.keys.global_,), **kw
        )

    def set_schedule_owner(
        self, entry: str, owner: str | None, *, reason: str, expected_version: int | None = None, **kw: Any
    ) -> int:
        if owner is not None and owner not in BACKENDS:
            raise FlagError(f"schedule owner must be 'celery' or 'saq', got {owner!r}")
        old = self._old(self.keys.sched, entry)
        new = {"owner": owner, "updated_at": time.time(), "reason": redact(reason)} if owner else None

        def ops(pipe: Any) -> None:
            if new is None:
                pipe.hdel(self.keys.sched, entry)
            else:
                pipe.hset(self.keys.sched, entry, json.dumps(new))

        return self._write(
            f"schedule:{entry}",
            old,
            new,
            ops,
            reason=reason,
            expected_version=expected_version,
            hashes=(self.keys.sched,),
            **kw,
        )

    # -- backup and restore ------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """Every flag as stored, for ``route import`` (and usable as a bootstrap file).

        Values that cannot be read are kept verbatim under ``unreadable`` (never restored)."""
        snap = self.snapshot()
        rules = {k: dict(v) for k, v in snap.rules.items() if not v.get("bad")}
        schedules = {k: dict(v) for k, v in snap.schedules.items() if not v.get("bad")}
        unreadable: dict[str, Any] = {}
        for key, why in snap.bad.items():
            kind, _, name = key.partition(":")
            raw = None
            try:
                if kind == "rule":
                    raw = self.client.hget(self.keys.rules, name)
                elif kind == "schedule":
                    raw = self.client.hget(self.keys.sched, name)
                elif kind == "mode":
                    raw = self.client.hget(self.keys.global_, "mode")
                elif kind == "version":
                    raw = self.client.get(self.keys.version)
            except Exception:  # noqa: BLE001 - wrong type: nothing to copy
                raw = None
            unreadable[key] = {"why": why, "raw": raw[:10_000] if isinstance(raw, str) else None}
        return {
            "format": EXPORT_FORMAT,
            "namespace": self.keys.namespace,
            "exported_at": time.time(),
            "version": snap.version,
            "epoch": snap.epoch,
            "mode": snap.mode if "mode" not in snap.bad else "force-celery",
            "rules": rules,
            "schedules": schedules,
            "unreadable": unreadable,
        }

    def import_flags(
        self, data: Mapping[str, Any], *, reason: str, expected_version: int | None = None, **kw: Any
    ) -> int:
        """Replace mode, rules and schedule owners with ``data`` (an export), in one audited
        compare-and-set write. Every value is checked first: one bad value refuses the import."""
        mode, rules, schedules = validate_export(data)
        before = self.snapshot()
        old = {
            "mode": before.mode,
            "rules": len(before.rules),
            "schedules": len(before.schedules),
            "bad": sorted(before.bad),
        }
        new = {
            "mode": mode,
            "rules": len(rules),
            "schedules": len(schedules),
            "from_version": data.get("version"),
            "namespace": data.get("namespace"),
        }
        k = self.keys

        def ops(pipe: Any) -> None:
            pipe.delete(k.rules, k.sched)
            if rules:
                pipe.hset(k.rules, mapping={n: json.dumps(r) for n, r in rules.items()})
            if schedules:
                pipe.hset(k.sched, mapping={n: json.dumps(v) for n, v in schedules.items()})
            pipe.hset(k.global_, mapping={"mode": mode, "updated_at": f"{time.time():.3f}"})

        return self._write(
            "import", old, new, ops, reason=reason, expected_version=expected_version, hashes=(k.global_,), **kw
        )

    def history(self, count: int = 50) -> list[dict[str, Any]]:
        out = []
        for entry_id, fields in self.client.xrevrange(self.keys.audit, count=count):
            # entries written before argv was redacted may still hold a password: mask on the way out
            item: dict[str, Any] = {k: redact(v) for k, v in dict(fields).items()}
            item["id"] = entry_id
            for f in ("old", "new", "argv", "repaired"):
                if f in item:
                    val, why = parse_json(item[f])
                    if why is None:
                        item[f] = val
            if isinstance(item.get("argv"), list):
                item["argv"] = redact_argv([str(a) for a in item["argv"]])
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


EXPORT_FORMAT = "saqmigrate.flags/1"


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_short(value, 200))


def validate_export(data: Any) -> tuple[str, dict[str, dict], dict[str, dict]]:
    """(mode, rules, schedules) of an export, or FlagError naming the first bad value."""
    if not isinstance(data, Mapping):
        raise FlagError("not a flag export: expected a JSON object (written by `saqmigrate route export`)")
    fmt = data.get("format")
    if fmt not in (None, EXPORT_FORMAT):
        raise FlagError(f"unknown export format {_short(fmt)} (this version reads {EXPORT_FORMAT})")
    mode = data.get("mode") or "normal"
    if mode not in MODES:
        raise FlagError(f"mode {_short(mode)} is not one of {', '.join(MODES)}")
    out = []
    for kind, check in (("rules", rule_problem), ("schedules", schedule_problem)):
        items = data.get(kind) or {}
        if not isinstance(items, Mapping):
            raise FlagError(f"{kind} must be a JSON object of name -> value")
        clean = {}
        for name, value in items.items():
            if not isinstance(name, str) or not name.strip():
                raise FlagError(f"{kind}: empty name")
            why = check(value) if not (isinstance(value, Mapping) and value.get("bad")) else str(value["bad"])
            if why:
                raise FlagError(f"{kind[:-1]} {name!r}: {why}; fix the file, nothing was imported")
            clean[name] = {k: v for k, v in dict(value).items() if k != "bad"}
            if kind == "rules":
                clean[name]["percent_bp"] = int(clean[name].get("percent_bp", FULL_BP))
        out.append(clean)
    return mode, out[0], out[1]


# --------------------------------------------------------------------------- per-process client


def default_bootstrap_path(namespace: str = DEFAULT_NAMESPACE) -> Path:
    """``<temp>/saqmigrate-<uid>/<namespace>.flags.json``: per user, per namespace, per host."""
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    folder = Path(tempfile.gettempdir()) / f"saqmigrate-{uid}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        pass
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in namespace)
    return folder / f"{safe}.flags.json"


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

    def __init__(
        self,
        url: str | None = None,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        bootstrap_path: str | os.PathLike | None = None,
        write_bootstrap: bool = False,
        metrics: Any = None,
    ):
        self.url = url or redis_url_from_env()
        self.keys = Keys(namespace)
        self.poll_interval = float(poll_interval)
        self.socket_timeout = float(socket_timeout)
        env_boot = os.environ.get("SAQMIGRATE_BOOTSTRAP")
        if env_boot is not None and env_boot.strip().lower() in ("0", "off", "no", "false", ""):
            env_boot = None
        boot = bootstrap_path or env_boot
        self.bootstrap_path = Path(boot) if boot else None
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

    @classmethod
    def with_bootstrap(cls, url: str | None = None, *, namespace: str = DEFAULT_NAMESPACE, **kw: Any) -> "FlagClient":
        """The client the generated wiring uses: it keeps a bootstrap file up to date.

        The file is ``SAQMIGRATE_BOOTSTRAP`` if set (``0``/``off`` turns it off), else
        :func:`default_bootstrap_path` (private to this user, in the temp folder). A process
        that starts while the flag store is down then routes with the last flags this host saw,
        instead of sending everything to Celery.
        """
        env = os.environ.get("SAQMIGRATE_BOOTSTRAP")
        if env is not None and env.strip().lower() in ("0", "off", "no", "false", ""):
            return cls(url, namespace=namespace, **kw)
        path = kw.pop("bootstrap_path", None) or env or default_bootstrap_path(namespace)
        return cls(url, namespace=namespace, bootstrap_path=path, write_bootstrap=True, **kw)

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

    def _client(self) -> Any:
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
        for key in sorted(set(snap.bad) - set(old.bad)):
            log.warning(
                "flag store value %s cannot be read (%s): routed to Celery until it is fixed "
                "(saqmigrate route show lists it; route set/clear/import rewrites it)",
                key,
                snap.bad[key],
            )
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
            if path == default_bootstrap_path(self.keys.namespace):
                st = path.stat()  # the shared temp folder: only a file this user wrote, nobody else can
                if (hasattr(os, "getuid") and st.st_uid != os.getuid()) or st.st_mode & 0o022:
                    raise PermissionError(f"{path} is not private to this user; ignored")
            data = json.loads(path.read_text(encoding="utf-8"))
            self._snap = Snapshot.from_json(data, source="bootstrap")
            for key in sorted(self._snap.bad):
                log.warning(
                    "bootstrap file %s: %s cannot be read (%s): routed to Celery", path, key, self._snap.bad[key]
                )
        except FileNotFoundError:
            pass
        except Exception as exc:
            self._error("bootstrap", exc)

    def _save_bootstrap(self, snap: Snapshot) -> None:
        try:
            path = self.bootstrap_path
            assert path is not None, "written only with a bootstrap path"
            tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(snap.to_json()))
            os.replace(tmp, path)
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
                parsed = parse_version(version)
                if (BAD_VERSION if parsed is None else parsed, epoch or "") != (
                    self._snap.version,
                    self._snap.epoch,
                ) or self._snap.source != "redis":
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
