"""CLI habits shared by every command (issue 15): --color and NO_COLOR, --format spellings,
ISO times in `route history`, and the analyzer commands naming the `cli` extra."""

from __future__ import annotations

import json
import re

import click
import pytest
from click.testing import CliRunner

from saqmigrate.cli.common import format_option
from saqmigrate.cli.main import cli

ANSI = "\x1b["


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_color_never_always_and_no_color(fixtures_dir):
    project = str(fixtures_dir / "hard")
    plain = invoke("--color", "never", "scan", project, "--no-cache")
    assert plain.exit_code == 0 and ANSI not in plain.output
    forced = invoke("--color", "always", "scan", project, "--no-cache")
    assert forced.exit_code == 0 and ANSI in forced.output  # even when piped (CliRunner is no terminal)
    assert ANSI in invoke("--color", "always", "scan", project, "--no-cache", env={"NO_COLOR": "1"}).output  # flag wins
    no_color = invoke("scan", project, "--no-cache", env={"NO_COLOR": "1", "FORCE_COLOR": ""})
    assert no_color.exit_code == 0 and ANSI not in no_color.output


def test_color_choice_is_validated():
    out = CliRunner().invoke(cli, ["--color", "sometimes", "rule", "--all"])
    assert out.exit_code == 2 and "sometimes" in out.output


def test_format_text_everywhere_and_old_spellings_kept(fixtures_dir, tmp_path):
    for command in ("scan", "check", "schedules", "rule", "verify", "demo"):
        help_text = invoke(command, "--help").output
        assert re.search(r"--format \[text\|", help_text), command
    for group, sub in (("dlq", "list"), ("route", "history")):
        assert "text" in invoke(group, sub, "--help").output
    project = str(fixtures_dir / "pydotorg")
    text = invoke("check", project, "--only", "window", "--format", "text")
    human = invoke("check", project, "--only", "window", "--format", "human")
    assert (text.exit_code, text.output) == (human.exit_code, human.output)


def test_format_option_maps_aliases_to_the_canonical_name():
    @click.command()
    @format_option("text", "json", aliases=("table", "human"))
    def show(fmt: str) -> None:
        click.echo(fmt)

    runner = CliRunner()
    assert [runner.invoke(show, args).output.strip() for args in ([], ["--format", "table"], ["--format", "human"],
                                                                  ["--format", "json"])] == ["text"] * 3 + ["json"]
    assert "table = text" in runner.invoke(show, ["--help"]).output


def test_scan_verbose_lists_every_module(fixtures_dir):
    project = str(fixtures_dir / "hard")
    short = invoke("scan", project, "--no-cache").output
    full = invoke("scan", project, "--no-cache", "-v").output
    assert "more modules (use --verbose" in short and "more modules" not in full
    assert len(full.splitlines()) > len(short.splitlines())


def test_route_history_prints_iso_times(redis_url, unique_name):
    base = ["route", "--redis-url", redis_url, "--namespace", unique_name]
    assert invoke(*base, "kill", "--reason", "drill").exit_code == 0
    text = invoke(*base, "history")
    assert text.exit_code == 0
    assert re.search(r"^v\d+  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  ", text.output, re.M), text.output
    [entry] = json.loads(invoke(*base, "history", "--format", "json").output)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"]) and float(entry["ts"]) > 0
    assert json.loads(invoke(*base[:1], "--format", "json", *base[1:], "history").output) == [entry]


@pytest.mark.parametrize("args", [["--color", "never", "rule", "SM101"], ["rule", "SM101", "--format", "text"]])
def test_rule_works_with_the_shared_options(args):
    out = invoke(*args)
    assert out.exit_code == 0 and out.output.startswith("# SM101")


def test_piped_reports_never_cut_paths(tmp_path):
    """Piped into a CI log (not a terminal), a long path and its line number arrive whole (issue 15)."""
    import subprocess
    import sys

    deep = tmp_path / "a_rather_long_package_name" / "with_a_nested_module_folder" / "and_more"
    deep.mkdir(parents=True)
    (deep / "tasks_for_the_reporting_pipeline.py").write_text(
        "from celery import shared_task\n\n\n@shared_task(soft_time_limit=3)\ndef t():\n    return 1\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}
    proc = subprocess.run([sys.executable, "-m", "saqmigrate", "scan", str(tmp_path)], capture_output=True, text=True,
                          env=env, timeout=120)
    rel = "a_rather_long_package_name/with_a_nested_module_folder/and_more/tasks_for_the_reporting_pipeline.py"
    assert f"{rel}:4" in proc.stdout, proc.stdout


def test_route_subcommands_take_format_where_users_put_it(redis_url):
    """`route show --format json` works like `route --format json show` (issue 15)."""
    import json

    from click.testing import CliRunner

    from saqmigrate.cli.commands.route import command

    after = CliRunner().invoke(command, ["--redis-url", redis_url, "--namespace", "fmt-test", "show", "--format", "json"])
    before = CliRunner().invoke(command, ["--redis-url", redis_url, "--namespace", "fmt-test", "--format", "json", "show"])
    assert after.exit_code == 0 and before.exit_code == 0, after.output
    assert json.loads(after.output) == json.loads(before.output)
