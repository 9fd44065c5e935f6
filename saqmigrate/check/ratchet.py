"""The ratchet: remaining Celery usage may only shrink.

``saqmigrate baseline`` writes ``.saqmigrate-baseline.json`` (committed): every Celery task,
beat entry and dispatch site still in the code. ``check`` fails on usage that is not in it
(SM600-SM602) and says so when usage went away (SM603), so the file shrinks with the
migration and a reviewer sees every change to it.

Keys are stable under unrelated edits (no line numbers):

* a task: its Celery name (``file::function`` when the name is not static);
* a beat entry: its name (``task@file#n`` for an unnamed one);
* dispatch sites: per file, ``"<kind> <task> in <function>"`` with a count, so moving code
  around inside a file, or adding lines above it, changes nothing; a new ``.delay()`` of the
  same task in the same function raises the count and is reported at the new occurrence.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from saqmigrate.check.base import CheckError, CheckResult, Context, add
from saqmigrate.index.model import Call, Schedule, Task

SCHEMA = "saqmigrate.baseline/1"
NOTE = (
    "Remaining Celery usage allowed by `saqmigrate check` (the ratchet). Regenerate it with "
    "`saqmigrate baseline --update` when usage goes away; review every entry it adds."
)


def task_key(t: Task) -> str:
    return t.name or f"{t.file}::{t.function}"


def schedule_keys(schedules: list[Schedule]) -> list[str]:
    """One key per schedule, in index order; unnamed entries get an occurrence index per file."""
    seen: Counter = Counter()
    out = []
    for s in schedules:
        if s.entry:
            out.append(s.entry)
            continue
        task = s.task if isinstance(s.task, str) else "<dynamic>"
        seen[(task, s.file)] += 1
        out.append(f"{task}@{s.file}#{seen[(task, s.file)]}")
    return out


def call_key(c: Call) -> str:
    what = c.task or c.dynamic_name or c.target or "<unknown>"
    return f"{c.kind} {what} in {c.in_function or '<module>'}"


def build(ctx: Context) -> dict:
    """The baseline document for the code as it is now (deterministic: sorted, no timestamps)."""
    tasks = {task_key(t): t.file for t in ctx.celery_tasks()}
    schedules = {}
    for key, s in zip(schedule_keys(ctx.celery_schedules()), ctx.celery_schedules()):
        schedules[key] = s.task if isinstance(s.task, str) else (s.task or {}).get("dynamic", "<dynamic>")
    calls: dict[str, Counter] = defaultdict(Counter)
    for c in ctx.celery_calls():
        calls[c.file][call_key(c)] += 1
    return {
        "schema": SCHEMA,
        "note": NOTE,
        "tasks": dict(sorted(tasks.items())),
        "schedules": dict(sorted(schedules.items())),
        "calls": {f: dict(sorted(cnt.items())) for f, cnt in sorted(calls.items())},
    }


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def baseline_path(ctx: Context) -> Path:
    p = Path(ctx.config.baseline)
    return p if p.is_absolute() else ctx.root / p


def load(path: Path) -> dict | None:
    """The committed baseline, None when missing; CheckError when it is not a baseline."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckError(f"{path}: cannot read the baseline: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CheckError(f"{path}: not valid JSON ({exc}); regenerate it with `saqmigrate baseline --update`") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise CheckError(f"{path}: not a {SCHEMA} baseline; regenerate it with `saqmigrate baseline --update`")
    for key in ("tasks", "schedules", "calls"):
        if not isinstance(doc.get(key, {}), dict):
            raise CheckError(f"{path}: '{key}' must be an object; regenerate it with `saqmigrate baseline --update`")
    for f, cnt in doc.get("calls", {}).items():
        if not isinstance(cnt, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in cnt.values()):
            raise CheckError(f"{path}: calls[{f!r}] must map a call key to a count")
    return doc


def diff(old: dict, new: dict) -> tuple[list[str], list[str]]:
    """(added, removed), one line each, for ``baseline --update``'s report."""
    added, removed = [], []
    for key, label in (("tasks", "task"), ("schedules", "beat entry")):
        a, b = set(old.get(key, {})), set(new.get(key, {}))
        added += [f"{label} {k}" for k in sorted(b - a)]
        removed += [f"{label} {k}" for k in sorted(a - b)]
    files = set(old.get("calls", {})) | set(new.get("calls", {}))
    for f in sorted(files):
        oc, nc = old.get("calls", {}).get(f, {}), new.get("calls", {}).get(f, {})
        for k in sorted(set(oc) | set(nc)):
            d = nc.get(k, 0) - oc.get(k, 0)
            if d > 0:
                added.append(f"{f}: {k} (+{d})")
            elif d < 0:
                removed.append(f"{f}: {k} ({d})")
    return added, removed


def _line_of(path: Path, needle: str) -> int:
    try:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return i
    except OSError:
        pass
    return 1


def run(ctx: Context) -> CheckResult:
    from saqmigrate.finalize import is_finalized

    if is_finalized(ctx.root):
        return CheckResult("ratchet", "skipped", "finalized: the `finalized` check reports any Celery usage (SM805)")
    res = CheckResult("ratchet")
    path = baseline_path(ctx)
    brel = ctx.rel(path)
    _unparsed_files(ctx, res.findings)
    base = load(path)
    if base is None:
        add(
            res.findings,
            ctx.finding(
                "SM604",
                brel,
                1,
                f"no baseline at {brel}: run `saqmigrate baseline` and commit the file "
                "(it records the Celery usage that is still allowed)",
            ),
        )
        res.summary = "no baseline"
        return res
    by_key = _new_usage(ctx, base, brel, res.findings)
    _gone_usage(ctx, base, path, brel, by_key, res.findings)
    res.summary = (
        f"{len(ctx.celery_tasks())} tasks, {len(ctx.celery_schedules())} beat entries, "
        f"{len(ctx.celery_calls())} dispatch sites against {brel}"
    )
    return res


def _unparsed_files(ctx: Context, out: list) -> None:
    """A file that does not parse is not checked: SM900 at the parser's line."""
    for err in ctx.index.errors:
        m = re.search(r"\bline (\d+)", err.message)
        add(
            out,
            ctx.finding(
                "SM900",
                err.file,
                int(m.group(1)) if m else 1,
                f"{err.message}: this file is not checked (fix it, or exclude it in [tool.saqmigrate] exclude)",
                subject=f"file:{err.file}",
            ),
        )


def _new_usage(ctx: Context, base: dict, brel: str, out: list) -> dict[tuple[str, str], list[Call]]:
    """Tasks (SM600), beat entries (SM601) and dispatch sites (SM602) the baseline does not allow; returns
    the current dispatch sites by (file, key) for the shrinkage step."""
    tasks, schedules, calls = base.get("tasks", {}), base.get("schedules", {}), base.get("calls", {})
    fix_new = (
        "write new background work as a SAQ task instead; if it must stay on Celery for now, run "
        "`saqmigrate rewrite --write` and `saqmigrate baseline --update` and commit both"
    )
    for t in ctx.celery_tasks():
        key = task_key(t)
        if key not in tasks:
            subject = f"task:{t.name}" if t.name else f"task:{key}"
            ctx.absorbed.add(subject)
            add(
                out,
                ctx.finding(
                    "SM600",
                    t.file,
                    t.decorator_line or t.line,
                    f"new Celery task {key} (not in {brel}): {fix_new}",
                    subject=subject,
                ),
            )
    cur_sched = ctx.celery_schedules()
    for key, s in zip(schedule_keys(cur_sched), cur_sched):
        if key not in schedules:
            subject = f"schedule:{key}"
            ctx.absorbed.add(subject)
            add(
                out,
                ctx.finding(
                    "SM601",
                    s.file,
                    s.line,
                    f"new beat entry {key!r} (not in {brel}): add a SAQ CronJob instead; if it must "
                    "stay on Celery beat for now, run `saqmigrate rewrite --write` and "
                    "`saqmigrate baseline --update` and commit both",
                    subject=subject,
                ),
            )
    by_key: dict[tuple[str, str], list[Call]] = defaultdict(list)
    for c in sorted(ctx.celery_calls(), key=lambda c: (c.file, c.line, c.column)):
        by_key[(c.file, call_key(c))].append(c)
    for (file, key), sites in sorted(by_key.items()):
        allowed = calls.get(file, {}).get(key, 0)
        for c in sites[allowed:]:
            add(
                out,
                ctx.finding(
                    "SM602",
                    c.file,
                    c.line,
                    f"new Celery dispatch {c.target or c.task}.{c.kind}() in "
                    f"{c.in_function or 'module level'} ({key!r}: {len(sites)} in this file, "
                    f"{allowed} in {brel}): dispatch through SAQ instead; if it must stay on Celery "
                    "for now, run `saqmigrate baseline --update` and commit it",
                    subject=f"call:{file}:{key}",
                    column=c.column,
                ),
            )
    return by_key


def _gone_usage(
    ctx: Context, base: dict, path: Path, brel: str, by_key: dict[tuple[str, str], list[Call]], out: list
) -> None:
    """Usage that went away (SM603): the baseline should shrink."""
    tasks, schedules, calls = base.get("tasks", {}), base.get("schedules", {}), base.get("calls", {})
    cur_task_keys = {task_key(t) for t in ctx.celery_tasks()}
    cur_sched_keys = set(schedule_keys(ctx.celery_schedules()))
    shrink = "shrink the baseline: run `saqmigrate baseline --update` and commit it"
    for key in sorted(set(tasks) - cur_task_keys):
        add(
            out,
            ctx.finding(
                "SM603",
                brel,
                _line_of(path, json.dumps(key) + ":"),
                f"task {key} is in the baseline but no longer in the code: {shrink}",
                subject=f"task:{key}",
            ),
        )
    for key in sorted(set(schedules) - cur_sched_keys):
        add(
            out,
            ctx.finding(
                "SM603",
                brel,
                _line_of(path, json.dumps(key) + ":"),
                f"beat entry {key!r} is in the baseline but no longer in the code: {shrink}",
                subject=f"schedule:{key}",
            ),
        )
    for file, cnt in sorted(calls.items()):
        for key, n in sorted(cnt.items()):
            now = len(by_key.get((file, key), []))
            if now < n:
                add(
                    out,
                    ctx.finding(
                        "SM603",
                        brel,
                        _line_of(path, json.dumps(key) + ":"),
                        f"{file}: {n - now} of {n} dispatch site(s) {key!r} are gone: {shrink}",
                        subject=f"call:{file}:{key}",
                    ),
                )
