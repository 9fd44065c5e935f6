"""saqmigrate verify on the verify_* fixtures: each is copied to tmp_path, rewritten with
`saqmigrate rewrite --write`, then verified against the app imported in a child process.

Every test here spawns child processes (rewrite in-process, verify's probe as a child); each
takes well under a second, so none is marked slow.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from saqmigrate.cli.main import main as cli_main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def saqmigrate(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    full_env = dict(os.environ)
    for key in ("PROJ_DEFAULT_QUEUE", "EXPORT_HOUR", "DJANGO_SETTINGS_MODULE"):
        full_env.pop(key, None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "saqmigrate", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def rewritten(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    with pytest.raises(SystemExit) as exc:
        cli_main(["rewrite", str(root), "--write"])
    assert exc.value.code == 0
    return root


def verify_json(root: Path, app: str, env: dict | None = None, *extra: str) -> tuple[int, dict]:
    proc = saqmigrate("verify", str(root), "--app", app, "--format", "json", *extra, cwd=root, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "saqmigrate.verify/1"
    return proc.returncode, doc


def by(doc: dict) -> dict[tuple[str, str, str], dict]:
    return {(d["code"], d["subject"], d["field"]): d for d in doc["differences"]}


# ------------------------------------------------------------------ all equal, then seeded errors


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return rewritten("verify_clean", tmp_path)


def test_clean_fixture_is_all_equal(clean: Path):
    proc = saqmigrate("verify", ".", "--app", "shop.celery", cwd=clean)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 tasks, 3 beat entries compared: all equal" in proc.stdout
    assert proc.stderr == ""


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_seeded_wrong_queue_in_registry_is_reported(clean: Path):
    registry = clean / "shop/saq_worker/registry.py"
    text = registry.read_text()
    text = re.sub(r'("shop\.tasks\.refund": \{.*?"queue": )"default"', r'\1"slow"', text, count=1, flags=re.S)
    registry.write_text(text)
    code, doc = verify_json(clean, "shop.celery")
    assert code == 1
    d = by(doc)[("SM702", "shop.tasks.refund", "queue")]
    assert (d["celery"], d["generated"]) == ("default", "slow")
    assert d["file"] == "shop/tasks.py" and d["line"] == 21  # the task's definition, from the scan
    assert d["generated_file"] == "shop/saq_worker/registry.py"
    assert len(doc["differences"]) == 1


def test_seeded_wrong_retry_count_is_reported(clean: Path):
    registry = clean / "shop/saq_worker/registry.py"
    _edit(
        registry, '"retries": 6,\n            "retry_backoff": 120', '"retries": 3,\n            "retry_backoff": 120'
    )
    code, doc = verify_json(clean, "shop.celery")
    assert code == 1
    d = by(doc)[("SM704", "shop.tasks.sync_stock", "job.retries")]
    assert (d["celery"], d["generated"]) == (6, 3)
    assert d["file"] == "shop/tasks.py"


def test_seeded_wrong_twin_option_is_reported(clean: Path):
    _edit(clean / "shop/tasks_saq.py", "TaskOptions(retries=3, retry_delay=30", "TaskOptions(retries=2, retry_delay=30")
    code, doc = verify_json(clean, "shop.celery")
    assert code == 1
    d = by(doc)[("SM704", "shop.tasks.refund", "TaskOptions.retries")]
    assert (d["celery"], d["generated"]) == (3, 2)
    assert d["generated_file"] == "shop/tasks_saq.py"


def test_seeded_wrong_cron_string_is_reported(clean: Path):
    _edit(clean / "shop/saq_worker/queue_default.py", 'cron="30 4 * * *"', 'cron="30 5 * * *"')
    code, doc = verify_json(clean, "shop.celery")
    assert code == 1
    d = by(doc)[("SM710", "nightly-report", "schedule")]
    assert d["generated"] == "30 5 * * *" and d["celery"] == "crontab(minute=30, hour=4)"
    assert "first differences" in d["message"] and "Europe/Berlin" in d["message"]
    assert d["file"] == "shop/celery.py"


def test_seeded_wrong_beat_kwargs_and_timezone_are_reported(clean: Path):
    queue = clean / "shop/saq_worker/queue_default.py"
    _edit(queue, '{"batch_size": 10}', '{"batch_size": 100}')
    _edit(queue, '    cron_tz="Europe/Berlin",\n', '    cron_tz="UTC",\n')
    code, doc = verify_json(clean, "shop.celery")
    d = by(doc)
    assert d[("SM711", "sync-stock", "kwargs")]["celery"] == {"batch_size": 10}
    assert d[("SM711", "sync-stock", "kwargs")]["generated"] == {"batch_size": 100}
    assert d[("SM712", "timezone", "timezone")]["celery"] == "Europe/Berlin"


def test_accepted_schedule_difference_is_reported_but_not_counted(clean: Path):
    _edit(clean / "shop/saq_worker/queue_default.py", 'cron="30 4 * * *"', 'cron="30 5 * * *"')
    (clean / "pyproject.toml").write_text('[tool.saqmigrate.accept]\n"nightly-report" = "an hour later is fine"\n')
    code, doc = verify_json(clean, "shop.celery")
    assert code == 0 and doc["equal"] is True
    assert doc["summary"]["accepted"] == 1
    assert doc["differences"][0]["accepted"] == "an hour later is fine"


# ------------------------------------------------------------------ run-time-only truths


def generated(root: Path):
    from saqmigrate.verify.generated import find_registry, read_generated

    return read_generated(root, find_registry(root, None))


def assert_queue_reported(doc: dict, gen, name: str, celery_queue: str, kind: str = "task") -> None:
    """What verify must say about a task (or entry) Celery sends to ``celery_queue``, whatever the
    static rewrite made of it: a wrong queue (SM702), no twin at all (SM700/SM707), or nothing when equal."""
    d = by(doc)
    table = gen.tasks if kind == "task" else gen.schedules
    if name in table:
        got = table[name].queue if kind == "task" else table[name].get("queue")
        if got == celery_queue:
            assert not [k for k in d if k[0] == "SM702" and k[1] == name]
        else:
            f = d[("SM702", name, "queue")]
            assert (f["celery"], f["generated"]) == (celery_queue, got)
    elif kind == "task":
        f = d[("SM700", name, "task")]
        assert f"dispatched to queue {celery_queue!r}" in f["message"]
    else:
        assert ("SM707", name, "entry") in d


def test_settings_and_environment_queues_router_function_and_built_entries(tmp_path: Path):
    root = rewritten("verify_settings", tmp_path)
    gen = generated(root)
    code, doc = verify_json(root, "proj.celery")
    assert code == 1
    d = by(doc)
    assert_queue_reported(doc, gen, "proj.reports.export", "reports")  # a queue from a settings constant
    assert_queue_reported(doc, gen, "proj.mail.send", "mail")  # task_routes as a router function
    assert_queue_reported(doc, gen, "proj.tasks.cleanup", "work")  # default queue: the environment's default
    assert_queue_reported(doc, gen, "proj.tasks.poll", "work")
    assert_queue_reported(doc, gen, "cleanup", "work", kind="entry")
    # loop-built and environment-built beat entries have no CronJob
    for entry in ("poll-every-5", "poll-every-10", "poll-every-30"):
        assert d[("SM707", entry, "entry")]["file"] == "proj/settings.py"
        assert d[("SM707", entry, "entry")]["celery"] == f"every {int(entry.rsplit('-', 1)[1]) * 60} s"
    assert d[("SM707", "nightly-export", "entry")]["celery"] == "crontab(minute=0, hour='1')"
    assert {x["code"] for x in doc["differences"]} <= {"SM700", "SM702", "SM707"}


def test_the_environment_of_the_run_is_what_is_verified(tmp_path: Path):
    root = rewritten("verify_settings", tmp_path)
    gen = generated(root)
    code, doc = verify_json(root, "proj.celery", {"PROJ_DEFAULT_QUEUE": "bulk", "EXPORT_HOUR": "5"})
    assert_queue_reported(doc, gen, "proj.tasks.cleanup", "bulk")
    assert_queue_reported(doc, gen, "proj.tasks.poll", "bulk")
    assert by(doc)[("SM707", "nightly-export", "entry")]["celery"] == "crontab(minute=0, hour='5')"


def test_shadowed_builtin_exception_hooks_and_plugin_tasks(tmp_path: Path):
    root = rewritten("verify_plugins", tmp_path)
    gen = generated(root)
    code, doc = verify_json(root, "plug.celery")
    assert code == 1
    d = by(doc)
    names = gen.twins["plug.tasks.fetch"].options["autoretry_for"]
    if names == ("ConnectionError",):  # the static rewrite wrote the bare name: the runtime would take the builtin
        exc = d[("SM705", "plug.tasks.fetch", "autoretry_for")]
        assert exc["celery"] == ["requests.exceptions.ConnectionError"]
        assert exc["generated"] == ["ConnectionError -> builtins.ConnectionError"]
    else:
        assert ("SM705", "plug.tasks.fetch", "autoretry_for") not in d, names
    assert ("SM705", "plug.tasks.parse", "autoretry_for") not in d  # ValueError is the builtin on both sides
    # charge's base overrides on_failure: its bridge twin runs the Celery task object, whose hooks the
    # runtime calls as Celery does, so that is not a difference
    assert ("SM706", "plug.tasks.charge", "hooks") not in d
    for name in ("plug.plugins.resize", "plug.plugins.thumbnail", "plug.plugins.audit"):
        assert d[("SM700", name, "task")]["file"] == "plug/plugins.py"
    assert {x["code"] for x in doc["differences"]} <= {"SM700", "SM705", "SM706"}


def test_seeded_builtin_class_for_a_library_exception_is_reported(tmp_path: Path):
    root = rewritten("verify_plugins", tmp_path)
    twins = root / "plug/tasks_saq.py"
    twins.write_text(
        re.sub(
            r"autoretry_for=\(\"[\w.]*ConnectionError\",\)",
            "autoretry_for=('builtins.ConnectionError',)",
            twins.read_text(),
        )
    )
    _, doc = verify_json(root, "plug.celery")
    assert by(doc)[("SM705", "plug.tasks.fetch", "autoretry_for")]["generated"] == ["builtins.ConnectionError"]


def test_bare_name_resolves_in_the_task_module_before_builtins(tmp_path: Path):
    """The runtime looks a bare name up in the task module first (as Python does), so a twin written
    by an older rewrite with 'ConnectionError' still retries on requests' ConnectionError."""
    root = rewritten("verify_plugins", tmp_path)
    twins = root / "plug/tasks_saq.py"
    twins.write_text(
        re.sub(r"autoretry_for=\(\"[\w.]*ConnectionError\",\)", "autoretry_for=('ConnectionError',)", twins.read_text())
    )
    _, doc = verify_json(root, "plug.celery")
    assert ("SM705", "plug.tasks.fetch", "autoretry_for") not in by(doc)


def test_hooks_of_a_twin_that_bypasses_the_task_class_are_reported_unless_marked(tmp_path: Path):
    root = rewritten("verify_plugins", tmp_path)
    twins = root / "plug/tasks_saq.py"
    text = twins.read_text()
    # a hand-written port that calls the body directly instead of through celery_impl (the task class)
    text = re.sub(
        r"return await run_sync\(celery_impl\(_celery\.charge\)(.*)\)",
        r"return await run_sync(_celery.charge.run\1)",
        text,
    )
    twins.write_text(text)
    _, doc = verify_json(root, "plug.celery")
    assert by(doc)[("SM706", "plug.tasks.charge", "hooks")]["celery"] == {"on_failure": "plug.base.NotifyingTask"}
    _edit(
        twins, '@saq_task("plug.tasks.charge"', '# saqmigrate: hooks-handled[on_failure]\n@saq_task("plug.tasks.charge"'
    )
    _, doc = verify_json(root, "plug.celery")
    assert ("SM706", "plug.tasks.charge", "hooks") not in by(doc)


def test_dotted_exception_name_resolves_to_celerys_class(tmp_path: Path):
    root = rewritten("verify_plugins", tmp_path)
    twins = root / "plug/tasks_saq.py"
    twins.write_text(
        re.sub(
            r"autoretry_for=\(\"[\w.]*ConnectionError\",\)",
            "autoretry_for=('requests.exceptions.ConnectionError',)",
            twins.read_text(),
        )
    )
    _, doc = verify_json(root, "plug.celery")
    assert ("SM705", "plug.tasks.fetch", "autoretry_for") not in by(doc)


# ------------------------------------------------------------------ failures, formats, safety


def test_import_failure_is_one_line_and_exit_2(tmp_path: Path):
    root = rewritten("verify_clean", tmp_path)
    (root / "shop/celery.py").write_text("import shop.not_there\n" + (root / "shop/celery.py").read_text())
    proc = saqmigrate("verify", ".", "--app", "shop.celery", cwd=root)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert (
        proc.stderr
        == "saqmigrate: error: could not import the app: ModuleNotFoundError: No module named 'shop.not_there'\n"
    )


def test_unknown_app_module_and_child_noise(tmp_path: Path):
    root = rewritten("verify_clean", tmp_path)
    proc = saqmigrate("verify", ".", "--app", "nope.celery", cwd=root)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "No module named 'nope'" in proc.stderr
    # what the app prints at import stays out of the report
    _edit(
        root / "shop/celery.py",
        '"""The shop',
        'print("NOISE from the app")\nimport sys\nprint("ERR", file=sys.stderr)\n"""The shop',
    )
    proc = saqmigrate("verify", ".", "--app", "shop.celery", cwd=root)
    assert proc.returncode == 0 and "NOISE" not in proc.stdout + proc.stderr and "ERR" not in proc.stderr


def test_timeout_is_exit_2(tmp_path: Path):
    root = rewritten("verify_clean", tmp_path)
    _edit(root / "shop/celery.py", '"""The shop', 'import time\ntime.sleep(30)\n"""The shop')
    proc = saqmigrate("verify", ".", "--app", "shop.celery", "--timeout", "1", cwd=root)
    assert proc.returncode == 2
    assert "did not finish importing within 1 s" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_no_generated_code_is_exit_2(tmp_path: Path):
    root = tmp_path / "p"
    shutil.copytree(FIXTURES / "verify_clean", root)
    proc = saqmigrate("verify", ".", "--app", "shop.celery", cwd=root)
    assert proc.returncode == 2 and "run `saqmigrate rewrite --write` first" in proc.stderr


def test_broker_is_memory_and_nothing_is_written(tmp_path: Path):
    root = rewritten("verify_clean", tmp_path)
    _edit(
        root / "shop/celery.py",
        "app.conf.update(",
        "import os\nopen(os.environ['SEEN'], 'w').write(app.connection().as_uri() + ' ' + str(app.conf.result_backend))\napp.conf.update(",
    )

    def files():  # the scan cache is saqmigrate's own (as for scan); the child writes nothing
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if not p.relative_to(root).as_posix().startswith(".saqmigrate_cache")
        )

    before = files()
    seen = tmp_path / "seen.txt"
    proc = saqmigrate("verify", ".", "--app", "shop.celery", cwd=root, env={"SEEN": str(seen)})
    assert proc.returncode == 0, proc.stderr
    assert seen.read_text().startswith("memory://") and "cache+memory://" in seen.read_text()
    assert before == files()  # no __pycache__, no cache files from the child


def test_sarif_and_text_formats(tmp_path: Path):
    root = rewritten("verify_plugins", tmp_path)
    proc = saqmigrate("verify", ".", "--app", "plug.celery", "--format", "sarif", cwd=root)
    assert proc.returncode == 1
    sarif = json.loads(proc.stdout)
    rules = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert "SM700" in rules and rules <= {"SM700", "SM705", "SM706"}
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in sarif["runs"][0]["results"])
    text = saqmigrate("verify", ".", "--app", "plug.celery", cwd=root).stdout
    assert (
        "plug/plugins.py:17: SM700 task 'plug.plugins.resize' task: Celery 'plug.plugins.resize', generated None"
        in text
    )
    assert re.match(r"6 tasks, 0 beat entries compared: \d+ differences", text.rstrip().splitlines()[-1])


def test_help_says_it_imports_the_app():
    proc = subprocess.run([sys.executable, "-m", "saqmigrate", "verify", "--help"], capture_output=True, text=True)
    assert "IMPORTS YOUR APP" in proc.stdout and "memory://" in proc.stdout


def test_check_live_runs_verify(tmp_path: Path):
    root = rewritten("verify_plugins", tmp_path)
    proc = saqmigrate("check", ".", "--only", "verify", "--live", "--app", "plug.celery", "--format", "json", cwd=root)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["checks"][-1]["name"] == "verify" and doc["checks"][-1]["status"] == "fail"
    assert "SM700" in {f["rule"] for f in doc["findings"]}
    off = saqmigrate("check", ".", "--only", "verify", cwd=root)
    assert off.returncode == 0 and "run-time comparison off" in off.stdout
    bad = saqmigrate("check", ".", "--live", cwd=root)
    assert bad.returncode == 2 and "--live needs --app" in bad.stderr
