"""Routing: the flags (live store or a bootstrap snapshot) agree with the code and the generated worker.

Runs when ``--redis-url`` (or the environment variable named by ``flag_store_env``,
default ``SAQMIGRATE_REDIS_URL``) or ``--bootstrap FILE`` is given:

* SM630 a rule names no known task (exact name), or a glob matches none;
* SM631 a task routed to SAQ (rule, percentage or ``force-saq``) is not registered under its
  Celery name in the generated registry and its queue's worker ``FUNCTIONS``;
* SM632 a beat entry with no owner (SAQ owns it but has no CronJob, or only SAQ has it and
  Celery owns it), or an owner set for an entry that exists nowhere;
* SM633 a beat entry with two owners (defined twice in Celery code, or SAQ owns it while the
  configured beat scheduler ignores ownership);
* SM634 a rule past its ``expires_at``;
* SM635 (Redis only) an audit stream without an entry for every flag-store version.

The registry and worker modules are read statically (never imported).
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import os
from collections import defaultdict
from pathlib import Path

from saqmigrate.check.base import CheckError, CheckResult, Context, add
from saqmigrate.check.generated import read, read_functions, read_literals
from saqmigrate.runtime import flags as F

ROUTED_SCHEDULERS = ("saqmigrate.runtime.beat",)


def source(ctx: Context) -> tuple[str | None, Path | None]:
    url = ctx.options.redis_url or os.environ.get(ctx.config.flag_store_env) or None
    return url, ctx.options.bootstrap


def load_snapshot(ctx: Context) -> tuple[F.Snapshot, F.FlagStore | None, str]:
    url, boot = source(ctx)
    if url:
        try:
            store = F.FlagStore(url, namespace=ctx.options.namespace)
        except F.FlagError as exc:
            raise CheckError(f"--namespace: {exc}") from None
        except ValueError as exc:
            raise CheckError(f"--redis-url: {exc}") from None
        try:
            store.ping()
            return store.snapshot(), store, f"flag store {F._redact(url)} (namespace {ctx.options.namespace})"
        except F.StoreUnavailable as exc:
            raise CheckError(str(exc)) from None
        except Exception as exc:  # redis errors other than connection ones
            raise CheckError(f"flag store {F._redact(url)}: {exc.__class__.__name__}: {exc}") from None
    assert boot is not None
    try:
        data = json.loads(Path(boot).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CheckError(f"--bootstrap {boot}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CheckError(f"--bootstrap {boot}: not JSON ({exc}); pass a file written by the flag client") from None
    if not isinstance(data, dict):
        raise CheckError(f"--bootstrap {boot}: expected a JSON object (a flag snapshot)")
    return F.Snapshot.from_json(data, source="bootstrap"), None, f"bootstrap file {boot}"


def _expiry(rule) -> float | None:
    value = rule.get("expires_at")
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        d = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.timestamp()


def _to_saq(snap: F.Snapshot, task: str) -> str | None:
    """Why some dispatches of ``task`` go to SAQ under these flags, or None if none can."""
    if snap.mode == "force-saq":
        return "kill switch force-saq"
    if snap.mode == "force-celery":
        return None
    matched, rule = snap.rule_for(task)
    if rule is None or rule.get("target") != F.SAQ:
        return None
    bp = int(rule.get("percent_bp", F.FULL_BP))
    if bp <= 0:
        return None
    share = "" if bp >= F.FULL_BP else f" {bp / 100:g}%"
    return f"rule {matched!r} → saq{share}"


def audit_gaps(store: F.FlagStore, version: int) -> tuple[list[int], int]:
    """(versions with no audit entry, the first version still in the stream)."""
    seen: set[int] = set()
    first = None
    last_id = "-"
    while True:
        batch = store.client.xrange(store.keys.audit, min=last_id, max="+", count=1000)
        if last_id != "-" and batch and batch[0][0] == last_id:
            batch = batch[1:]
        if not batch:
            break
        for entry_id, fields in batch:
            try:
                v = int(fields.get("version", ""))
            except ValueError:
                continue
            seen.add(v)
            first = v if first is None else min(first, v)
        last_id = batch[-1][0]
    trimmed = store.audit_length() >= 100_000  # the stream is capped (MAXLEN ~ 100k): older entries are gone
    start = first if (trimmed and first) else 1
    return [v for v in range(start, version + 1) if v not in seen], start


def _ranges(nums: list[int]) -> str:
    out, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(out[:10]) + (" …" if len(out) > 10 else "")


def run(ctx: Context) -> CheckResult:
    res = CheckResult("routing")
    url, boot = source(ctx)
    if not url and not boot:
        res.status = "skipped"
        res.summary = f"no flag store given (--redis-url, ${ctx.config.flag_store_env} or --bootstrap FILE)"
        return res
    snap, store, where = load_snapshot(ctx)
    out = res.findings
    plan = ctx.rewrite.plan
    reg_rel = f"{plan.package_rel}/registry.py"
    reg = read_literals(read(ctx.root / reg_rel))
    reg_tasks = reg.values.get("TASKS", {}) or {}
    reg_sched = reg.values.get("SCHEDULES", {}) or {}
    reg_task_lines = reg.key_lines.get("TASKS", {})
    functions: dict[str, dict[str, int]] = {}
    for q in plan.queues:
        functions[q.name] = read_functions(read(ctx.root / q.rel))
    for q in {e.get("queue") for e in reg_tasks.values() if isinstance(e, dict)} - set(functions):
        rel = f"{plan.package_rel}/queue_{''.join(c if c.isalnum() or c == '_' else '_' for c in str(q))}.py"
        functions[str(q)] = read_functions(read(ctx.root / rel))

    tasks = {t.name: t for t in ctx.celery_tasks() if t.name}
    known = set(tasks) | set(reg_tasks)

    def task_where(name: str) -> tuple[str, int]:
        t = tasks.get(name)
        if t is not None:
            return t.file, t.decorator_line or t.line
        return reg_rel, reg_task_lines.get(name, 1)

    # rules naming unknown tasks; expired rules
    for name, rule in sorted(snap.rules.items()):
        pattern = F._is_pattern(name)
        if (pattern and not any(fnmatch.fnmatchcase(t, name) for t in known)) or (not pattern and name not in known):
            what = "matches no known task" if pattern else "names no known task"
            add(out, ctx.finding("SM630", reg_rel, 1,
                                 f"routing rule {name!r} {what} (not a Celery task in the code, not in {reg_rel}): "
                                 f"fix the name, or remove it with `saqmigrate route clear '{name}' --reason ...`",
                                 subject=f"rule:{name}"))
        exp = _expiry(rule)
        if exp is not None and exp <= ctx.now:
            when = _dt.datetime.fromtimestamp(exp, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            add(out, ctx.finding("SM634", *(task_where(name) if name in known else (reg_rel, 1)),
                                 f"routing rule {name!r} expired on {when}: decide — set it again without an expiry "
                                 f"to keep it, or `saqmigrate route clear '{name}' --reason ...`", subject=f"rule:{name}"))

    # tasks routed to SAQ but not registered under their Celery name
    for name in sorted(known):
        why = _to_saq(snap, name)
        if why is None:
            continue
        entry = reg_tasks.get(name)
        problem = None
        if not isinstance(entry, dict):
            problem = f"{reg_rel} has no entry for it"
        else:
            fn = entry.get("saq_function") or name
            q = entry.get("queue") or "default"
            if fn != name:
                problem = f"{reg_rel} registers it as {fn!r}, not under its Celery name"
            elif name not in functions.get(q, {}):
                problem = f"the SAQ worker for queue {q!r} does not list it in FUNCTIONS"
        if problem:
            add(out, ctx.finding("SM631", *task_where(name),
                                 f"{name} is routed to SAQ ({why}) but {problem}, so a SAQ worker cannot run it: run "
                                 f"`saqmigrate rewrite --write` and deploy the SAQ worker, or `saqmigrate route set "
                                 f"{name} celery --reason ...`", subject=f"task:{name}"))

    # schedule ownership
    beat: dict[str, list] = defaultdict(list)
    for s in ctx.celery_schedules():
        if s.entry:
            beat[s.entry].append(s)
    scheduler = next((st for st in ctx.index.settings if st.name == "beat_scheduler" and not st.file.endswith("_saq.py")),
                     None)
    scheduler_routed = scheduler is None or (isinstance(scheduler.value, str)
                                             and scheduler.value.startswith(ROUTED_SCHEDULERS))
    for entry in sorted(set(beat) | set(reg_sched)):
        defs = beat.get(entry, [])
        sched = reg_sched.get(entry) if isinstance(reg_sched.get(entry), dict) else None
        task = (sched or {}).get("task") or next((d.task for d in defs if isinstance(d.task, str)), None)
        if task is None:
            continue
        owner, reason = F.schedule_owner(snap, entry, task)
        subject = f"schedule:{entry}"
        file, line = (defs[0].file, defs[0].line) if defs else (reg_rel, reg.key_lines.get("SCHEDULES", {}).get(entry, 1))
        if len(defs) > 1:
            places = ", ".join(f"{d.file}:{d.line}" for d in defs)
            add(out, ctx.finding("SM633", defs[1].file, defs[1].line,
                                 f"beat entry {entry!r} is defined {len(defs)} times ({places}): Celery keeps one and "
                                 "the other silently disappears; give each a unique name", subject=subject))
        has_cron = sched is not None and bool(sched.get("cron"))
        explicit = (snap.schedules.get(entry) or {}).get("owner")
        if not has_cron:
            # the runtime keeps an entry without a SAQ cron on beat (ownership.py: not_registered)
            if explicit == F.SAQ:
                add(out, ctx.finding("SM632", file, line,
                                     f"the flags give beat entry {entry!r} to SAQ, but the generated worker has no "
                                     "CronJob for it: SAQ cannot fire it and beat keeps it (not_registered), so the "
                                     "flag does nothing. Run `saqmigrate rewrite --write`, or reset it with "
                                     f"`saqmigrate route schedules '{entry}' --owner auto --reason ...`",
                                     subject=subject))
            continue
        if owner == F.CELERY and not defs:
            add(out, ctx.finding("SM632", file, line,
                                 f"beat entry {entry!r} exists only as a SAQ CronJob, but Celery owns it ({reason}), "
                                 "so nothing fires it: give it to SAQ with `saqmigrate route schedules "
                                 f"'{entry}' --owner saq --reason ...`, or run `saqmigrate rewrite --write`",
                                 subject=subject))
        elif owner == F.SAQ and defs and not scheduler_routed:
            add(out, ctx.finding("SM633", scheduler.file, scheduler.line,
                                 f"beat entry {entry!r} is owned by SAQ ({reason}) but beat_scheduler = "
                                 f"{scheduler.value!r} does not consult ownership, so Celery beat fires it too: use "
                                 "saqmigrate.runtime.beat:RoutedScheduler (or mix OwnershipMixin into yours)",
                                 subject=subject))
    for entry in sorted(set(snap.schedules) - set(beat) - set(reg_sched)):
        add(out, ctx.finding("SM632", reg_rel, 1,
                             f"the flags set an owner for beat entry {entry!r}, which exists neither in the Celery "
                             f"code nor in {reg_rel}: remove it with `saqmigrate route schedules '{entry}' --owner "
                             "auto --reason ...` or fix the name", subject=f"schedule:{entry}"))

    # audit stream accounts for every version
    audited = ""
    if store is not None:
        gaps, start = audit_gaps(store, snap.version)
        if gaps:
            add(out, ctx.finding("SM635", ctx.config_rel, ctx.config_line("flag_store_env"),
                                 f"flag store version is {snap.version} but the audit stream has no entry for version(s) "
                                 f"{_ranges(gaps)}: flags were written outside `saqmigrate route` (who and why is "
                                 "unknown); review `saqmigrate route show` and re-apply the intended flags with "
                                 "--reason", subject="audit"))
        audited = f", audit checked from version {start}"
    res.summary = (f"{where}: version {snap.version}, mode {snap.mode}, {len(snap.rules)} rule(s), "
                   f"{len(snap.schedules)} schedule owner(s){audited}")
    return res
