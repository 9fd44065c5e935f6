"""Renderers for ``saqmigrate check``: human (rich), JSON, SARIF, JUnit XML, GitHub workflow annotations.

All are fed the same :class:`saqmigrate.check.CheckReport`; SARIF reuses
:func:`saqmigrate.emit.formats.sarif`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from saqmigrate import __version__
from saqmigrate import rules as rulebook
from saqmigrate.emit.formats import sarif

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from saqmigrate.check import CheckReport

SCHEMA = "saqmigrate.check/1"
FORMATS = ("human", "json", "sarif", "junit", "github")
SEV_RANK = {"error": 0, "warning": 1, "info": 2}


def to_json(report: CheckReport) -> str:
    checks = []
    for r in report.results:
        checks.append({"name": r.name, "status": r.status, "summary": r.summary, "findings": len(r.findings)})
    findings = []
    for r in report.results:
        for f in r.findings:
            findings.append({"check": r.name, **asdict(f)})
    data = {
        "schema": SCHEMA,
        "version": __version__,
        "root": report.root,
        "passed": report.passed,
        "exit_code": report.exit_code,
        "strict": report.strict,
        "counts": report.counts(),
        "checks": checks,
        "findings": findings,
        "stats": {"elapsed_s": round(report.elapsed, 3), "files": report.files, "from_cache": report.from_cache},
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_sarif(report: CheckReport) -> str:
    return json.dumps(sarif(report.findings), indent=2) + "\n"


def to_junit(report: CheckReport) -> str:
    """One <testsuite>, one <testcase> per check; a failing check's findings are its <failure> text."""
    cases = []
    failures = skipped = 0
    for r in report.results:
        name = quoteattr(r.name)
        body = []
        failing = [f for f in r.findings if report.failing(f)]
        others = [f for f in r.findings if not report.failing(f)]
        if r.status == "skipped":
            skipped += 1
            body.append(f"<skipped message={quoteattr(r.summary or 'skipped')}/>")
        elif failing:
            failures += 1
            text = "\n".join(f"{f.file}:{f.line}: {f.rule} {f.message}" for f in failing)
            msg = f"{len(failing)} finding(s): " + "; ".join(f"{f.rule} {f.file}:{f.line}" for f in failing[:5])
            body.append(f'<failure type="saqmigrate.{r.name}" message={quoteattr(msg)}>{escape(text)}</failure>')
        out_lines = ([r.summary] if r.summary else []) + [
            f"{f.file}:{f.line}: {f.rule} ({f.severity}) {f.message}" for f in others
        ]
        if out_lines and r.status != "skipped":
            body.append(f"<system-out>{escape(chr(10).join(out_lines))}</system-out>")
        cases.append(
            f'    <testcase classname="saqmigrate.check" name={name} time="0">' + "".join(body) + "</testcase>"
        )
    head = (
        f'<testsuite name="saqmigrate check" tests="{len(report.results)}" failures="{failures}" '
        f'errors="0" skipped="{skipped}" time="{report.elapsed:.3f}">'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  '
        + head
        + "\n"
        + "\n".join(cases)
        + "\n  </testsuite>\n</testsuites>\n"
    )


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


GH_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def to_github(report: CheckReport) -> str:
    """GitHub Actions workflow commands: one annotation per finding, with file and line."""
    catalogue = rulebook.all_rules()
    lines = []
    for f in sorted(report.findings, key=lambda f: (SEV_RANK.get(f.severity, 3), f.file, f.line)):
        level = "error" if report.failing(f) else GH_LEVEL.get(f.severity, "notice")
        rule = catalogue.get(f.rule)
        title = f"{f.rule} {rule.name}" if rule else f.rule
        props = [f"file={_gh_prop(f.file)}"] if f.file else []
        props += [f"line={f.line}", f"col={f.column + 1}", f"title={_gh_prop(title)}"]
        lines.append(f"::{level} {','.join(props)}::{_gh_data(f.message)}")
    c = report.counts()
    state = "passed" if report.passed else "FAILED"
    lines.append(f"saqmigrate check {state}: {c['error']} error(s), {c['warning']} warning(s)")
    return "\n".join(lines) + "\n"


def render_human(report: CheckReport, console: Console, *, verbose: bool = False) -> None:
    from rich.table import Table

    from saqmigrate.emit.terminal import escape  # markup and control characters both escaped

    console.print(f"[bold]saqmigrate check[/bold] {escape(str(report.root))}")
    mark = {"pass": "[green]✓ pass[/]", "fail": "[red]✗ FAIL[/]", "skipped": "[dim]- skipped[/]"}
    for r in report.results:
        n = len(r.findings)
        extra = f" ({n} finding{'s' if n != 1 else ''})" if n else ""
        console.print(
            f"  {mark.get(r.status, r.status)}  [bold]{r.name:<9}[/] {escape(r.summary)}{extra}", highlight=False
        )
    shown = [f for f in report.findings if verbose or f.severity != "info"]
    if shown:
        t = Table(show_edge=False, show_header=True, pad_edge=False)
        t.add_column("rule", no_wrap=True)
        t.add_column("location", no_wrap=True)
        t.add_column("message", overflow="fold")
        for f in sorted(shown, key=lambda f: (SEV_RANK.get(f.severity, 3), f.file, f.line)):
            style = "red" if report.failing(f) else ("yellow" if f.severity == "warning" else "dim")
            t.add_row(f"[{style}]{f.rule}[/]", escape(f"{f.file}:{f.line}"), escape(f.message))
        console.print(t)
    c = report.counts()
    if report.results and all(r.status == "skipped" for r in report.results):
        console.print("[yellow]nothing checked[/]: every selected check was skipped (see the reasons above)")
    elif report.passed:
        console.print(f"[green]check passed[/] ({c['warning']} warning(s)) in {report.elapsed:.2f}s")
    else:
        console.print(
            f"[red]check failed[/]: {c['error']} error(s), {c['warning']} warning(s) in "
            f"{report.elapsed:.2f}s — each message says how to fix it; rules: docs/rules/"
        )


def render(report: CheckReport, fmt: str) -> str:
    return {"json": to_json, "sarif": to_sarif, "junit": to_junit, "github": to_github}[fmt](report)
