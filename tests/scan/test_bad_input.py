import json
import os

import pytest
from click.testing import CliRunner

from saqmigrate.cli.main import cli
from tests.scan.helpers import scan, write_tree

GOOD = """
from celery import shared_task

@shared_task
def ok():
    pass
"""


def test_bad_files_become_errors_and_scan_goes_on(tmp_path):
    write_tree(
        tmp_path,
        {
            "good.py": GOOD,
            "broken.py": "from celery import shared_task\ndef f(:\n",
            "py2.py": 'import celery\nprint "hello"\n',
            "latin.py": b"# celery task\nname = '\xe9t\xe9'\n",
            "huge.py": "# celery\n" + "x = 1\n" * 1_000_000,
        },
    )
    os.symlink("loop.py", tmp_path / "loop.py")
    (tmp_path / "sub").mkdir()
    os.symlink("..", tmp_path / "sub" / "up")
    idx = scan(tmp_path)
    assert [t.name for t in idx.tasks] == ["good.ok"]
    errors = {e.file: e.message for e in idx.errors}
    assert "syntax error at line 2" in errors["broken.py"]
    assert "Python 2" in errors["py2.py"]
    assert "not valid utf-8" in errors["latin.py"]
    assert "larger than" in errors["huge.py"]
    assert "loop.py" in errors
    assert any("symlink loop" in m for m in errors.values())
    assert all(f.rule == "SM900" for f in idx.findings if f.file in errors)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):  # pragma: no cover - CI runs as root
    write_tree(tmp_path, {"secret.py": GOOD})
    (tmp_path / "secret.py").chmod(0)
    idx = scan(tmp_path)
    assert "unreadable" in idx.errors[0].message


def test_unreadable_file_via_directory_permissions_or_fifo(tmp_path):
    # root can read any mode-0 file; a FIFO named *.py is a file that cannot be read as source
    write_tree(tmp_path, {"good.py": GOOD})
    os.mkfifo(tmp_path / "pipe.py")
    idx = scan(tmp_path)
    assert [t.name for t in idx.tasks] == ["good.ok"]
    assert {e.file: e.message for e in idx.errors} == {"pipe.py": "not a regular file"}


def test_newer_syntax_is_still_scanned(tmp_path):
    write_tree(
        tmp_path,
        {
            "new.py": """
        from celery import shared_task

        type Alias = int

        def ident[T](x: T) -> T:
            return x

        @shared_task
        def still_found(x):
            try:
                return int(x)
            except ValueError, TypeError:
                return None
    """
        },
    )
    idx = scan(tmp_path)
    assert [(t.name, t.line) for t in idx.tasks] == [("new.still_found", 9)]
    assert any(f.rule == "SM901" for f in idx.findings)


def test_cli_missing_path_and_not_a_directory(tmp_path):
    r = CliRunner().invoke(cli, ["scan", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such directory" in r.output and len(r.output.strip().splitlines()) == 1
    f = tmp_path / "f.py"
    f.write_text("x = 1\n")
    r = CliRunner().invoke(cli, ["scan", str(f), "--no-cache"])
    assert r.exit_code == 0 and "1 Python files" in r.output  # a file is a PATH too (issue 15), like ruff
    (tmp_path / "notes.txt").write_text("x\n")
    r = CliRunner().invoke(cli, ["scan", str(tmp_path / "notes.txt")])
    assert r.exit_code == 2 and "not a Python file" in r.output and len(r.output.strip().splitlines()) == 1


def test_cli_unwritable_output(tmp_path):
    write_tree(tmp_path, {"good.py": GOOD})
    r = CliRunner().invoke(
        cli, ["scan", str(tmp_path), "--no-cache", "--format", "json", "-o", str(tmp_path / "missing" / "out.json")]
    )
    assert r.exit_code == 2 and "does not exist" in r.output


def test_json_contract(tmp_path):
    write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/tasks.py": GOOD})
    out = tmp_path / "out.json"
    r = CliRunner().invoke(cli, ["scan", str(tmp_path), "--no-cache", "--format", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    assert data["schema"] == "saqmigrate.scan/1"
    for key in (
        "root",
        "files_scanned",
        "files_parsed",
        "errors",
        "apps",
        "tasks",
        "schedules",
        "calls",
        "findings",
        "summary",
    ):
        assert key in data
    (t,) = data["tasks"]
    for key in (
        "name",
        "function",
        "file",
        "line",
        "decorator_line",
        "kind",
        "options",
        "bind",
        "is_async",
        "migratability",
        "rules",
    ):
        assert key in t
    assert t["file"] == "pkg/tasks.py" and t["line"] == 4 and t["name"] == "pkg.tasks.ok"


def test_cache_warm_scan_reads_nothing_and_sees_changes(tmp_path):
    from saqmigrate.config import Config
    from saqmigrate.scan import run_scan

    write_tree(tmp_path, {"a.py": GOOD, "b.py": "x = 1\n"})
    _, s1 = run_scan(tmp_path, Config(), use_cache=True)
    assert s1.read == 2 and s1.from_cache == 0
    idx, s2 = run_scan(tmp_path, Config(), use_cache=True)
    assert s2.read == 0 and s2.from_cache == 2 and [t.name for t in idx.tasks] == ["a.ok"]
    (tmp_path / "a.py").write_text(GOOD.replace("def ok", "def renamed"))
    os.utime(tmp_path / "a.py", ns=(1, 1))
    idx, s3 = run_scan(tmp_path, Config(), use_cache=True)
    assert s3.read == 1 and [t.name for t in idx.tasks] == ["a.renamed"]


def test_config_rejects_unknown_rule_codes(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.saqmigrate]\ndisable = ["SM999"]\n')
    (tmp_path / "t.py").write_text(GOOD)
    r = CliRunner().invoke(cli, ["scan", str(tmp_path), "--no-cache"])
    assert r.exit_code == 2 and "SM999" in r.output and len(r.output.strip().splitlines()) == 1


def test_generated_and_report_files_have_normal_permissions(tmp_path):
    import stat

    write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/tasks.py": GOOD})
    out = tmp_path / "report.json"
    assert (
        CliRunner().invoke(cli, ["scan", str(tmp_path), "--no-cache", "--format", "json", "-o", str(out)]).exit_code
        == 0
    )
    mode = stat.S_IMODE(out.stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)  # readable by group and others (umask 022), not mkstemp's 0600


def test_output_to_a_device_writes_through_it_and_never_replaces_it(tmp_path):
    import stat

    write_tree(tmp_path, {"t.py": GOOD})
    before = os.stat("/dev/null")
    r = CliRunner().invoke(cli, ["scan", str(tmp_path), "--no-cache", "--format", "json", "-o", "/dev/null"])
    assert r.exit_code == 0, r.output
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino and after.st_rdev == before.st_rdev


def test_ellipsis_defaults_and_odd_literals_do_not_break_the_cache(tmp_path):
    """`def f(x=...)` (typing stubs, hypothesis) in a task: the fact is kept as source, the cache is written."""
    from saqmigrate.config import Config
    from saqmigrate.scan import run_scan

    (tmp_path / "tasks.py").write_text(
        "from celery import shared_task\n\n\n@shared_task\ndef f(x=..., y=b'raw', z=(1, ...)):\n    return x\n",
        encoding="utf-8",
    )
    index, stats = run_scan(tmp_path, Config(), use_cache=True)
    [t] = index.tasks
    assert [p.default for p in t.params] == [{"dynamic": "Ellipsis"}, "raw", [1, {"dynamic": "Ellipsis"}]]
    assert not any("cache not written" in n for n in stats.notes)
    assert (tmp_path / ".saqmigrate_cache" / "scan.json").is_file()
