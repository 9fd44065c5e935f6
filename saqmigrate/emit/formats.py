"""Machine formats for scan results: JSON (the saqmigrate.scan/1 contract), Markdown, SARIF 2.1.0."""

from __future__ import annotations

import json
from typing import Any

from saqmigrate import __version__
from saqmigrate import rules as rulebook
from saqmigrate.index.model import Finding, ProjectIndex
from saqmigrate.plan import beat_entry_name

SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _jsonable_index(index: ProjectIndex) -> dict:
    data = index.to_json()
    for t in data["tasks"]:
        t.pop("end_line", None)
    for c in data["calls"]:  # the dispatch's own keyword options; "_..." keys are the analysis' markers
        c["options"] = {k: v for k, v in c["options"].items() if not k.startswith("_")}
    return data


def to_json(index: ProjectIndex) -> str:
    return json.dumps(_jsonable_index(index), indent=2, sort_keys=False, default=str) + "\n"


def to_markdown(index: ProjectIndex) -> str:
    s = index.summary
    out = [
        "# saqmigrate scan",
        "",
        f"Root: `{index.root}` — {index.files_scanned} files, "
        f"{index.files_parsed} with Celery usage, {len(index.errors)} errors.",
        "",
        "| | total | auto | assisted | manual |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in ("tasks", "schedules", "calls"):
        c = s[key]
        out.append(f"| {key} | {c['total']} | {c['auto']} | {c['assisted']} | {c['manual']} |")
    out += ["", "## Tasks", "", "| task | file:line | verdict | rules |", "|---|---|---|---|"]
    for t in index.tasks:
        out.append(f"| `{t.name or t.function}` | {t.file}:{t.line} | {t.migratability} | {' '.join(t.rules)} |")
    out += [
        "",
        "## Beat schedules",
        "",
        "| entry | task | celery | SAQ cron | exact | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for sc in index.schedules:
        celery = _celery_expr(sc.kind, sc.celery)
        out.append(
            f"| {_s(beat_entry_name(sc) or f'({sc.file}:{sc.line})')} | `{_s(sc.task)}` | `{celery}` | `{sc.cron or '—'}` | "
            f"{'yes' if sc.exact else ('no' if sc.exact is False else '—')} | {sc.migratability} |"
        )
    out += ["", "## Findings", "", "| rule | severity | location | message |", "|---|---|---|---|"]
    for f in index.findings:
        message = f.message.replace("|", "\\|")
        out.append(f"| {f.rule} | {f.severity} | {f.file}:{f.line} | {message} |")
    if index.errors:
        out += ["", "## Files not indexed", ""] + [f"- `{e.file}`: {e.message}" for e in index.errors]
    return "\n".join(out) + "\n"


def _s(v: Any) -> str:
    if isinstance(v, dict) and "dynamic" in v:
        return v["dynamic"]
    return str(v)


def _celery_expr(kind: str, celery: dict) -> str:
    if kind == "crontab":
        if "from_string" in celery:
            return f"crontab.from_string({celery['from_string']!r})"
        parts = [
            f"{k}={_s(celery[k])!r}" if not isinstance(celery[k], dict) else f"{k}={_s(celery[k])}"
            for k in ("minute", "hour", "day_of_week", "day_of_month", "month_of_year")
            if k in celery
        ]
        return f"crontab({', '.join(parts)})"
    if kind in ("interval", "schedule") and "seconds" in celery:
        return f"every {celery['seconds']:g}s"
    return _s(celery.get("expr") or celery.get("dynamic") or kind)


def sarif(findings: list[Finding], tool_name: str = "saqmigrate") -> dict:
    used = sorted({f.rule for f in findings})
    catalogue = rulebook.all_rules()
    rules = []
    for code in used:
        r = catalogue.get(code)
        rules.append(
            {
                "id": code,
                "name": r.name if r else code,
                "shortDescription": {"text": r.summary if r else code},
                "fullDescription": {"text": r.rationale if r else code},
                "helpUri": f"https://saqmigrate.invalid/rules/{code}",
                "defaultConfiguration": {"level": SARIF_LEVEL.get(r.severity if r else "warning", "warning")},
            }
        )
    results = []
    for f in findings:
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": used.index(f.rule),
                "level": SARIF_LEVEL.get(f.severity, "warning"),
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                            "region": {"startLine": max(1, f.line), "startColumn": max(1, f.column + 1)},
                        }
                    }
                ],
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool_name,
                        "version": __version__,
                        "informationUri": "https://saqmigrate.invalid/",
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "file:///"}},
                "results": results,
            }
        ],
    }


def to_sarif(index: ProjectIndex) -> str:
    return json.dumps(sarif(index.findings), indent=2) + "\n"
