"""Machine formats of `saqmigrate check`: SARIF 2.1.0 (validated against the OASIS schema),
JUnit XML, GitHub workflow annotations, JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from tests.check.helpers import edit, invoke, line_of, project

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture
def failing(tmp_path):
    """Three different failures: a new task (ratchet), an edited beat entry (drift), an expired window."""
    root = project(tmp_path)
    tasks = root / "shop/orders/tasks.py"
    tasks.write_text(tasks.read_text() + "\n\n@shared_task\ndef refund(order_id):\n    return order_id\n")
    edit(root / "shop/celery.py", "crontab(minute=0, hour=3)", "crontab(minute=15, hour=3)")
    return root


def test_sarif_validates_against_the_2_1_0_schema(failing, tmp_path):
    out = tmp_path / "check.sarif"
    res = invoke("check", failing, "--format", "sarif", "--output", out, "--today", "2027-02-01")
    assert res.exit_code == 1
    doc = json.loads(out.read_text())
    jsonschema.Draft4Validator(SCHEMA).validate(doc)  # raises with the failing path on any violation
    results = doc["runs"][0]["results"]
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert sorted(r["ruleId"] for r in results) == ["SM600", "SM616", "SM640"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] == "error"
        loc = r["locations"][0]["physicalLocation"]
        assert loc["region"]["startLine"] >= 1 and not loc["artifactLocation"]["uri"].startswith("/")
    by = {r["ruleId"]: r["locations"][0]["physicalLocation"] for r in results}
    assert by["SM616"]["artifactLocation"]["uri"] == "shop/celery.py"
    assert by["SM616"]["region"]["startLine"] == line_of(failing / "shop/celery.py", '"nightly-report"')


def test_sarif_of_a_passing_run_validates_too(tmp_path):
    root = project(tmp_path)
    res = invoke("check", root, "--format", "sarif", "--today", "2026-12-01")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    assert doc["runs"][0]["results"] == []


def test_schema_rejects_a_broken_document():
    """The validation above can fail: a result without a message is refused."""
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "SM600"}]}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(bad)


def test_junit(failing):
    res = invoke("check", failing, "--format", "junit", "--today", "2026-12-01")
    assert res.exit_code == 1
    root = ET.fromstring(res.stdout)
    suite = root.find("testsuite")
    assert (
        suite.get("tests") == "6" and suite.get("failures") == "2" and suite.get("skipped") == "2"
    )  # finalized: skipped
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"ratchet", "drift", "schedules", "routing", "window", "finalized"}
    assert "SM600" in cases["ratchet"].find("failure").text
    assert "shop/celery.py" in cases["drift"].find("failure").text
    assert cases["schedules"].find("failure") is None
    assert cases["routing"].find("skipped") is not None


def test_github_annotations(failing):
    res = invoke("check", failing, "--format", "github", "--today", "2027-02-01")
    assert res.exit_code == 1
    lines = res.stdout.splitlines()
    ann = [ln for ln in lines if ln.startswith("::")]
    assert len(ann) == 3
    celery_line = line_of(failing / "shop/celery.py", '"nightly-report"')
    drift = next(a for a in ann if "SM616" in a)
    assert drift.startswith(f"::error file=shop/celery.py,line={celery_line},col=1,title=SM616 cron-job-outdated::")
    assert "\n" not in drift and "%0A" not in drift
    assert lines[-1].startswith("saqmigrate check FAILED: 3 error(s)")


def test_github_escapes_properties_and_data():
    from saqmigrate.check import CheckReport, CheckResult
    from saqmigrate.emit.ci_formats import to_github
    from saqmigrate.index.model import Finding

    f = Finding("SM610", "error", "a,b:c.py", 3, 0, "100% wrong\nsecond line")
    text = to_github(CheckReport("/x", [CheckResult("drift", "fail", "", [f])]))
    assert (
        text.splitlines()[0]
        == "::error file=a%2Cb%3Ac.py,line=3,col=1,title=SM610 generated-code-drift::100%25 wrong%0Asecond line"
    )


def test_json_contract(failing):
    res = invoke("check", failing, "--format", "json", "--today", "2026-12-01")
    doc = json.loads(res.stdout)
    assert doc["schema"] == "saqmigrate.check/1" and doc["passed"] is False and doc["exit_code"] == 1
    assert doc["counts"]["error"] == 2
    assert {f["check"] for f in doc["findings"]} == {"ratchet", "drift"}
    assert set(doc["findings"][0]) >= {"check", "rule", "severity", "file", "line", "column", "message", "subject"}
