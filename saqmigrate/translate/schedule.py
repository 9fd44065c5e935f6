"""Beat schedule entry → SAQ CronJob plan (pure data), proven against Celery.

``translate_schedule`` takes what the scanner reports for one beat entry
(``saqmigrate.index.model.Schedule``: ``kind`` + ``celery`` dict, args, kwargs, options)
and returns a frozen ``CronPlan``: the cron string as croniter/SAQ reads it, an optional
day guard (Celery ANDs day_of_month with day_of_week; cron ORs them), whether the
translation is proven exact, the strategy, the CronJob's kwargs/queue/time zone/timeout,
and Notes (rule codes SM200–SM212) that say what differs, in words and numbers.

See docs/schedules.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from saqmigrate.translate.base import Note
from saqmigrate.translate.cron import (
    CrontabError,
    crontab_to_cron,
    format_crontab,
    human_seconds,
    interval_to_cron,
    parse_celery_crontab,
)
from saqmigrate.translate.describe import describe_interval, describe_sets

if TYPE_CHECKING:
    from saqmigrate.translate.proof import ProofResult

STRATEGIES = ("cron", "cron+guard", "self_rescheduling", "manual")
# CronJob.timeout=None means SAQ's Job default of 10 s, which would kill most periodic
# work; 0 disables the timeout, but then a job orphaned by a crashed worker is never
# swept and its unique key ``cron:<name>`` blocks every later run of the schedule.
DEFAULT_CRON_TIMEOUT = 3600
_DROPPED_OPTIONS_OK = {"queue", "time_limit"}


@dataclass(frozen=True)
class CronPlan:
    kind: str  # the scanner's Schedule.kind
    celery_expr: str  # the Celery schedule as written (for tables and messages)
    cron: str | None  # croniter / SAQ cron; 6 fields = seconds LAST
    guard: dict[str, Any] | None  # {"field": ..., "values": [...]} evaluated by runtime.cronguard
    exact: bool | None  # proven equal (intervals: equal gaps); None = not provable
    strategy: str  # cron | cron+guard | self_rescheduling | manual
    kwargs: dict[str, Any] | None  # CronJob kwargs (beat args mapped to names)
    queue: str
    cron_tz: str  # IANA name for Worker(cron_tz=ZoneInfo(...))
    timeout: int | None
    retries: int | None
    ttl: int | None
    unique: bool = True
    interval: float | None = None  # seconds, for self_rescheduling
    notes: tuple[Note, ...] = ()
    migratability: str = "auto"
    description: str = ""
    proof: dict[str, Any] | None = None  # ProofResult.to_json()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["notes"] = [{"code": n.code, "message": n.message} for n in self.notes]
        return data

    @property
    def codes(self) -> list[str]:
        return [n.code for n in self.notes]


def _is_dynamic(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"dynamic"}


def _src(value: Any) -> str:
    return value["dynamic"] if _is_dynamic(value) else repr(value)


# ------------------------------------------------------------------ expressions


def celery_expression(kind: str, celery: dict[str, Any], relative: Any = False) -> str:
    celery = celery or {}
    if kind == "crontab":
        if "from_string" in celery:
            return f"crontab.from_string({celery['from_string']!r})"
        return format_crontab({k: (_src(v) if _is_dynamic(v) else v) for k, v in celery.items()})
    if kind in ("interval", "schedule"):
        sec = celery.get("seconds")
        if _is_dynamic(celery) or sec is None:
            expr: str = celery.get("dynamic", "<dynamic interval>")
            return expr
        s = f"{sec:g}"
        rel = ", relative=True" if relative is True else ""
        if kind == "schedule":
            return f"schedule(run_every={s}{rel})"
        return f"timedelta(seconds={s}){' (relative=True)' if rel else ''}"
    return celery.get("expr") or celery.get("dynamic") or f"<{kind} schedule>"


# ------------------------------------------------------------------ args / options


def map_args(
    args: Any, kwargs: Any, task_params: list[Any] | None, *, bind: bool = False, task: Any = None
) -> tuple[dict[str, Any] | None, list[Note]]:
    """Beat ``args`` → names through the task signature, merged with ``kwargs``.

    SAQ calls ``function(ctx, **job.kwargs)``: there are no positional arguments.
    """
    notes: list[Note] = []
    out: dict[str, Any] = {}
    name = f"task {task!r}" if task else "the task"
    if _is_dynamic(args):
        notes.append(
            Note(
                "SM208",
                f"beat args {args['dynamic']} are computed at run time; map them to keyword names by hand for the CronJob kwargs",
            )
        )
        args = None
    if args:
        args = list(args)
        if task_params is None:
            notes.append(
                Note(
                    "SM208",
                    f"beat args {args!r} are positional and the signature of {name} is unknown; give them names in the CronJob kwargs (SAQ has no positional arguments)",
                )
            )
        else:
            params = list(task_params)
            if bind and params and params[0].kind in ("positional_only", "positional"):
                params = params[1:]
            positional = [p for p in params if p.kind in ("positional_only", "positional")]
            varpos = any(p.kind == "var_positional" for p in params)
            for i, value in enumerate(args):
                if i < len(positional):
                    p = positional[i]
                    if p.kind == "positional_only":
                        notes.append(
                            Note(
                                "SM208",
                                f"beat arg {i} maps to positional-only parameter {p.name!r} of {name}; SAQ passes only keywords — make it a normal parameter",
                            )
                        )
                    if _is_dynamic(value):
                        notes.append(
                            Note(
                                "SM208",
                                f"beat arg {p.name}={value['dynamic']} is not a literal; it is evaluated when beat loads the schedule — compute it in the job instead",
                            )
                        )
                    out[p.name] = value
                elif varpos:
                    notes.append(
                        Note(
                            "SM208",
                            f"beat args {args[i:]!r} go to *args of {name}; SAQ has no positional arguments — change the signature or pass a list keyword",
                        )
                    )
                    break
                else:
                    notes.append(
                        Note(
                            "SM208",
                            f"beat passes {len(args)} positional args but {name} takes {len(positional)}; Celery raises TypeError on every run of this entry",
                        )
                    )
                    break
    if _is_dynamic(kwargs):
        notes.append(
            Note(
                "SM208",
                f"beat kwargs {kwargs['dynamic']} are computed at run time; write them out in the CronJob kwargs",
            )
        )
    elif kwargs:
        for k, v in dict(kwargs).items():
            if k in out:
                notes.append(
                    Note(
                        "SM208",
                        f"beat gives {k!r} both positionally and as a keyword; Celery raises TypeError (multiple values) on every run",
                    )
                )
            out[k] = v
    return (out or None), notes


def _options(options: Any, job_options: dict[str, Any] | None) -> tuple[str, dict[str, Any], list[Note]]:
    notes: list[Note] = []
    jo = dict(job_options or {})
    queue = "default"
    if _is_dynamic(options):
        notes.append(
            Note(
                "SM209",
                f"beat options {options['dynamic']} are computed at run time; check them for queue/expires/priority by hand",
            )
        )
        return queue, jo, notes
    for key, value in dict(options or {}).items():
        if key == "queue":
            if isinstance(value, str):
                queue = value
            else:
                notes.append(
                    Note(
                        "SM209",
                        f"options['queue'] = {_src(value)} is not a literal; the CronJob must go into the settings of the worker for that queue",
                    )
                )
        elif key == "time_limit" and isinstance(value, (int, float)) and value > 0:
            jo["timeout"] = int(math.ceil(value))
        elif key == "expires":
            notes.append(
                Note(
                    "SM209",
                    f"options['expires'] = {_src(value)} has no CronJob equivalent: Celery discards a run not started within {_src(value)} s; SAQ runs it late (a fire missed while no worker runs is skipped, not queued)",
                )
            )
        elif key == "priority":
            notes.append(
                Note(
                    "SM209",
                    f"options['priority'] = {_src(value)} is dropped: CronJob has no priority (Job.priority works on Postgres only, lower = sooner)",
                )
            )
        else:
            notes.append(Note("SM209", f"options[{key!r}] = {_src(value)} has no CronJob equivalent and is dropped"))
    return queue, jo, notes


# ------------------------------------------------------------------ translation


def translate_schedule(
    kind: str,
    celery: dict[str, Any],
    *,
    relative: Any = False,
    args: Any = None,
    kwargs: Any = None,
    options: Any = None,
    task_params: list[Any] | None = None,
    timezone: str | None = None,
    job_options: dict[str, Any] | None = None,
    bind: bool = False,
    task: Any = None,
    prove: bool = True,
    proof_start: tuple[Any, ...] | None = None,
    proof_days: int | None = None,
) -> CronPlan:
    """Translate one beat entry. Pure: no I/O (the proof only computes).

    ``proof_start`` (y, m, d) / ``proof_days`` change the proof horizon (default: 366 days
    from 2028-01-01 in the schedule's time zone).
    """
    from saqmigrate.translate.proof import DEFAULT_DAYS

    horizon = {"start": proof_start, "days": proof_days or DEFAULT_DAYS}
    tz = timezone or "UTC"
    celery = celery or {}
    notes: list[Note] = []
    mapped, arg_notes = map_args(args, kwargs, task_params, bind=bind, task=task)
    queue, jo, opt_notes = _options(options, job_options)
    timeout = jo.get("timeout")
    if not timeout:
        notes_timeout = Note(
            "SM210",
            (
                f"the task has no time limit; the CronJob gets timeout={DEFAULT_CRON_TIMEOUT} s "
                f"(CronJob timeout=None would mean SAQ's 10 s default; 0 would let a job orphaned by a crashed worker "
                f"hold the unique key cron:<name> forever, stopping the schedule) — set time_limit on the task to choose"
            ),
        )
        timeout = DEFAULT_CRON_TIMEOUT
    else:
        notes_timeout = None
    base: dict[str, Any] = dict(
        kind=kind,
        celery_expr=celery_expression(kind, celery, relative),
        queue=queue,
        cron_tz=tz,
        timeout=timeout,
        retries=jo.get("retries"),
        ttl=jo.get("ttl"),
        kwargs=mapped,
    )

    def finish(plan_notes: list[Note], **fields: Any) -> CronPlan:
        all_notes = (
            plan_notes
            + arg_notes
            + opt_notes
            + ([notes_timeout] if notes_timeout and fields.get("strategy") != "manual" else [])
        )
        plan = CronPlan(**base, **fields, notes=tuple(all_notes))
        return replace(plan, migratability=_migratability(plan))

    if kind == "crontab":
        return _translate_crontab(celery, tz, prove, notes, finish, horizon)
    if kind in ("interval", "schedule"):
        return _translate_interval(celery, relative, tz, prove, notes, finish, horizon)
    expr = celery.get("expr") or celery.get("dynamic") or "?"
    if kind == "solar":
        notes.append(
            Note(
                "SM206",
                f"{expr} fires at a sun event that moves every day; cron cannot express it. Run a daily CronJob that computes today's event time and enqueues the task with scheduled=<epoch>",
            )
        )
        desc = f"at the solar event {expr}"
    else:
        notes.append(
            Note(
                "SM207",
                f"schedule {expr} is {'a custom schedule class' if kind == 'custom' else 'computed at run time'}; saqmigrate cannot read when it fires — write the SAQ cron (and check it) by hand",
            )
        )
        desc = f"as computed by {expr}"
    return finish(notes, cron=None, guard=None, exact=None, strategy="manual", description=desc)


_Finish = Callable[..., "CronPlan"]  # translate_schedule's finish(notes, **CronPlan fields)


def _translate_crontab(
    celery: dict[str, Any], tz: str, prove: bool, notes: list[Note], finish: _Finish, horizon: dict[str, Any]
) -> CronPlan:
    from saqmigrate.translate.proof import prove_crontab

    dyn = {k: v for k, v in celery.items() if _is_dynamic(v)}
    if dyn or ("from_string" in celery and not isinstance(celery["from_string"], str)):
        src = ", ".join(f"{k}={_src(v)}" for k, v in (dyn or celery).items())
        notes.append(
            Note(
                "SM207",
                f"crontab field(s) {src} are computed at run time; saqmigrate cannot prove a cron for them — translate by hand",
            )
        )
        return finish(notes, cron=None, guard=None, exact=None, strategy="manual", description=f"as computed by {src}")
    try:
        ct = parse_celery_crontab(celery)
    except CrontabError as exc:
        dow = celery.get("day_of_week")
        if dow == 7 or (isinstance(dow, str) and "7" in dow.split(",")) or (isinstance(dow, list) and 7 in dow):
            msg = "day_of_week 7 is invalid in Celery (Sunday is 0, Saturday 6): Celery raises ValueError and this entry never loads — use 0 or 'sun'"
        else:
            msg = f"{exc}; the entry never loads in Celery — fix the crontab first"
        notes.append(Note("SM203", msg))
        return finish(
            notes,
            cron=None,
            guard=None,
            exact=None,
            strategy="manual",
            description="never (Celery rejects this crontab)",
        )
    cron, guard, kept = crontab_to_cron(ct)
    description = describe_sets(ct.sets, tz)
    if (
        "from_string" not in celery
        and "minute" not in ct.given
        and any(not ct.is_full(f) for f in ("hour", "day_of_week", "day_of_month", "month_of_year"))
    ):
        fields = cron.split(" ")
        likely = ["0"] + (["0"] if ct.is_full("hour") else fields[1:2]) + fields[2:]
        hours = len(ct.sets["hour"])
        notes.append(
            Note(
                "SM200",
                (
                    f"{format_crontab(ct.given)} leaves minute at Celery's default '*': it fires every minute — "
                    f"60 times in each of those {'hours' if hours > 1 else 'hour'} ({60 * hours} runs a matching day). "
                    f"Translated faithfully as '{cron}'; the likely intent is '{' '.join(likely)}' (add minute=0)"
                ),
            )
        )
    if guard:
        other = guard["field"].replace("_", "-")
        notes.append(
            Note(
                "SM201",
                (
                    f"Celery runs this only on days matching BOTH day_of_month and day_of_week; cron (croniter, as SAQ calls it) "
                    f"would run on days matching EITHER. The cron keeps {(kept or '').replace('_', '-')} and the generated job returns early "
                    f"unless the {other} is in {guard['values']} (saqmigrate.runtime.cronguard, evaluated in {tz})"
                ),
            )
        )
    if ct.full_names:
        notes.append(
            Note(
                "SM202",
                f"full names {', '.join(sorted(set(ct.full_names)))} are cut to 3 letters (Celery reads only those; croniter rejects full names)",
            )
        )
    strategy = "cron+guard" if guard else "cron"
    exact, proof = None, None
    if prove:
        try:
            res = prove_crontab(celery, cron, guard, tz=tz, **horizon)
        except Exception as exc:  # a proof that cannot run is a finding, never a silent pass
            notes.append(Note("SM212", f"the schedule proof could not run: {exc}"))
        else:
            exact, proof = res.exact, res.to_json()
            if not res.exact:
                notes.append(_difference_note(res, cron))
    return finish(notes, cron=cron, guard=guard, exact=exact, strategy=strategy, description=description, proof=proof)


def _difference_note(res: ProofResult, cron: str) -> Note:
    pairs = "; ".join(f"Celery {c or '—'} vs SAQ {s or '—'}" for c, s in res.differences[:3])
    if res.dst_only:
        return Note(
            "SM211",
            (
                f"on daylight-saving changes in {res.tz}, Celery and croniter disagree about local times that are skipped or "
                f"repeated: first differences {pairs} (Celery {res.celery_fires} runs/yr, SAQ {res.saq_fires}). Move the run "
                f"out of the changeover hours or run the worker with cron_tz=UTC and an adjusted cron"
            ),
        )
    return Note(
        "SM212",
        f"the cron '{cron}' does not fire when Celery does: first differences {pairs} (Celery {res.celery_fires} runs/yr, SAQ {res.saq_fires})",
    )


def _translate_interval(
    celery: dict[str, Any],
    relative: Any,
    tz: str,
    prove: bool,
    notes: list[Note],
    finish: _Finish,
    horizon: dict[str, Any],
) -> CronPlan:
    from saqmigrate.translate.proof import cron_gaps, prove_interval

    seconds = celery.get("seconds")
    if _is_dynamic(celery) or not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        src = celery.get("dynamic", repr(seconds))
        notes.append(
            Note(
                "SM207",
                f"interval {src} is computed at run time; saqmigrate cannot translate it — write the cron by hand",
            )
        )
        return finish(notes, cron=None, guard=None, exact=None, strategy="manual", description=f"every {src}")
    if _is_dynamic(relative):
        notes.append(
            Note("SM207", f"relative={relative['dynamic']} is computed at run time; translated as relative=False")
        )
        relative = False
    relative = bool(relative)
    desc = describe_interval(seconds, relative)
    every = human_seconds(seconds)
    if seconds <= 0 or seconds != int(seconds):
        notes.append(
            Note(
                "SM205",
                f"an interval of {seconds:g} s cannot be scheduled by SAQ (whole seconds only, and > 0); choose a whole-second interval",
            )
        )
        return finish(notes, cron=None, guard=None, exact=None, strategy="manual", description=desc)
    ic = interval_to_cron(seconds)
    if ic.cron and ic.exact_period:
        notes.append(
            Note(
                "SM204",
                (
                    f"Celery runs this every {every} counted from when beat starts (started at 10:03:17 → runs 10:03:17 + k×{every}"
                    f"{', rounded to the clock unit' if relative else ''}); SAQ's cron '{ic.cron}' runs on clock boundaries. "
                    f"Same period, different phase: runs shift by up to {every}, and the first SAQ run comes up to {every} after the worker starts"
                ),
            )
        )
        exact, proof = None, None
        if prove:
            res = prove_interval(seconds, cron=ic.cron, relative=relative, tz=tz, **horizon)
            exact, proof = res.exact, res.to_json()
            if not res.exact:
                gaps = ", ".join(f"{human_seconds(g)} ×{n}" for g, n in res.saq_gaps[:4])
                notes.append(
                    Note(
                        "SM211" if res.dst_only else "SM212",
                        (
                            f"the cron '{ic.cron}' in {tz} does not keep a steady {every} gap: gaps over the year are {gaps}; "
                            f"first differences "
                            + "; ".join(f"Celery {c} vs SAQ {s}" for c, s in res.differences[:2])
                            + (" — run this worker with cron_tz=UTC to keep elapsed-time gaps" if res.dst_only else "")
                        ),
                    )
                )
        return finish(notes, cron=ic.cron, guard=None, exact=exact, strategy="cron", description=desc, proof=proof)
    # no cron has this period
    if ic.cron:
        cycle = {"minute": 60, "hour": 3600, "day": 86400}[ic.cycle]
        cycle_gaps = cron_gaps(ic.cron, "UTC", cycle) if prove else tuple((g, n) for g, n in ic.gaps)
        gap_text = " and ".join(f"{human_seconds(g)} ({n} per {ic.cycle})" for g, n in cycle_gaps)
        near = f"the nearest cron '{ic.cron}' restarts every {ic.cycle}, so its gaps are {gap_text}"
    else:
        near = "no cron expression has this period"
    notes.append(
        Note(
            "SM205",
            (
                f"no cron runs every {every}: {near}. Emitted as a self-rescheduling job: each run enqueues the next at its own "
                f"scheduled time + {int(seconds)} s (key periodic:<name>, bootstrapped from the worker's startup), "
                f"which keeps Celery's steady gap; like Celery, the phase comes from when it was started"
            ),
        )
    )
    exact, proof = None, None
    if prove:
        res = prove_interval(seconds, self_rescheduling=True, relative=relative, tz=tz, **horizon)
        exact, proof = res.exact, res.to_json()
        if not res.exact:
            seen = ", ".join(f"{human_seconds(g)} ×{n}" for g, n in res.celery_gaps[:4])
            notes.append(
                Note(
                    "SM212",
                    (
                        f"Celery's own schedule does not run every {every} here (relative={relative}: it rounds each run to the "
                        f"clock); sampled gaps are {seen}. A steady self-rescheduling job would differ — decide which behaviour you want"
                    ),
                )
            )
    return finish(
        notes,
        cron=None,
        guard=None,
        exact=exact,
        strategy="self_rescheduling",
        interval=float(seconds),
        description=desc,
        proof=proof,
    )


def _migratability(plan: CronPlan) -> str:
    codes = set(plan.codes)
    if plan.strategy == "manual" or "SM212" in codes:
        return "manual"
    if plan.strategy == "self_rescheduling" or plan.exact is False or codes & {"SM208", "SM209", "SM211"}:
        return "assisted"
    return "auto"


# ------------------------------------------------------------------ index adapters


def plan_for_schedule(
    schedule: Any,
    *,
    task: Any = None,
    timezone: str | None = None,
    job_options: dict[str, Any] | None = None,
    prove: bool = True,
) -> CronPlan:
    """Translate an ``index.model.Schedule`` (``task``: its ``index.model.Task`` if known)."""
    return translate_schedule(
        schedule.kind,
        schedule.celery,
        relative=schedule.relative,
        args=schedule.args,
        kwargs=schedule.kwargs,
        options=schedule.options,
        task_params=(task.params if task is not None else None),
        bind=bool(getattr(task, "bind", False)),
        timezone=timezone,
        job_options=job_options,
        task=schedule.task if not _is_dynamic(schedule.task) else schedule.task["dynamic"],
        prove=prove,
    )


def render_rows(
    schedules: Iterable[Any],
    *,
    tasks: dict[str, Any] | None = None,
    timezone: str | None = None,
    job_options: dict[str, Any] | None = None,
    prove: bool = True,
) -> list[dict[str, Any]]:
    """Rows for the ``schedules`` command: one per beat entry.

    ``tasks``: Celery task name → ``index.model.Task`` (for args → names);
    ``job_options``: task name → dict from the options translator. Each row has
    ``entry, task, celery, cron, exact, strategy, description, notes, plan``.
    """
    rows = []
    for s in schedules:
        name = s.task if isinstance(s.task, str) else None
        task = (tasks or {}).get(name) if name else None
        plan = plan_for_schedule(
            s, task=task, timezone=timezone, job_options=(job_options or {}).get(name) if name else None, prove=prove
        )
        rows.append(
            {
                "entry": s.entry,
                "task": name or _src(s.task),
                "celery": plan.celery_expr,
                "cron": plan.cron
                or ("self-rescheduling every " + human_seconds(plan.interval) if plan.interval else "—"),
                "guard": plan.guard,
                "exact": {True: "yes", False: "no", None: "n/a"}[plan.exact],
                "strategy": plan.strategy,
                "description": plan.description,
                "notes": [f"{n.code}: {n.message}" for n in plan.notes],
                "plan": plan,
            }
        )
    return rows


def render_table_rows(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """(entry, Celery expression, SAQ cron, exact, description) tuples for a plain table."""
    out = []
    for r in rows:
        cron = r["cron"] + (f"  +guard {r['guard']['field']}∈{r['guard']['values']}" if r.get("guard") else "")
        out.append((r["entry"] or "", r["celery"], cron, r["exact"], r["description"]))
    return out
