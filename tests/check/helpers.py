"""Copy the mid-migration fixture, mutate it, run `saqmigrate check` through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from saqmigrate.cli.main import cli

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "check_midmigration"
TODAY = "2026-12-01"  # inside the fixture's window (2026-11-16 + 60 days)


def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns(".saqmigrate_cache", "__pycache__"))
    return root


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def check(root: Path, *args: str) -> tuple[int, dict]:
    """exit code, parsed JSON report (empty dict on exit 2)."""
    res = invoke("check", root, "--format", "json", "--today", TODAY, *args)
    if res.exit_code == 2:
        return 2, {"stderr": res.output}
    return res.exit_code, json.loads(res.stdout)


def errors(report: dict, severity: str = "error") -> list[dict]:
    return [f for f in report.get("findings", []) if f["severity"] == severity]


def codes(report: dict) -> list[str]:
    return sorted(f["rule"] for f in report.get("findings", []))


def rewrite(root: Path) -> None:
    res = invoke("rewrite", root, "--write")
    assert res.exit_code == 0, res.output


def baseline_update(root: Path) -> str:
    res = invoke("baseline", root, "--update")
    assert res.exit_code == 0, res.output
    return res.output


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")
