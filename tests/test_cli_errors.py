"""One error type, reported in one place: every SaqmigrateError a command raises ends as one line
``saqmigrate: error: ...`` and the error's exit code, whichever command and whether the command runs
under the root group or its own group (route, dlq)."""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

import saqmigrate
from saqmigrate.cli.common import SaqmigrateGroup, die
from saqmigrate.cli.main import cli
from saqmigrate.errors import EXIT_FINDINGS, EXIT_USAGE, SaqmigrateError

PKG = Path(saqmigrate.__file__).resolve().parent


def test_error_is_one_line_with_its_exit_code():
    @click.group(cls=SaqmigrateGroup)
    def root() -> None:
        pass

    @root.command()
    def usage() -> None:
        die("pyproject.toml: bad value for window_start (give a date like 2027-01-31)")

    @root.command()
    def partial() -> None:
        raise SaqmigrateError("2 entries could not be requeued", EXIT_FINDINGS)

    res = CliRunner().invoke(root, ["usage"])
    assert res.exit_code == EXIT_USAGE
    assert res.output == "saqmigrate: error: pyproject.toml: bad value for window_start (give a date like 2027-01-31)\n"
    res = CliRunner().invoke(root, ["partial"])
    assert (res.exit_code, res.output) == (EXIT_FINDINGS, "saqmigrate: error: 2 entries could not be requeued\n")


def test_config_error_through_the_entry_point(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.saqmigrate]\nexclude = 3\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["scan", str(tmp_path)])
    assert res.exit_code == EXIT_USAGE, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("saqmigrate: error: ") and "exclude" in lines[0], res.output


def test_exit_codes_are_defined_once():
    """EXIT_* = <int> appears in saqmigrate/errors.py only."""
    defined = [
        (p.relative_to(PKG).as_posix(), m.group(0))
        for p in PKG.rglob("*.py")
        for m in re.finditer(r"^EXIT_\w+\s*(?:,\s*EXIT_\w+\s*)*=\s*\d", p.read_text(encoding="utf-8"), re.M)
    ]
    assert {f for f, _ in defined} == {"errors.py"}, defined


def test_cli_prints_no_error_line_by_hand():
    """Commands raise (die / SaqmigrateError); only the handler writes 'saqmigrate: error:', except the
    per-item lines that precede a final error (rewrite/finalize list every problem, then stop)."""
    allowed = {"common.py"}
    offenders = []
    for p in (PKG / "cli").rglob("*.py"):
        for m in re.finditer(
            r"click\.echo\(f?\"saqmigrate: error: [^\"]*\",\s*err=True\)\s*\n\s*(sys\.exit|ctx\.exit|raise SystemExit)",
            p.read_text(encoding="utf-8"),
        ):
            if p.name not in allowed:
                offenders.append(f"{p.relative_to(PKG)}: {m.group(0)[:60]}")
    assert not offenders, offenders


def _entry_point(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    """The installed entry point (saqmigrate.cli.main:main), as a shell runs it."""
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "saqmigrate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_click_usage_errors_have_the_same_one_line_form(tmp_path: Path):
    """A bad option value, an unknown option or command, a missing argument: click's three-line
    `Usage: ... Error:` block became one `saqmigrate: error:` line with where to look (attack 41 #7)."""
    cases = [
        (["scan", str(tmp_path), "--format", "xml"], "Invalid value for '--format'", "saqmigrate scan --help"),
        (["scan", str(tmp_path), "--no-such-flag"], "--no-such-flag", "saqmigrate scan --help"),
        (["no-such-command"], "No such command 'no-such-command'", "saqmigrate --help"),
        (["route", "set", "x", "celery"], "Missing option '--reason'", "saqmigrate route set --help"),
    ]
    for args, what, where in cases:
        code, out, err = _entry_point(*args)
        assert code == EXIT_USAGE, (args, err)
        assert out == "" and err.count("\n") == 1 and err.startswith("saqmigrate: error: "), (args, err)
        assert what in err and f"(see `{where}`)" in err, (args, err)


def test_a_redis_that_answers_with_an_error_is_one_line(redis_url: str):
    """A database index out of range (or a refused AUTH) is an answer, not an outage: one line that says
    so, for the flag store and for SAQ's Redis (dlq), never a traceback (attack 41 #6)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(redis_url)
    bad = urlunsplit((parts.scheme, parts.netloc, "/99", "", ""))
    code, _, err = _entry_point("dlq", "list", env={"SAQ_REDIS_URL": bad, "REDIS_URL": bad})
    assert code == EXIT_USAGE and err.count("\n") == 1, err
    assert err.startswith("saqmigrate: error: Redis answered with an error: DB index is out of range"), err
    code, _, err = _entry_point("route", "--redis-url", bad, "show")
    assert code == EXIT_USAGE and err.count("\n") == 1, err
    assert "answered with an error: DB index is out of range" in err and "does not answer" not in err, err


def test_scan_output_file_takes_its_format_from_the_suffix(tmp_path: Path, fixtures_dir: Path) -> None:
    """``scan -o report.json`` wrote the text report into a .json file; the suffix now names the format
    (.json, .md, .sarif) unless ``--format`` is given."""
    import json

    project = fixtures_dir / "flask_app"
    runner = CliRunner()
    assert runner.invoke(cli, ["scan", str(project), "-o", str(tmp_path / "r.json"), "--no-cache"]).exit_code == 0
    assert json.loads((tmp_path / "r.json").read_text())["schema"].startswith("saqmigrate.scan/")
    assert runner.invoke(cli, ["scan", str(project), "-o", str(tmp_path / "r.sarif"), "--no-cache"]).exit_code == 0
    assert json.loads((tmp_path / "r.sarif").read_text())["version"] == "2.1.0"
    explicit = ["scan", str(project), "-o", str(tmp_path / "t.json"), "--format", "text", "--no-cache"]
    assert runner.invoke(cli, explicit).exit_code == 0
    assert (tmp_path / "t.json").read_text().startswith("saqmigrate scan")
