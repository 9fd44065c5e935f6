"""Native mode on the real-world corpus (issue 13): `rewrite --mode native` never crashes, and the verdicts
(ported / partly ported / bridged) are the ones recorded in native/rates.json (counts only; docs/native.md
has the table). The trees are fetched into /tmp/realworld/<name> (README.md); absent ones are skipped.

A change of the prover that moves a count is a change of behaviour: update native/rates.json on purpose
(python tests/realworld/test_native_rates.py --record) and say why in the commit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import missing

HERE = Path(__file__).resolve().parent
CORPUS = Path("/tmp/realworld")
RATES = HERE / "native" / "rates.json"


def _recorded() -> dict:
    return json.loads(RATES.read_text(encoding="utf-8"))["projects"]


def measure(name: str) -> dict:
    from saqmigrate.config import Config
    from saqmigrate.rewrite import compute_changes
    from saqmigrate.scan import run_scan

    root = CORPUS / name
    index, _ = run_scan(root, Config(), use_cache=False)
    result = compute_changes(root, Config(), mode="native", index=index)
    lines = result.messages
    rewrite = {
        "ported": sum(1 for m in lines if m.startswith("native ") and ": ported" in m),
        "partly": sum(1 for m in lines if m.startswith("SM130 ")),
        "bridged": sum(1 for m in lines if m.startswith("SM113 ")),
    }
    failed = [m for m in lines if "porter failed" in m or "prover failed" in m]
    failed += [r["reason"] for r in index.native["tasks"] if "prover failed" in r["reason"]]
    return {"scan": index.native["summary"], "rewrite": rewrite, "failures": failed}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_recorded()))
def test_native_mode_on_real_projects(name: str) -> None:

    if not (CORPUS / name).is_dir():
        missing(f"/tmp/realworld/{name} absent; see tests/realworld/README.md to fetch it", "SAQMIGRATE_REQUIRE_CORPUS")
    expected = _recorded()[name]
    got = measure(name)  # an exception here is a crash: the acceptance says 0
    assert got["failures"] == []
    assert got["scan"] == expected["scan"], (name, got["scan"])
    assert got["rewrite"] == expected["rewrite"], (name, got["rewrite"])


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    data = json.loads(RATES.read_text(encoding="utf-8"))
    for project in sorted(data["projects"]):
        if (CORPUS / project).is_dir():
            got = measure(project)
            assert not got["failures"], got["failures"]
            data["projects"][project].update(scan=got["scan"], rewrite=got["rewrite"])
            print(project, got["scan"], got["rewrite"])
    RATES.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
