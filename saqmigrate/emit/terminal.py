"""The default human report: totals, readiness per module, top blockers with file:line."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.table import Table

from saqmigrate.emit.generate import inert

from saqmigrate.index.model import ProjectIndex


def escape(text: object) -> str:
    """User text for the terminal: no rich markup, no control, bidi or line-break characters (a task name
    with a newline or U+202E cannot break the table or spoof a line)."""
    return _markup_escape(inert(text))


VERDICT_STYLE = {"auto": "green", "assisted": "yellow", "manual": "red"}
SEV_RANK = {"error": 0, "warning": 1, "info": 2}


def render(index: ProjectIndex, console: Console, *, top: int = 15, verbose: bool = False) -> None:
    s = index.summary
    console.print(f"[bold]saqmigrate scan[/bold] {escape(index.root)}")
    console.print(
        f"{index.files_scanned} Python files, {index.files_parsed} with Celery usage, "
        f"{len(index.apps)} Celery app(s), timezone {s.get('timezone') or 'UTC (default)'}"
    )
    totals = Table(title="Inventory", show_edge=False)
    for col in ("", "total", "auto", "assisted", "manual"):
        totals.add_column(col, justify="right" if col else "left")
    for key in ("tasks", "schedules", "calls"):
        c = s[key]
        totals.add_row(
            key, str(c["total"]), f"[green]{c['auto']}[/]", f"[yellow]{c['assisted']}[/]", f"[red]{c['manual']}[/]"
        )
    console.print(totals)

    mods = sorted(s["modules"], key=lambda m: (m["ready"], -m["total"]))
    if mods:
        t = Table(title="Readiness per module (least ready first)", show_edge=False)
        shown = mods if verbose else mods[:top]
        for col in ("file", "items", "auto", "assisted", "manual", "ready"):
            t.add_column(
                col,
                justify="left" if col == "file" else "right",
                no_wrap=True,
                min_width=max(len(m["file"]) for m in shown) if col == "file" else None,
            )  # never cut
        for m in shown:
            t.add_row(
                escape(m["file"]),
                str(m["total"]),
                str(m["auto"]),
                str(m["assisted"]),
                str(m["manual"]),
                f"{m['ready']:.0f}%",
            )
        console.print(t)
        if len(mods) > len(shown):
            console.print(f"  … {len(mods) - len(shown)} more modules (use --verbose or --format markdown)")

    # -v lists every finding, info included (scan -v used to change only the module list)
    shown_severities = ("error", "warning", "info") if verbose else ("error", "warning")
    blockers = [f for f in index.findings if f.severity in shown_severities]
    blockers.sort(key=lambda f: (SEV_RANK[f.severity], f.file, f.line))
    if blockers:
        title = (
            f"Findings ({len(blockers)}: errors, warnings and info)"
            if verbose
            else f"Top blockers ({len(blockers)} errors/warnings)"
        )
        t = Table(title=title, show_edge=False)
        t.add_column("rule", no_wrap=True)
        shown_b = blockers if verbose else blockers[:top]
        t.add_column(
            "location",
            no_wrap=True,  # file:line stays whole on one line: the message wraps instead
            min_width=max(len(f"{f.file}:{f.line}") for f in shown_b),
        )
        t.add_column("message", overflow="fold")
        for f in blockers if verbose else blockers[:top]:
            style = {"error": "red", "warning": "yellow"}.get(f.severity, "dim")
            t.add_row(f"[{style}]{f.rule}[/]", escape(f"{f.file}:{f.line}"), escape(f.message))
        console.print(t)
    native = getattr(index, "native", None) or {}
    if native.get("tasks"):  # rewrite --mode native's verdict per task (docs/native.md)
        c = native["summary"]
        t = Table(
            title=f"Native mode (rewrite --mode native): {c['ported']} ported, {c['partly']} partly ported, "
            f"{c['bridged']} bridged",
            show_edge=False,
        )
        t.add_column("task")
        t.add_column("verdict")
        t.add_column("why: the first blocking call and its chain, or what is rewritten", overflow="fold")
        rows = sorted(
            native["tasks"],
            key=lambda r: ({"bridged": 0, "partly": 1, "ported": 2}[r["verdict"]], r["file"], r["line"]),
        )
        for r in rows if verbose else rows[:top]:
            b = r["blocking"]
            chain = b["chain"][1:] if b and b["chain"][:1] == [r["task"]] else (b["chain"] if b else [])
            why = (
                (" → ".join([*chain, b["call"]]) + f" ({b['why']}; {b['where']})")
                if b
                else (r["reason"] or ", ".join(r["rewrites"]) or "pure code")
            )
            style = {"ported": "green", "partly": "yellow", "bridged": "dim"}[r["verdict"]]
            t.add_row(escape(r["task"]), f"[{style}]{r['verdict']}[/]", escape(why))
        console.print(t)
        if len(rows) > top and not verbose:
            console.print(f"  … {len(rows) - top} more tasks (use --verbose or --format json)")
    if index.errors:
        console.print(f"[red]{len(index.errors)} file(s) not indexed:[/]")
        for e in index.errors[: (None if verbose else top)]:
            console.print(f"  {escape(e.file)}: {escape(e.message)}")
    info = s["findings"]["info"]
    console.print(
        f"{_count(s['findings']['total'], 'finding')} ({_count(s['findings']['error'], 'error')}, "
        f"{_count(s['findings']['warning'], 'warning')}, {info} info). "
        "Details: saqmigrate scan --format json|markdown|sarif; rules: docs/rules/."
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
