"""`rewrite --live`: Celery's run-time values where the static scan could only flag; afterwards
`verify` exits 0, plain `rewrite`/`check` reproduce the same code, and another environment is caught."""

from __future__ import annotations

from pathlib import Path

from tests.verify.test_verify import by, rewritten, saqmigrate, verify_json


def test_live_rewrite_resolves_router_functions_env_defaults_and_loop_built_entries(tmp_path: Path) -> None:
    root = rewritten("verify_settings", tmp_path)
    code, doc = verify_json(root, "proj.celery")
    assert code == 1 and {d["code"] for d in doc["differences"]} >= {"SM700", "SM707"}

    proc = saqmigrate("rewrite", str(root), "--write", "--live", "--app", "proj.celery", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "--live: run-time values used for" in proc.stderr
    code, doc = verify_json(root, "proj.celery")
    assert code == 0, doc["differences"]

    twins = (root / "proj" / "tasks_saq.py").read_text(encoding="utf-8")
    assert "# resolved at run time by `saqmigrate rewrite --live` (that environment): queue='work'" in twins
    reports = (root / "proj" / "saq_worker" / "queue_reports.py").read_text(encoding="utf-8")
    assert "[resolved at run time: rewrite --live]" in reports and 'cron="0 1 * * *"' in reports
    work = (root / "proj" / "saq_worker" / "queue_work.py").read_text(encoding="utf-8")
    for minutes in (5, 10, 30):
        assert f'"poll-every-{minutes}"' in work  # the loop-built entries have their jobs
    assert (root / "proj" / "saq_worker" / "live_facts.py").is_file()

    # plain rewrite and check reuse the recorded facts: no drift
    assert saqmigrate("rewrite", str(root), "--check", cwd=root).returncode == 0
    # another environment is another truth: verify says so
    code, doc = verify_json(root, "proj.celery", {"EXPORT_HOUR": "5"})
    assert code == 1 and ("SM710", "nightly-export", "schedule") in by(doc)


def test_live_needs_an_app_and_a_broken_app_writes_nothing(tmp_path: Path) -> None:
    root = rewritten("verify_settings", tmp_path)
    proc = saqmigrate("rewrite", str(root), "--write", "--live", cwd=root)
    assert proc.returncode == 2 and "--live needs --app" in proc.stderr
    before = {p: p.read_bytes() for p in root.rglob("*.py")}
    proc = saqmigrate("rewrite", str(root), "--write", "--live", "--app", "proj.nothere", cwd=root)
    assert proc.returncode == 2 and "could not import the app" in proc.stderr
    assert {p: p.read_bytes() for p in root.rglob("*.py")} == before
