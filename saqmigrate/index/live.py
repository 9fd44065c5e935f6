"""``rewrite --live``: run-time facts for what the static scan could only flag.

``saqmigrate verify``'s probe imports the app (opt-in, child process) and reports what Celery
resolved. ``apply_live`` puts those values into the index *only* where the static scan had no
exact answer, before classification, so the rest of the pipeline (translation, proofs, findings,
generation) runs unchanged on them:

* a task option that could not be resolved statically (SM115) takes Celery's run-time value;
* a task whose queue the router decides at run time (a router function, a dynamic
  ``task_routes``) gets the queue Celery's router gave it;
* beat entries built in a loop or from the environment (SM250/SM251) become ordinary entries
  with the schedule Celery runs.

Each such item is marked (``Task.features["live"]``, ``Schedule.source == "live"``) so the generated
code says it was resolved at run time, in the environment ``rewrite --live`` ran in. The facts used
are written to ``<worker package>/live_facts.py``, so a later static ``rewrite``/``check`` reproduces
the same code (``rewrite --live`` again refreshes them; delete the file to go back to static).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from saqmigrate.index.model import ProjectIndex, Schedule, is_dynamic

LIVE_SCHEMA = "saqmigrate.live/1"
LIVE_MODULE = "live_facts.py"


def apply_live(index: ProjectIndex, doc: dict[str, Any]) -> dict[str, Any]:
    """Fill in the run-time values; returns the subset of ``doc`` that was used (for live_facts.py)."""
    from saqmigrate.plan import task_queue
    from saqmigrate.translate.routing import RouteUnknown

    used: dict[str, Any] = {"schema": LIVE_SCHEMA, "app": doc.get("app"), "tasks": {}, "beat_schedule": {}}
    rt_tasks = doc.get("tasks") or {}
    for t in index.tasks:
        rt = rt_tasks.get(t.name) if t.name else None
        if not isinstance(rt, dict):
            continue
        live: dict[str, Any] = {}
        unresolved = dict(t.features.get("unresolved") or {})
        opts = dict(rt.get("options") or {})
        if "result_expires" not in opts and "result_expires" in doc:  # an app setting: the probe reports it once
            opts["result_expires"] = doc["result_expires"]
        for key in list(unresolved):
            if key not in opts:
                continue
            value = opts[key]
            if isinstance(value, dict) and "repr" in value:
                continue
            if value is None:  # Celery's answer too: no time limit, no rate limit (the option's default)
                t.options.pop(key, None)
                t.inherited_options.pop(key, None)
            elif key == "result_expires":  # an app setting, not a task option
                t.inherited_options[key] = value
            else:
                t.options[key] = value
            live[key] = value
            del unresolved[key]
        try:
            task_queue(t, index)
        except RouteUnknown:
            q = (rt.get("route") or {}).get("queue")
            if isinstance(q, str):
                t.options["queue"] = q
                live["queue"] = q
                unresolved.pop("queue", None)
        if live:
            t.features = {**t.features, "live": live, "unresolved": unresolved}
            if not unresolved:
                t.features.pop("unresolved")
            used["tasks"][t.name] = {
                "options": {k: v for k, v in live.items() if k != "queue"},
                "route": {"queue": live["queue"]} if "queue" in live else {},
            }
    _apply_beat(index, doc, used)
    return used


def _apply_beat(index: ProjectIndex, doc: dict[str, Any], used: dict[str, Any]) -> None:
    def known(s: Schedule) -> bool:  # everything Celery needs to run the entry is literal in the source
        values = list((s.celery or {}).values()) + [s.task, s.args, s.kwargs]
        return (
            bool(s.entry)
            and not s.in_loop
            and s.kind not in ("dynamic", "custom")
            and not any(is_dynamic(v) for v in values)
        )

    static = {s.entry for s in index.schedules if known(s)}
    placeholders = [s for s in index.schedules if not known(s)]
    anchor = placeholders[0] if placeholders else None
    if anchor is None:
        app = index.apps[0] if index.apps else None
        where = (app.file, app.line, app.module) if app else ("<run time>", 1, "")
    else:
        where = (anchor.file, anchor.line, anchor.module)
    added = []
    for entry, rt in sorted((doc.get("beat_schedule") or {}).items()):
        if entry in static or not isinstance(rt, dict) or not isinstance(rt.get("task"), str):
            continue
        sched = rt.get("schedule") or {}
        if sched.get("kind") == "crontab":
            kind, celery = "crontab", dict(sched.get("fields") or {})
        elif sched.get("kind") == "interval" and isinstance(sched.get("seconds"), (int, float)):
            kind, celery = "interval", {"seconds": float(sched["seconds"])}
        else:
            continue  # solar and custom schedule classes stay findings
        added.append(
            Schedule(
                entry=entry,
                task=rt["task"],
                file=where[0],
                line=where[1],
                module=where[2],
                source="live",
                container="beat_schedule",
                kind=kind,
                celery=celery,
                args=rt.get("args") or None,
                kwargs=rt.get("kwargs") or None,
                options=rt.get("options") or None,
                relative=bool(sched.get("relative")),
            )
        )
        used["beat_schedule"][entry] = rt
    if added:
        covered = {s.entry for s in added}
        # the loop / environment placeholders whose entries are now known
        index.schedules = [
            s for s in index.schedules if not (s in placeholders and (s.entry is None or s.entry in covered))
        ]
        index.schedules.extend(added)
        index.schedules.sort(key=lambda s: (s.file, s.line, s.entry or ""))


def read_live_facts(root: Path, package_rel: str) -> dict[str, Any] | None:
    """The facts an earlier ``rewrite --live`` recorded (``FACTS = {...}``, a literal), or None."""
    path = root / package_rel / LIVE_MODULE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "FACTS" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
                return None
            return value if isinstance(value, dict) and value.get("schema") == LIVE_SCHEMA else None
    return None
