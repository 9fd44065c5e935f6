"""The CI packaging: the pre-commit hook and the documented GitHub Actions job are well-formed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from saqmigrate import rules as rulebook

ROOT = Path(__file__).resolve().parents[2]
yaml = pytest.importorskip("yaml")


def test_pre_commit_hook():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "saqmigrate-check"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert hook["entry"].split()[0] in scripts and hook["entry"].split()[1] == "check"
    assert hook["pass_filenames"] is False and hook["language"] == "python"


def test_ci_doc_has_a_valid_actions_job_and_covers_every_check_rule():
    text = (ROOT / "docs/ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    jobs = [yaml.safe_load(b) for b in blocks if "jobs:" in b]
    assert jobs, "docs/ci.md must document a GitHub Actions job"
    steps = jobs[0]["jobs"]["saqmigrate-check"]["steps"]
    assert any("saqmigrate check" in str(s.get("run", "")) for s in steps)
    for code in (c for c in rulebook.all_rules() if c.startswith("SM6")):
        assert code in text, f"{code} is not documented in docs/ci.md"
    for exit_code in ("| 0 |", "| 1 |", "| 2 |"):
        assert exit_code in text
