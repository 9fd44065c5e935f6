"""Names are data: no task, beat-entry, queue or file name can put code into a generated module,
and every generated file compiles (issue: safety under hostile input)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saqmigrate.config import Config
from saqmigrate.emit.generate import inert
from saqmigrate.rewrite import apply_changes, compute_changes

PAYLOAD = '__import__("pathlib").Path("PWNED").touch()'
HOSTILE = [
    f'x"""\n{PAYLOAD}\n"""',
    f"x'''\n{PAYLOAD}\n'''",
    f"x\n{PAYLOAD}\n#",
    f"x\r{PAYLOAD}\r#",
    f"x\u2028{PAYLOAD}",
    f"x\x0c\n{PAYLOAD}",
    "x\x00y",
    'ends with a quote"',
    "back\\slash\\",
    "\\N{BULLET}",
    "x\udc80y",
    "a\u202eb",  # bidi override: a reviewer would read it backwards
    "tasks.send mail (v2) ü 日本",
]


def make_project(root: Path, task: str, entry: str, queue: str) -> Path:
    pkg = root / "proj"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "celery.py").write_text(
        "from celery import Celery\n"
        "from celery.schedules import crontab\n\n"
        'app = Celery("proj")\n'
        f"app.conf.beat_schedule = {{{entry!r}: {{'task': {task!r}, 'schedule': crontab(minute='*/5'),"
        f" 'kwargs': {{'x': {entry!r}}}}}}}\n",
        encoding="utf-8",
    )
    (pkg / "tasks.py").write_text(
        f"from celery import shared_task\n\n\n@shared_task(name={task!r}, queue={queue!r})\ndef f(x):\n    return x\n",
        encoding="utf-8",
    )
    return root


def _shape(text: str) -> str:
    """The AST with every constant blanked: what the module *does*, whatever the names are."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
    return ast.dump(tree)


def _generated(tmp: Path, task: str, entry: str, queue: str) -> dict[str, str]:
    root = make_project(tmp, task, entry, queue)
    result = compute_changes(root, Config())
    assert not result.blocking, result.blocking
    return {c.rel: c.new for c in result.changes if c.new is not None}


def _same_shape(tmp: Path, task: str, entry: str, queue: str) -> None:
    benign = _generated(tmp / "benign", "proj.tasks.f", "every five", "mail")
    hostile = _generated(tmp / "hostile", task, entry, queue)

    # the queue module's file name is derived from the queue name; compare the rest by role
    def by_role(files: dict[str, str]) -> dict[str, str]:
        return {("queue" if "/queue_" in rel else rel): text for rel, text in files.items()}

    b, h = by_role(benign), by_role(hostile)
    assert sorted(b) == sorted(h)
    for rel, text in h.items():
        compile(text, rel, "exec", dont_inherit=True)
        assert _shape(text) == _shape(b[rel]), f"{rel}: a name changed the code's structure"
        for line in text.splitlines():  # nothing a reviewer cannot see
            assert all(ch.isprintable() for ch in line), (rel, line)


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_stay_data(name: str, tmp_path: Path) -> None:
    _same_shape(tmp_path / "task", name, "every five", "mail")
    _same_shape(tmp_path / "entry", "proj.tasks.f", name, "mail")
    _same_shape(tmp_path / "queue", "proj.tasks.f", "every five", name)


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task=names, entry=names, queue=names)
def test_any_names_give_the_same_code(task: str, entry: str, queue: str, tmp_path_factory) -> None:
    _same_shape(tmp_path_factory.mktemp("prop"), task, entry, queue)


@given(st.text())
def test_inert_text_is_one_printable_line(text: str) -> None:
    out = inert(text)
    assert all(ch.isprintable() for ch in out)
    doc = inert(text, docstring=True)
    assert all(ch.isprintable() for ch in doc) and '"' not in doc
    # inside a docstring it reads back as the original text
    assert ast.literal_eval(f'"""{doc}"""') == text


def test_payload_never_runs_when_the_worker_imports(tmp_path: Path) -> None:
    """End to end: write the rewrite of a project whose every name carries a payload, import every
    generated module in a fresh interpreter, and look for the payload's file."""
    payload_name = f'x"""\n{PAYLOAD}\n"""'
    root = make_project(tmp_path / "p", payload_name, f"y\n{PAYLOAD}\n#", f"q\n{PAYLOAD}\n#")
    result = compute_changes(root, Config())
    assert apply_changes(root, result.changes) == []
    modules = [c.rel[:-3].replace("/", ".") for c in result.changes if c.rel.endswith(".py")]
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint('ok')\n"
    env = {**os.environ, "PYTHONPATH": str(root), "SAQMIGRATE_ROUTING": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *modules], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert not (root / "PWNED").exists()


def test_poisoned_scan_cache_cannot_reach_generated_code(tmp_path: Path) -> None:
    """The cache is trusted by path + size + mtime for scans; rewrite never takes generated text from it."""
    from saqmigrate.scan import run_scan

    root = make_project(tmp_path / "p", "proj.tasks.f", "every five", "mail")
    run_scan(root, Config(), use_cache=True)
    cache = root / ".saqmigrate_cache" / "scan.json"
    data = json.loads(cache.read_text(encoding="utf-8"))
    facts = data["files"]["proj/tasks.py"]["facts"]

    def poison(value):
        if isinstance(value, dict):
            return {k: poison(v) for k, v in value.items()}
        if isinstance(value, list):
            return [poison(v) for v in value]
        return f'x"""\n{PAYLOAD}\n"""' if value == "proj.tasks.f" else value

    data["files"]["proj/tasks.py"]["facts"] = poison(facts)
    cache.write_text(json.dumps(data), encoding="utf-8")
    result = compute_changes(root, Config())
    generated = "".join(c.new or "" for c in result.changes)
    assert "PWNED" not in generated and "'proj.tasks.f'" in generated


def test_app_in_a_folder_that_is_not_a_module_name_is_not_wired(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "proj.tasks.f", "every five", "mail")
    (root / "proj").rename(root / "my-proj")
    result = compute_changes(root, Config())
    assert not any(c.rel.startswith("my-proj/saq_worker") for c in result.changes)
    assert any("not importable" in m for m in result.messages)
    for c in result.changes:
        if c.new is not None:
            compile(c.new, c.rel, "exec")


def test_names_in_terminal_reports_cannot_break_lines(tmp_path: Path) -> None:
    """scan's table and rewrite's messages print user names escaped: a newline or a bidi override in a
    task name cannot forge a report line."""
    from click.testing import CliRunner

    from saqmigrate.cli.main import cli

    root = make_project(tmp_path / "p", "evil\nFORGED LINE\u202e", "every five", "mail")
    tasks = root / "proj" / "tasks.py"
    tasks.write_text(tasks.read_text(encoding="utf-8").replace("queue='mail'", "queue=pick()"), encoding="utf-8")
    runner = CliRunner()
    for args in (["scan", str(root), "--format", "text"], ["rewrite", str(root), "--check"]):
        r = runner.invoke(cli, args)
        assert "evil" in r.output, r.output
        assert not any(
            line.startswith("FORGED") or "FORGED LINE" in line and "\\n" not in line for line in r.output.splitlines()
        ), r.output
        assert "\u202e" not in r.output


def test_task_and_parameter_names_cannot_break_the_twin_module(tmp_path: Path) -> None:
    """A task named like a helper the twin module imports, a parameter named ctx, a parameter named like a
    helper the body calls: every twin of the module still calls the right functions (it is imported and run)."""
    root = tmp_path / "p"
    (root / "app2").mkdir(parents=True)
    (root / "app2" / "__init__.py").write_text("", encoding="utf-8")
    (root / "app2" / "celery.py").write_text('from celery import Celery\n\napp = Celery("app2")\n', encoding="utf-8")
    (root / "app2" / "tasks.py").write_text(
        "from app2.celery import app\n\n\n"
        "@app.task\ndef given(x):\n    return x\n\n\n"
        "@app.task\ndef run_sync(x):\n    return x\n\n\n"
        "@app.task\ndef later(x):\n    return x + 1\n\n\n"
        "@app.task\ndef uses_ctx(ctx, n):\n    return [ctx, n]\n\n\n"
        "@app.task\ndef params(given, n):\n    return n\n",
        encoding="utf-8",
    )
    result = compute_changes(root, Config())
    assert not result.blocking, result.blocking
    assert any("SM118" in m and "params" in m for m in result.messages)
    assert apply_changes(root, result.changes) == []
    code = (
        "import asyncio, json\n"
        "from app2 import tasks_saq as t\n"
        "from saq import Job\n"
        "async def main():\n"
        "    out = {}\n"
        "    for fn, kw in ((t.given_task, {'x': 1}), (t.run_sync_task, {'x': 2}), (t.later, {'x': 3}),\n"
        "                   (t.uses_ctx, {'ctx': 'c', 'n': 4})):\n"
        "        out[fn.__name__] = await fn({'job': Job(function=fn.saq_name, kwargs=kw)}, **kw)\n"
        "    print(json.dumps(out))\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(root), "SAQMIGRATE_ROUTING": "0"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {
        "given_task": 1,
        "run_sync_task": 2,
        "later": 4,
        "uses_ctx": ["c", 4],
    }


def test_queue_names_that_differ_only_by_punctuation_or_case_get_their_own_worker(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", "proj.tasks.f", "every five", "a-b")
    tasks = root / "proj" / "tasks.py"
    tasks.write_text(
        tasks.read_text(encoding="utf-8")
        + "\n\n@shared_task(queue='a_b')\ndef g():\n    return 1\n"
        + "\n\n@shared_task(queue='A_B')\ndef h():\n    return 1\n",
        encoding="utf-8",
    )
    from saqmigrate.plan import build_plan
    from saqmigrate.scan import run_scan

    plan = build_plan(run_scan(root, Config(), use_cache=False)[0])
    files = {q.name: q.rel.lower() for q in plan.queues}
    assert sorted(files) == ["A_B", "a-b", "a_b"] and len(set(files.values())) == 3
