"""Scan real open-source Celery projects against hand-counted ground truth.

The projects are not in the repository (never commit fetched code): tests/realworld/README.md
says how to fetch each into /tmp/realworld/<name>. Absent trees are skipped, so CI stays green
on a fresh machine; on a machine that has them this is the 98%-recall acceptance check.
"""

from __future__ import annotations


import pytest

from tests.conftest import missing

from tests.realworld.compare import CORPUS, HERE, compare

NAMES = sorted(p.stem for p in HERE.glob("*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_recall_and_precision_on_real_projects(name: str) -> None:
    if not (CORPUS / name).is_dir():
        missing(f"/tmp/realworld/{name} absent; see tests/realworld/README.md to fetch it", "SAQMIGRATE_REQUIRE_CORPUS")
    r = compare(name)
    for kind in ("tasks", "schedules", "calls"):
        found, true = r[kind]
        assert true == 0 or found / true >= 0.98, (kind, r[f"missed_{kind}"][:10])
    assert r["extra_tasks"] == [], "reported a task that is not one"
