"""Schedules: every beat entry has a SAQ CronJob proven to fire at the same instants, or an
explicit, reasoned acceptance in ``[tool.saqmigrate.accept]``.

"Proven" is the schedule translator's verdict (``Schedule.exact is True``: fire times
enumerated with Celery's own crontab logic and croniter over a year and compared, see
docs/schedules.md) *and* ``rewrite`` generating a CronJob for it. Acceptances must give a
reason (SM621) and must still be needed (SM622), so they cannot rot silently.
"""

from __future__ import annotations

from saqmigrate import rules as rulebook
from saqmigrate.check.base import CheckError, CheckResult, Context, add
from saqmigrate.check.ratchet import schedule_keys

SEV = {"error": 0, "warning": 1, "info": 2}


def _why(tr: dict) -> str:
    notes = []
    for n in tr.get("notes") or []:
        if isinstance(n, dict):
            notes.append((n.get("code", ""), n.get("message", "")))
        elif isinstance(n, str):
            code, _, msg = n.partition(": ")
            notes.append((code, msg))
    catalogue = rulebook.all_rules()
    notes.sort(key=lambda cm: SEV.get(getattr(catalogue.get(cm[0]), "severity", "info"), 2))
    if notes and SEV.get(getattr(catalogue.get(notes[0][0]), "severity", "info"), 2) < 2:
        return f"{notes[0][0]}: {notes[0][1]}"
    proof = tr.get("proof") or {}
    diffs = proof.get("differences") or []
    if diffs:
        return f"the fire times differ (first difference: {diffs[0]})"
    if notes:
        return f"{notes[0][0]}: {notes[0][1]}"
    return "the translation is not proven equivalent"


def run(ctx: Context) -> CheckResult:
    res = CheckResult("schedules")
    out = res.findings
    accept = ctx.config.accept
    for key, reason in accept.items():
        if not isinstance(reason, str):
            raise CheckError(f"{ctx.config_rel}: [tool.saqmigrate.accept] {key!r} must be a string giving the reason")
    skipped = dict(ctx.rewrite.plan.skipped)
    scheds = ctx.celery_schedules()
    keys = schedule_keys(scheds)
    proven = accepted = 0
    for key, s in zip(keys, scheds):
        tr = s.translation or {}
        celery = tr.get("celery_expr") or s.kind
        reason = accept.get(key)
        no_cron = skipped.get(f"beat entry {key!r}") or skipped.get(f"beat entry at {s.file}:{s.line}")
        if s.exact is True and not no_cron:
            proven += 1
            if reason is not None:
                add(
                    out,
                    ctx.finding(
                        "SM622",
                        ctx.config_rel,
                        ctx.config_key_line(key),
                        f"beat entry {key!r} is accepted in [tool.saqmigrate.accept] but its CronJob is "
                        "now proven equivalent: remove the acceptance",
                        subject=f"schedule:{key}",
                    ),
                )
            continue
        if reason is not None and reason.strip():
            accepted += 1
            continue
        if reason is not None:
            add(
                out,
                ctx.finding(
                    "SM621",
                    ctx.config_rel,
                    ctx.config_key_line(key),
                    f"beat entry {key!r} is accepted without a reason: write why the difference is "
                    "acceptable (reviewers and later readers need it)",
                    subject=f"schedule:{key}",
                ),
            )
            continue
        if no_cron:
            why = f"rewrite generates no CronJob for it ({no_cron})"
        elif s.exact is None and not tr:
            why = f"its schedule ({celery}) is not a literal saqmigrate can translate"
        else:
            why = _why(tr)
        add(
            out,
            ctx.finding(
                "SM620",
                s.file,
                s.line,
                f"beat entry {key!r} ({celery}) has no SAQ CronJob proven to fire at the same times: "
                f"{why}. Make the schedule exactly translatable, or accept the difference with a reason "
                f'under [tool.saqmigrate.accept]: "{key}" = "why this is fine"',
                subject=f"schedule:{key}",
            ),
        )
    present = set(keys)
    for key in sorted(set(accept) - present):
        add(
            out,
            ctx.finding(
                "SM622",
                ctx.config_rel,
                ctx.config_key_line(key),
                f"[tool.saqmigrate.accept] names beat entry {key!r}, which no longer exists: remove it",
                subject=f"schedule:{key}",
            ),
        )
    res.summary = f"{len(scheds)} beat entries: {proven} proven, {accepted} accepted"
    return res
