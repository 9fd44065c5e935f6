"""Ramp plans: a task's steps to SAQ (1 % -> 5 % -> ... -> 100 %), stored beside the flags.

A plan lives in the flag store's Redis, in the flags' hash slot (``P = {ns}:{{{ns}}}:v1``)::

    P:ramps          HASH  task -> JSON plan (below)
    P:ramps:status   HASH  task -> JSON of the autopilot's last analysis (display only, not audited)

Plan::

    {"task": ..., "steps": [1, 5, 25, 50, 100], "every": 1800, "index": 0,
     "state": "active" | "paused" | "done", "step_started_at": <epoch>, "created_at": <epoch>,
     "rolled_back": false, "reason": "<why the last move>"}

Every move of a plan (start, advance, roll back, pause, resume, cancel) is **one** audited
compare-and-set write of the flag store (``FlagStore._write``: version bump, audit entry, change
notification): the plan and the task's routing rule change together, with the analysis (or the
operator's reason) as the audit entry's reason. Times (``step_started_at``, ``created_at``) are the
Redis server's clock, as the outcomes' buckets are: a host with a skewed clock starts no step in the
future or the past. A plan never moves a rule it did not set: when the
task's rule no longer is the plan's step (someone ran ``route set``), the autopilot pauses the plan.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from saqmigrate.errors import SaqmigrateError
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.outcomes import redis_time

ACTIVE, PAUSED, DONE = "active", "paused", "done"


class RampError(SaqmigrateError, ValueError):
    """A bad plan request; one line for a person."""


def ramps_key(store: F.FlagStore) -> str:
    return f"{store.keys.prefix}:ramps"


def status_key(store: F.FlagStore) -> str:
    return f"{store.keys.prefix}:ramps:status"


@dataclass
class Plan:
    task: str
    steps: list[float]
    every: float
    index: int = 0
    state: str = ACTIVE
    step_started_at: float = 0.0
    created_at: float = 0.0
    rolled_back: bool = False
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        return self.steps[min(self.index, len(self.steps) - 1)]

    @property
    def last_step(self) -> bool:
        return self.index >= len(self.steps) - 1

    def rule(self, now: float, reason: str) -> dict[str, Any]:
        """The routing rule of the current step (what ``route set TASK saq --percent P`` stores)."""
        return dict(
            F.make_rule(F.SAQ, F.parse_percent(self.percent)),
            updated_at=now,
            reason=reason,
            ramp=f"step {self.index + 1}/{len(self.steps)}",
        )

    def rule_matches(self, rule: Any) -> bool:
        """Is ``rule`` (from a snapshot) the one this plan's current step set?"""
        if not rule or rule.get("bad") or rule.get("target") != F.SAQ:
            return False
        return int(rule.get("percent_bp", F.FULL_BP)) == F.parse_percent(self.percent)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    @classmethod
    def from_json(cls, data: Any) -> "Plan":
        if not isinstance(data, dict):
            raise RampError(f"stored ramp plan is not a JSON object ({type(data).__name__})")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        try:
            plan = cls(
                **{k: data[k] for k in known if k in data}, extra={k: v for k, v in data.items() if k not in known}
            )
            plan.steps = parse_steps(plan.steps)
            plan.every = float(plan.every)
            plan.index = int(plan.index)
        except (TypeError, ValueError, KeyError) as exc:
            raise RampError(f"stored ramp plan cannot be read: {exc}") from None
        return plan


def parse_steps(steps: Any) -> list[float]:
    """``"1,5,25,50,100"`` or a list -> increasing percentages in (0, 100]."""
    if isinstance(steps, str):
        items = [s.strip().rstrip("%") for s in steps.split(",") if s.strip()]
    else:
        items = list(steps or [])
    try:
        out = [float(s) for s in items]
    except (TypeError, ValueError):
        raise RampError(f"--steps must be percentages like 1,5,25,50,100, got {steps!r}") from None
    if not out:
        raise RampError("--steps must name at least one percentage (e.g. 1,5,25,50,100)")
    if any(not (0 < s <= 100) or s != s for s in out):
        raise RampError(f"--steps must be percentages above 0 and at most 100, got {steps!r}")
    if any(F.parse_percent(s) == 0 for s in out):  # stored in basis points: 0.001 % would be 0 % to SAQ
        raise RampError(f"--steps must be at least 0.01 % each (a rule is stored in 0.01 % steps), got {steps!r}")
    if any(b <= a for a, b in zip(out, out[1:])):
        raise RampError(f"--steps must increase, got {steps!r}")
    return [int(s) if float(s).is_integer() else s for s in out]


def load_plans(store: F.FlagStore) -> dict[str, Plan]:
    """Every stored plan (a plan that cannot be read is left out)."""
    out = {}
    for task, raw in (store.client.hgetall(ramps_key(store)) or {}).items():
        data, why = F.parse_json(raw)
        if why:
            continue
        try:
            out[task] = Plan.from_json(data)
        except RampError:
            continue
    return out


def load_status(store: F.FlagStore) -> dict[str, dict[str, Any]]:
    out = {}
    for task, raw in (store.client.hgetall(status_key(store)) or {}).items():
        data, why = F.parse_json(raw)
        if not why and isinstance(data, dict):
            out[task] = data
    return out


def save_status(store: F.FlagStore, task: str, data: dict[str, Any]) -> None:
    store.client.hset(status_key(store), task, json.dumps(data, default=str))


def _write(
    store: F.FlagStore,
    task: str,
    old_plan: Plan | None,
    new_plan: Plan | None,
    *,
    rule: dict[str, Any] | None | bool,
    reason: str,
    expected_version: int | None,
    actor: str | None = None,
    argv: list[str] | None = None,
) -> int:
    """One audited CAS write of the plan and (``rule`` not False) the task's rule (None: Celery)."""
    k = store.keys
    rk = ramps_key(store)
    old_rule = store._old(k.rules, task)
    old = {"plan": old_plan.to_json() if old_plan else None, "rule": old_rule}
    new = {"plan": new_plan.to_json() if new_plan else None, "rule": old_rule if rule is False else rule}

    def ops(pipe):
        if new_plan is None:
            pipe.hdel(rk, task)
        else:
            pipe.hset(rk, task, json.dumps(new_plan.to_json()))
        if rule is not False:
            pipe.hset(k.rules, task, json.dumps(rule))

    # the flag store's own compare-and-set transaction: version, audit entry, change notification
    return store._write(
        f"ramp:{task}",
        old,
        new,
        ops,
        reason=reason,
        expected_version=expected_version,
        actor=actor,
        argv=argv,
        hashes=(k.rules, rk),
    )


def _celery_rule(now: float, reason: str) -> dict[str, Any]:
    return dict(F.make_rule(F.CELERY), updated_at=now, reason=reason, ramp="rolled back")


def start(
    store: F.FlagStore,
    task: str,
    steps: Any,
    every: float,
    *,
    reason: str,
    now: float | None = None,
    actor: str | None = None,
    argv: list[str] | None = None,
) -> tuple[Plan, int]:
    """Create (or replace) TASK's plan at its first step; sets the rule to that step."""
    if not task or F._is_pattern(task):
        raise RampError(f"a ramp needs one exact task name, got {task!r}")
    if every <= 0:
        raise RampError("--every must be a positive duration")
    now = redis_time(store.client) if now is None else now
    snap = store.snapshot()
    if snap.mode != "normal":
        raise RampError(f"the kill switch is on (mode {snap.mode}): no ramp starts until `route unkill`")
    old = load_plans(store).get(task)
    plan = Plan(task, parse_steps(steps), float(every), 0, ACTIVE, now, now, False, reason)
    version = _write(
        store,
        task,
        old,
        plan,
        rule=plan.rule(now, reason),
        reason=reason,
        expected_version=snap.version,
        actor=actor,
        argv=argv,
    )
    return plan, version


def advance(
    store: F.FlagStore,
    plan: Plan,
    *,
    reason: str,
    expected_version: int,
    now: float | None = None,
    actor: str | None = None,
) -> tuple[Plan, int]:
    """The next step (or ``done`` after the last one passed)."""
    now = redis_time(store.client) if now is None else now
    new = Plan(**{**asdict(plan)})
    if plan.last_step:
        new.state, new.reason = DONE, reason
        return new, _write(
            store,
            plan.task,
            plan,
            new,
            rule=False,
            reason=reason,
            expected_version=expected_version,
            actor=actor,
            argv=[],
        )
    new.index, new.step_started_at, new.reason = plan.index + 1, now, reason
    return new, _write(
        store,
        plan.task,
        plan,
        new,
        rule=new.rule(now, reason),
        reason=reason,
        expected_version=expected_version,
        actor=actor,
        argv=[],
    )


def rollback(
    store: F.FlagStore,
    plan: Plan,
    *,
    reason: str,
    expected_version: int,
    now: float | None = None,
    actor: str | None = None,
) -> tuple[Plan, int]:
    """Back to Celery (an explicit ``celery`` rule) and the plan paused."""
    now = redis_time(store.client) if now is None else now
    new = Plan(**{**asdict(plan)})
    new.state, new.rolled_back, new.reason = PAUSED, True, reason
    return new, _write(
        store,
        plan.task,
        plan,
        new,
        rule=_celery_rule(now, reason),
        reason=reason,
        expected_version=expected_version,
        actor=actor,
        argv=[],
    )


def pause_plan(
    store: F.FlagStore,
    plan: Plan,
    *,
    reason: str,
    expected_version: int,
    now: float | None = None,
    actor: str | None = None,
) -> tuple[Plan, int]:
    """Pause ``plan`` as read (compare-and-set on ``expected_version``); the rule stays."""
    new = Plan(**{**asdict(plan)})
    new.state, new.reason = PAUSED, reason
    return new, _write(
        store, plan.task, plan, new, rule=False, reason=reason, expected_version=expected_version, actor=actor, argv=[]
    )


def _get(store: F.FlagStore, task: str) -> Plan:
    plan = load_plans(store).get(task)
    if plan is None:
        raise RampError(f"no ramp plan for {task!r}; `saqmigrate route ramp` lists them")
    return plan


def pause(
    store: F.FlagStore, task: str, *, reason: str, actor: str | None = None, argv: list[str] | None = None
) -> tuple[Plan, int | None]:
    """Stop moving TASK (its rule stays where it is). None version: already paused, nothing written."""
    snap_v = store.snapshot().version
    plan = _get(store, task)
    if plan.state != ACTIVE:
        return plan, None
    new = Plan(**{**asdict(plan)})
    new.state, new.reason = PAUSED, reason
    return new, _write(
        store, task, plan, new, rule=False, reason=reason, expected_version=snap_v, actor=actor, argv=argv
    )


def resume(
    store: F.FlagStore,
    task: str,
    *,
    reason: str,
    now: float | None = None,
    actor: str | None = None,
    argv: list[str] | None = None,
) -> tuple[Plan, int | None]:
    """Go on from the current step (its rule set again); after a roll back, from the first step."""
    now = redis_time(store.client) if now is None else now
    snap = store.snapshot()
    if snap.mode != "normal":
        raise RampError(f"the kill switch is on (mode {snap.mode}): `route unkill` first")
    plan = _get(store, task)
    if plan.state == ACTIVE:
        return plan, None
    if plan.state == DONE:
        raise RampError(f"the ramp of {task!r} is done; start a new one with `route ramp {task} --steps ...`")
    new = Plan(**{**asdict(plan)})
    if plan.rolled_back:
        new.index, new.rolled_back = 0, False
    new.state, new.step_started_at, new.reason = ACTIVE, now, reason
    return new, _write(
        store,
        task,
        plan,
        new,
        rule=new.rule(now, reason),
        reason=reason,
        expected_version=snap.version,
        actor=actor,
        argv=argv,
    )


def cancel(
    store: F.FlagStore, task: str, *, reason: str, actor: str | None = None, argv: list[str] | None = None
) -> int:
    """Forget TASK's plan; its rule stays where it is (``route set`` / ``clear`` changes it)."""
    snap_v = store.snapshot().version
    plan = _get(store, task)
    return _write(store, task, plan, None, rule=False, reason=reason, expected_version=snap_v, actor=actor, argv=argv)


def pause_all(
    store: F.FlagStore,
    *,
    reason: str,
    tasks: Iterable[str] | None = None,
    actor: str | None = None,
    argv: list[str] | None = None,
) -> list[str]:
    """Pause every active plan (the kill switch), one audited write per plan; the tasks paused."""
    done = []
    for task in sorted(load_plans(store)):
        if tasks is not None and task not in tasks:
            continue
        for _ in range(20):
            # the version first, then the plan: a move written in between fails the compare-and-set, so
            # the paused copy is never an older plan than the one stored
            snap_v = store.snapshot().version
            plan = load_plans(store).get(task)
            if plan is None or plan.state != ACTIVE:
                break
            new = Plan(**{**asdict(plan)})
            new.state, new.reason = PAUSED, reason
            try:
                _write(
                    store, task, plan, new, rule=False, reason=reason, expected_version=snap_v, actor=actor, argv=argv
                )
            except F.ConflictError:
                continue
            done.append(task)
            break
    return done
