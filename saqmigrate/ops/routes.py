"""Where each registered task goes under a flag snapshot, and the explanations ``route show`` prints."""

from __future__ import annotations

import json

import fnmatch
from typing import TYPE_CHECKING, Any

from saqmigrate.runtime import flags as F

if TYPE_CHECKING:
    from saqmigrate.runtime.registry import Registry


def rule_text(rule: dict | None) -> str:
    """A rule as one word: ``-`` (none), ``BAD`` (unreadable), ``celery``, ``saq`` or ``saq 30%``."""
    if not rule:
        return "-"
    if rule.get("bad"):
        return "BAD"
    if rule.get("target") == "saq" and int(rule.get("percent_bp", F.FULL_BP)) < F.FULL_BP:
        return f"saq {int(rule['percent_bp']) / 100:g}%"
    return str(rule.get("target"))


def audit_value_text(value: Any) -> str:
    """An audit entry's old or new value as a person reads it: a rule as :func:`rule_text` (with its
    expiry), a schedule owner as ``owner saq``, the mode as its name, nothing as ``-``; anything else
    (an import's summary, a value written outside the CLI) as compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "target" in value:
        text = rule_text(value)
        return text + (f" (expires {value['expires_at']})" if value.get("expires_at") else "")
    if isinstance(value, dict) and set(value) <= {"owner", "updated_at", "actor", "reason"} and "owner" in value:
        return f"owner {value['owner']}"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def snapshot_json(snap: F.Snapshot) -> dict[str, Any]:
    """The flags as stored, as JSON-ready data."""
    return {
        "version": snap.version,
        "mode": snap.mode,
        "rules": {k: dict(v) for k, v in snap.rules.items()},
        "schedules": {k: dict(v) for k, v in snap.schedules.items()},
        "bad": dict(snap.bad),
    }


def bad_lines(snap: F.Snapshot) -> list[str]:
    """One line per stored value that cannot be read (it routes to Celery), naming the command that
    rewrites it."""
    lines = []
    for key in sorted(snap.bad):
        fix = {
            "mode": "`route kill` or `route unkill` rewrites it",
            "version": "the next write (e.g. `route kill`) repairs it",
        }.get(key)
        if fix is None:
            kind, _, name = key.partition(":")
            fix = (
                f"`route set '{name}' celery|saq` or `route clear '{name}'` rewrites it"
                if kind == "rule"
                else f"`route schedules '{name}' --owner ...` rewrites it"
                if kind == "schedule"
                else "`route import` of a backup rewrites it"
            )
        lines.append(f"BAD {key}: {snap.bad[key]}; treated as Celery ({fix})")
    return lines


def locations(locs: list[str] | tuple[str, ...], most: int = 3) -> str:
    """``a, b, c and 2 more``."""
    shown = ", ".join(locs[:most])
    return shown + (f" and {len(locs) - most} more" if len(locs) > most else "")


def effective_routes(registry: Registry | None, snap: F.Snapshot) -> list[dict[str, Any]]:
    """Per registered task: the route the router takes under ``snap`` (``task``, ``route``, ``why``,
    ``queue``, ``canvas``); empty without a registry."""
    if registry is None:
        return []
    rows = []
    for name in sorted(registry.tasks):
        entry = registry.tasks[name]
        matched, rule = snap.rule_for(name)
        if snap.mode != "normal":
            eff = "celery" if snap.mode == "force-celery" else "saq"
            why = F.R_KILL
        elif rule is None:
            eff, why = "celery", F.R_DEFAULT
        elif rule.get("bad"):
            eff, why = "celery", f"{F.R_BAD} ({'rule ' + repr(matched)} cannot be read)"
        else:
            eff = rule_text(rule)
            why = F.R_OVERRIDE if matched == name else f"{F.R_PATTERN} {matched}"
        if entry.unsupported:
            why += f" (always celery: {', '.join(sorted(entry.unsupported))})"
        canvas = list(entry.canvas)
        if canvas and eff != "celery":
            why += f" (canvas uses stay on celery: {locations(canvas)})"
        rows.append({"task": name, "route": eff, "why": why, "queue": entry.queue, "canvas": canvas})
    return rows


def matching_tasks(registry: Registry, pattern: str | None) -> list[str]:
    """Registered task names equal to ``pattern`` or matching it as a glob (all when None)."""
    return [n for n in registry.tasks if pattern is None or n == pattern or fnmatch.fnmatchcase(n, pattern)]


def canvas_warnings(registry: Registry | None, pattern: str) -> list[str]:
    """One warning (without the ``saqmigrate: warning:`` prefix the CLI adds) per registered task matching
    ``pattern`` that the scan saw in a canvas: those uses stay on Celery whatever the flag says."""
    if registry is None:
        return []
    return [
        f"{name} is used in a canvas ({locations(registry.tasks[name].canvas)}, SM309): chain links, "
        "group members, chord bodies and link callbacks keep running on Celery; only its direct dispatches move"
        for name in sorted(matching_tasks(registry, pattern))
        if registry.tasks[name].canvas
    ]


def pinned_warnings(registry: Registry | None, pattern: str) -> list[str]:
    """Tasks ``pattern`` names that stay on Celery whatever a rule says (options SAQ cannot honour: the
    registry's ``unsupported``): one warning line saying which and why, so a rule that moves nothing for
    them is never silent."""
    if registry is None:
        return []
    names = matching_tasks(registry, pattern)
    out: list[str] = []
    pinned = [n for n in names if registry.tasks[n].unsupported]
    if pinned:
        shown = ", ".join(f"{n} ({', '.join(sorted(registry.tasks[n].unsupported))})" for n in pinned[:5])
        more = f" and {len(pinned) - 5} more" if len(pinned) > 5 else ""
        out.append(
            f"{len(pinned)} of {len(names)} task(s) {pattern!r} matches stay on Celery "
            f"whatever this rule says (options SAQ cannot honour): {shown}{more}; `saqmigrate route show` lists them"
        )
    # SM116: decided per process, by its environment (this shell's is not the workers')
    assuming = [n for n in names if registry.tasks[n].assumes_unset and n not in pinned]
    if assuming:
        shown = ", ".join(f"{n} (${', $'.join(registry.tasks[n].assumes_unset)})" for n in assuming[:5])
        more = f" and {len(assuming) - 5} more" if len(assuming) > 5 else ""
        out.append(
            f"{len(assuming)} of {len(names)} task(s) {pattern!r} matches stay on Celery in every process that "
            f"sets a variable their options' defaults came from (SM116): {shown}{more}"
        )
    return out
