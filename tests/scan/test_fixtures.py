"""Each bundled fixture's scan result is checked in (tests/scan/expected/<fixture>.json).

The expected files are reviewed in diffs: regenerate them on purpose with
``SAQMIGRATE_REGEN=1 python -m pytest tests/scan/test_fixtures.py`` and read the diff.
fixtures/hard/EXPECTED.md is the human-written ground truth they were checked against.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.scan import run_scan

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).resolve().parent / "expected"
FIXTURES = ["pydotorg", "hard", "flask_app", "retries"]


def project(index) -> dict:
    """The parts of a scan a reviewer checks against the fixture's ground truth."""
    return {
        "tasks": [[t.name, t.file, t.line, t.kind, t.bind, t.migratability, sorted(t.rules)] for t in index.tasks],
        "schedules": [
            [s.entry, s.task, s.file, s.line, s.kind, s.cron, s.exact, s.migratability, sorted(s.rules)]
            for s in index.schedules
        ],
        "calls": [[c.kind, c.file, c.line, c.task, c.on_commit, c.migratability, sorted(c.rules)] for c in index.calls],
        "errors": [[e.file, e.message] for e in index.errors],
        "apps": [[a.name, a.file, a.line, a.kind] for a in index.apps],
    }


def _dump(data: dict) -> str:
    """One item per line, so a changed finding is a one-line diff."""
    parts = []
    for key, items in data.items():
        body = ",\n".join("  " + json.dumps(item, ensure_ascii=False) for item in items)
        parts.append(f' "{key}": [\n{body}\n ]' if items else f' "{key}": []')
    return "{\n" + ",\n".join(parts) + "\n}\n"


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_scan_matches_checked_in_result(name: str) -> None:
    index, _ = run_scan(ROOT / "fixtures" / name, Config(), use_cache=False)
    got = json.loads(json.dumps(project(index), default=str))
    path = EXPECTED / f"{name}.json"
    if os.environ.get("SAQMIGRATE_REGEN"):
        path.write_text(_dump(got), encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    for key in expected:
        assert got[key] == expected[key], f"{name}: {key} differ (regenerate with SAQMIGRATE_REGEN=1 and review)"


def test_hard_fixture_names_match_celery_ground_truth() -> None:
    """Task names that Celery 5.7 itself registered for fixtures/hard (EXPECTED.md)."""
    index, _ = run_scan(ROOT / "fixtures" / "hard", Config(), use_cache=False)
    names = {t.name for t in index.tasks}
    for expected in (
        "proj.aliases.plain_fn",
        "x.send",
        "legacy.multiply",
        "legacy.heartbeat",
        "proj.images.resize",
        "proj.classes.notify",
        "factory.ping",
        "proj.factory.echo",
        "proj.mail.tasks.send_welcome",
        "proj.py312.pick_first",
        "proj.py314.parse_amount",
        "proj.latin1_tasks.envoyer_résumé",
    ):
        assert expected in names
    assert not {"my_task", "proj.aliases.my_task", "proj.base.BaseTask", "proj.classes.UnregisteredHelper"} & names
    assert {e.file for e in index.errors} == {"proj/broken.py", "proj/py2_legacy.py"}
