"""``saqmigrate route autopilot``: moves every active ramp plan on evidence.

Several autopilots may run (one per deployment, say); only the one holding the lock acts. The lock
is a Redis key with an expiry (``P:autopilot:lock``, ``SET NX PX``), renewed on every tick by its
holder (compare-and-expire in Lua) and released on exit; when a holder dies, another takes over
after at most ``lock_ttl`` seconds.

On each tick the holder, for every active plan:

* the kill switch is on (any mode other than ``normal``): pauses **every** plan (audited), moves nothing;
* the task's rule is no longer the plan's step (someone ran ``route set``): pauses the plan;
* analyses SAQ since the step started against Celery over the baseline window
  (``[tool.saqmigrate.analysis]``, :mod:`saqmigrate.cockpit.analysis`):

  - ``fail``: rolls the task back to Celery and pauses the plan, at once (it does not wait for the
    step's interval to end);
  - ``insufficient``: holds;
  - ``pass``: advances once the step has lasted ``every`` seconds (after the last step: ``done``).

Every move is one audited compare-and-set write whose reason is the analysis. A write that loses
the compare-and-set (someone changed the flags meanwhile) is retried on the next tick with fresh data.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.analysis import FAIL, PASS, Thresholds, format_duration
from saqmigrate.cockpit.service import compare_tasks
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.outcomes import SKEW_WARN, OutcomeStore, redis_time

log = logging.getLogger("saqmigrate.autopilot")

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def lock_key(store: F.FlagStore) -> str:
    return f"{store.keys.prefix}:autopilot:lock"


@dataclass
class Action:
    task: str
    action: str  # advance | done | rollback | pause | hold | standby | conflict | error | warning
    verdict: str | None
    reason: str
    percent: float | None = None
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def text(self) -> str:
        pct = f" -> {self.percent:g}%" if self.percent is not None and self.action == "advance" else ""
        v = f" (v{self.version})" if self.version is not None else ""
        return f"{self.action:<8} {self.task}{pct}{v}: {self.reason}"


class Autopilot:
    def __init__(
        self,
        store: F.FlagStore,
        outcomes: OutcomeStore,
        thresholds: Thresholds,
        *,
        lock_ttl: float = 30.0,
        holder: str | None = None,
        clock: Callable[[], float] | None = None,
        local_clock: Callable[[], float] = time.time,
        registry: Any = None,
        saq_url: str | None = None,
        worker_check: Callable[[str], list[str]] | None = None,
        stall_check: Callable[[str, float, float], str | None] | None = None,
    ):
        self.store = store
        self.outcomes = outcomes
        self.thresholds = thresholds
        self.lock_ttl = float(lock_ttl)
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.actor = f"autopilot@{self.holder}"
        # step times and windows are the Redis server's clock, as the outcomes' buckets are (the recorders
        # write in Redis time): autopilots, CLIs and workers on hosts whose clocks differ agree on them
        self.clock = clock or (lambda: redis_time(store.client))
        self.local_clock = local_clock
        self.skew: float | None = None  # this host's clock - Redis's, measured once a minute
        self._skew_at = -1e9
        self._renew = store.client.register_script(_RENEW)
        self._release = store.client.register_script(_RELEASE)
        self.holding = False
        # the live-SAQ-worker check `route ramp`, `--resume` and the page make, before every move of a plan
        # and, once a step has lasted --every without a SAQ run, the stuck-fleet check (:func:`_stall_check`)
        self.worker_check, self.stall_check, self.worker_check_off = worker_check, stall_check, None
        if worker_check is None:
            from saqmigrate.cockpit.actions import live_worker_problems

            reg, url, self.worker_check_off = _resolve_registry(registry, saq_url)
            if reg is not None:
                self.worker_check = lambda task: live_worker_problems(reg, url, task)
                if stall_check is None:
                    self.stall_check = _stall_check(reg, url, outcomes)
        self._warned_off = False

    # -- the lock ---------------------------------------------------------------------------

    def acquire(self) -> bool:
        key, ms = lock_key(self.store), int(self.lock_ttl * 1000)
        if self.holding and int(self._renew(keys=[key], args=[self.holder, ms]) or 0):
            return True
        self.holding = bool(self.store.client.set(key, self.holder, nx=True, px=ms))
        return self.holding

    def release(self) -> None:
        try:
            self._release(keys=[lock_key(self.store)], args=[self.holder])
        finally:
            self.holding = False

    # -- one pass -----------------------------------------------------------------------------

    def tick(self) -> list[Action]:
        """One pass over every plan (nothing when another autopilot holds the lock)."""
        if not self.acquire():
            return [Action("*", "standby", None, "another autopilot holds the lock")]
        now = self.clock()
        skew = self._check_skew()
        snap = self.store.snapshot()
        plans = {t: p for t, p in R.load_plans(self.store).items() if p.state == R.ACTIVE}
        if not plans:
            return skew
        if snap.mode != "normal":
            why = f"kill switch on (mode {snap.mode}): every ramp paused"
            paused = R.pause_all(self.store, reason=why, actor=self.actor, argv=[])
            return [Action(t, "pause", None, why) for t in paused]
        out: list[Action] = list(skew)
        now = self._clock_went_back(now, plans, out)
        if self.worker_check_off and not self._warned_off:
            self._warned_off = True
            log.warning("autopilot: %s", self.worker_check_off)
            out.append(Action("*", "warning", None, self.worker_check_off))
        t = self.thresholds
        rows = compare_tasks(
            self.outcomes,
            list(plans),
            since=max(1.0, t.baseline_seconds),
            thresholds=t,
            saq_since={n: p.step_started_at for n, p in plans.items()},
            baseline=t.baseline_seconds,
            now=now,
        )
        # roll-backs first: a slow or failing analysis of one plan must not delay another's roll-back
        rows = sorted(rows, key=lambda c: (c.verdict != FAIL, c.task))
        for cmp in rows:
            plan = plans[cmp.task]
            try:
                # Right before each move: the flags' version first, then the plan and the kill switch. Every
                # plan write and every mode write bumps that version, so the compare-and-set on it fails for
                # anything written after these reads: an operator's pause or a kill between two moves of this
                # tick is never overwritten with the copy of the plan read at the start of the tick.
                snap = self.store.snapshot()
                if snap.mode != "normal":
                    why = f"kill switch on (mode {snap.mode}): every ramp paused"
                    paused = R.pause_all(self.store, reason=why, actor=self.actor, argv=[])
                    out.extend(Action(t, "pause", None, why) for t in paused)
                    break
                fresh = R.load_plans(self.store).get(plan.task)
                if fresh is None or fresh.to_json() != plan.to_json():
                    out.append(
                        Action(
                            plan.task,
                            "conflict",
                            cmp.verdict,
                            "the plan changed during this tick (an operator's pause, resume or cancel); "
                            "judged again on the next tick",
                        )
                    )
                    continue
                self._one(plan, cmp, snap, now, out)
            except Exception as exc:  # noqa: BLE001 - one plan's error never stops the others
                log.warning("autopilot: plan %s failed: %s", plan.task, exc)
                out.append(Action(plan.task, "error", cmp.verdict, f"{type(exc).__name__}: {exc}"))
        return out

    def _clock_went_back(self, now: float, plans: dict[str, R.Plan], out: list[Action]) -> float:
        """The end of this tick's windows: ``now``, unless the Redis clock is behind a step's start or the
        outcomes already recorded for the plans' tasks (a failover to a server whose clock is behind): then the
        latest of those, with a warning. Windows ending at a ``now`` in the past saw no runs and held a failing
        step for as long as the clocks differed (attack 16 M5)."""
        latest = max([p.step_started_at for p in plans.values()] or [now])
        try:
            pipe = self.outcomes.client.pipeline(transaction=False)
            members = [f"{b}|{t}" for t in plans for b in ("celery", "saq")]
            for m in members:
                pipe.zscore(self.outcomes.keys.tasks, m)
            latest = max([latest] + [float(x) for x in pipe.execute() if x is not None])
        except Exception as exc:  # noqa: BLE001 - the steps' starts alone still catch a clock gone back
            log.warning("autopilot: cannot read the outcomes' last times: %s", exc)
        if latest <= now + SKEW_WARN:
            return now
        why = (
            f"clock: the Redis server's time is {format_duration(latest - now)} behind the latest step start or "
            "recorded outcome of the active ramps (it went back: a failover?); judged on the outcomes up to the "
            "latest recorded, keep the servers' clocks in sync (NTP)"
        )
        log.warning("autopilot: %s", why)
        out.append(Action("*", "warning", None, why))
        return latest

    def _check_skew(self) -> list[Action]:
        """A warning (logged, and an action in this tick's output) at most once a minute while this host's
        clock is more than SKEW_WARN seconds off the Redis server's: the autopilot itself uses Redis time,
        but an operator reading local times, or workers whose recorders cannot reach TIME, would not."""
        if time.monotonic() - self._skew_at < 60:
            return []
        self._skew_at = time.monotonic()
        t0 = self.local_clock()
        rt = redis_time(self.store.client)
        self.skew = (t0 + self.local_clock()) / 2 - rt
        if abs(self.skew) <= SKEW_WARN:
            return []
        why = (
            f"clock skew: this host's clock is {self.skew:+.1f} s off the Redis server's; steps and windows "
            "use Redis time, keep the hosts' clocks in sync (NTP)"
        )
        log.warning("autopilot: %s", why)
        return [Action("*", "warning", None, why)]

    def _one(self, plan: R.Plan, cmp: Any, snap: F.Snapshot, now: float, out: list[Action]) -> None:
        """One plan's move for this tick (appended to ``out``), compare-and-set on ``snap.version``
        (read before ``plan``)."""
        _matched, rule = snap.rule_for(plan.task)
        if _matched != plan.task or not plan.rule_matches(rule):
            out.append(self._move(R.pause_plan, plan, snap.version, now, cmp))
            return
        at_step = now - plan.step_started_at
        step = f"step {plan.index + 1}/{len(plan.steps)} ({plan.percent:g}%, {format_duration(at_step)} in)"
        R.save_status(
            self.store,
            plan.task,
            {"at": now, "verdict": cmp.verdict, "summary": cmp.summary, "step": step, "analysis": cmp.to_json()},
        )
        reason = f"autopilot {step}: {cmp.summary}"
        problems = self.worker_check(plan.task) if self.worker_check is not None else []
        if problems:
            # a dead (or wrong) SAQ fleet: the step's dispatches wait in a queue nobody consumes, and the runs
            # finished before it died must not advance the ramp into it (attack 16 C2)
            why = f"autopilot {step}: no live SAQ worker for {plan.task} ({'; '.join(problems)}): rolled back to Celery"
            R.save_status(
                self.store,
                plan.task,
                {"at": now, "verdict": FAIL, "summary": why, "step": step, "analysis": cmp.to_json()},
            )
            out.append(self._move(R.rollback, plan, snap.version, now, cmp, why, "rollback"))
            return
        stalled = (
            self.stall_check(plan.task, plan.step_started_at, now)
            if self.stall_check is not None and at_step >= plan.every and not cmp.saq.runs
            else None
        )
        if stalled:
            why = f"autopilot {step}: {stalled}: rolled back to Celery"
            R.save_status(
                self.store,
                plan.task,
                {"at": now, "verdict": FAIL, "summary": why, "step": step, "analysis": cmp.to_json()},
            )
            out.append(self._move(R.rollback, plan, snap.version, now, cmp, why, "rollback"))
            return
        if cmp.verdict == FAIL:
            out.append(self._move(R.rollback, plan, snap.version, now, cmp, reason, "rollback"))
        elif cmp.verdict == PASS and at_step >= plan.every:
            out.append(
                self._move(R.advance, plan, snap.version, now, cmp, reason, "done" if plan.last_step else "advance")
            )
        else:
            wait = "" if cmp.verdict != PASS else f"; next step after {format_duration(plan.every)}"
            out.append(Action(plan.task, "hold", cmp.verdict, f"{step}: {cmp.summary}{wait}", plan.percent))

    def _move(
        self, fn, plan: R.Plan, version: int, now: float, cmp, reason: str | None = None, action: str = "pause"
    ) -> Action:
        if reason is None:
            reason = (
                f"autopilot: the rule of {plan.task} is no longer the plan's step "
                f"({plan.percent:g}% to SAQ): changed by hand; plan paused"
            )
        try:
            new, v = fn(self.store, plan, reason=reason, expected_version=version, now=now, actor=self.actor)
        except F.ConflictError as exc:
            return Action(plan.task, "conflict", cmp.verdict, f"{exc}; retried on the next tick")
        log.info("autopilot %s %s: %s", action, plan.task, reason)
        return Action(plan.task, action, cmp.verdict, reason, new.percent if action == "advance" else None, v)

    # -- the loop -----------------------------------------------------------------------------

    def run(
        self,
        interval: float,
        stop: threading.Event | None = None,
        on_actions: Callable[[list[Action]], None] | None = None,
    ) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; Redis errors are logged, not fatal."""
        stop = stop or threading.Event()
        try:
            while not stop.is_set():
                try:
                    actions = self.tick()
                except Exception as exc:  # noqa: BLE001 - a Redis hiccup: try again next tick
                    log.warning("autopilot tick failed: %s", exc)
                    actions = [Action("*", "error", None, f"{type(exc).__name__}: {exc}")]
                if on_actions is not None:
                    on_actions(actions)
                stop.wait(interval)
        finally:
            try:
                self.release()
            except Exception:  # noqa: BLE001
                pass


def _resolve_registry(registry: Any, saq_url: str | None) -> tuple[Any, str, str | None]:
    """The registry of the live-worker check of ``route ramp`` (default: ``SAQMIGRATE_REGISTRY``, else the one
    generated registry under the current folder, as the ``route`` commands find it) and SAQ's Redis (``saq_url``,
    else ``SAQ_REDIS_URL`` / ``REDIS_URL``). Without a registry there is nothing to check: (None, url, the warning
    the autopilot prints once)."""
    from saqmigrate.runtime.urls import saq_redis_url

    url = saq_redis_url(saq_url)
    if registry is None:
        try:
            from saqmigrate.ops import registry as registry_ops

            name = os.environ.get("SAQMIGRATE_REGISTRY") or registry_ops.find_registry()
            registry = registry_ops.load_registry(name) if name else None
        except Exception as exc:  # noqa: BLE001 - reported as the warning below
            return (
                None,
                url,
                (
                    f"the live-SAQ-worker check is off: the registry did not load ({exc}); a dead SAQ "
                    "fleet is not noticed (run from the project folder or set SAQMIGRATE_REGISTRY)"
                ),
            )
        if registry is None:
            return (
                None,
                url,
                (
                    "the live-SAQ-worker check is off: no registry found (run from the project folder or "
                    "set SAQMIGRATE_REGISTRY); a dead SAQ fleet is not noticed"
                ),
            )
    return registry, url, None


def _stall_check(registry: Any, saq_url: str, outcomes: OutcomeStore) -> Callable[[str, float, float], str | None]:
    """A stuck SAQ fleet: workers registered (the live-worker check passes) but no SAQ run of *any* task of the
    task's queue finished (or was retried) between ``since`` and ``until`` while jobs wait in that queue. Asked
    only once a step has lasted ``--every`` with no SAQ run of the task: a fleet that works finishes something;
    a task that merely got no dispatches does not make its queue's other tasks stop."""
    import asyncio

    from saqmigrate.runtime.bridge import make_queue

    async def queued(queue: str) -> int:
        q = make_queue(saq_url, queue)
        try:
            return int(await q.count("queued"))
        finally:
            await q.disconnect()

    def check(task: str, since: float, until: float) -> str | None:
        entry = registry.tasks.get(task)
        if entry is None:
            return None
        peers = [n for n, e in registry.tasks.items() if e.queue == entry.queue]
        done = outcomes.window(peers, since, until, backends=["saq"])
        if any(st.runs or st.retries for st in done.values()):
            return None
        waiting = asyncio.run(queued(entry.queue))
        if waiting <= 0:
            return None
        return (
            f"no SAQ run of any task of queue {entry.queue!r} finished in {format_duration(until - since)} "
            f"while {waiting} job(s) wait in it: the SAQ fleet is stuck"
        )

    return check
