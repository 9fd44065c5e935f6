"""``saqmigrate rule SMxxx``: a rule's explanation, like ``ruff rule`` (TODOs in generated code point here)."""

from __future__ import annotations

import json
import textwrap

import click

from saqmigrate.cli.common import die, format_option


@click.command("rule", short_help="Explain a rule code (e.g. SM115): what it means, why, before/after.")
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every rule (code, name, summary).")
@format_option("text", "json")
def command(code: str | None, show_all: bool, fmt: str) -> None:
    """Explain rule CODE (e.g. SM115): what it means, why, and a before/after example."""
    from saqmigrate import rules as rulebook

    if show_all or not code:
        rules = rulebook.all_rules().values()
        if fmt == "json":
            click.echo(
                json.dumps(
                    [
                        {"code": r.code, "name": r.name, "severity": r.severity, "summary": r.summary}
                        for r in sorted(rules, key=lambda r: r.code)
                    ],
                    indent=2,
                )
            )
        else:
            for r in sorted(rules, key=lambda r: r.code):
                click.echo(f"{r.code}  {r.name:<40} {r.summary}")
        return
    try:
        rule = rulebook.get(code.strip().upper())
    except rulebook.RuleError:
        die(f"no rule {code!r} (saqmigrate rule --all lists them)")
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "code": rule.code,
                    "name": rule.name,
                    "severity": rule.severity,
                    "fix": rule.fix,
                    "verdict": rule.verdict,
                    "summary": rule.summary,
                    "rationale": " ".join(rule.rationale.split()),
                    "before": rule.before,
                    "after": rule.after,
                },
                indent=2,
            )
        )
        return
    click.echo(f"# {rule.code} {rule.name} ({rule.severity}, {rule.verdict})\n")
    click.echo(textwrap.fill(rule.summary, 88) + "\n")
    click.echo(textwrap.fill(" ".join(rule.rationale.replace("\\\n", " ").split()), 88))
    if rule.before:
        click.echo("\n## Before\n")
        click.echo(textwrap.indent(rule.before.strip("\n"), "    "))
    if rule.after:
        click.echo("\n## After\n")
        click.echo(textwrap.indent(rule.after.strip("\n"), "    "))
