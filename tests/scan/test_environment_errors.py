"""Issue 12 item 8: one-line errors, never tracebacks, for bad folders and bad configuration."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from saqmigrate.cli.main import cli

TASK = "from celery import shared_task\n\n\n@shared_task\ndef ok():\n    pass\n"


def one_line(r) -> str:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return lines[0]


def test_unreadable_subdirectory_is_a_report_entry_not_a_traceback(tmp_path, monkeypatch):
    """A Docker volume owned by another user: is_file() on its .gitignore raises PermissionError.
    Tests run as root (chmod does not stop root), so the denial is simulated at that call."""
    (tmp_path / "tasks.py").write_text(TASK)
    locked = tmp_path / "volume"
    locked.mkdir()
    (locked / "inner.py").write_text(TASK)
    real_is_file = Path.is_file

    def is_file(self):
        if self.parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    from saqmigrate.discover import discover

    found = discover(tmp_path)
    assert found.files == ["tasks.py"]
    assert found.errors == [("volume", "cannot list directory: Permission denied")]
    r = CliRunner().invoke(cli, ["scan", str(tmp_path), "--format", "json", "--no-cache"])
    assert r.exit_code == 0, r.output
    assert [t["name"] for t in json.loads(r.stdout)["tasks"]] == ["tasks.ok"]


@pytest.mark.parametrize(
    "content, needle",
    [
        (b'[tool.saqmigrate]\nexclude = ["caf\xe9/**"]\n', "not UTF-8"),
        (b"tool = 5\n", "'tool' must be a table"),
        (b'[tool]\nsaqmigrate = "x"\n', "[tool.saqmigrate] must be a table"),
    ],
)
def test_bad_pyproject_is_one_line(tmp_path, content, needle):
    (tmp_path / "tasks.py").write_text(TASK)
    (tmp_path / "pyproject.toml").write_bytes(content)
    for cmd in (["scan", str(tmp_path)], ["check", str(tmp_path)], ["baseline", str(tmp_path)]):
        line = one_line(CliRunner().invoke(cli, cmd))
        assert needle in line and "pyproject.toml" in line, line


@pytest.mark.parametrize(
    "table",
    [
        'window_start = "2026-01-01"\nwindow_days = 99999999999',
        '[tool.saqmigrate.window]\nstart = "2026-01-01"\ndays = 3000000',
    ],
)
def test_overflowing_window_days_is_one_line(tmp_path, monkeypatch, table):
    (tmp_path / "tasks.py").write_text(TASK)
    (tmp_path / "pyproject.toml").write_text(f"[tool.saqmigrate]\n{table}\n")
    line = one_line(CliRunner().invoke(cli, ["check", str(tmp_path), "--only", "window"]))
    assert "year 9999" in line, line
    from saqmigrate.runtime.window import WindowError, load_window

    with pytest.raises(WindowError, match="year 9999"):
        load_window(tmp_path / "pyproject.toml")


@pytest.mark.parametrize(
    "content",
    [
        b"tool = 5\n",
        b'[tool.saqmigrate]\nwindow_start = "2026-01-01"\nwindow_days = 99999999999\n',
        b'[tool.saqmigrate]\nwindow_start = "\xff"\n',
    ],
)
def test_route_status_with_a_bad_pyproject_is_one_line(tmp_path, monkeypatch, redis_url, content):
    (tmp_path / "pyproject.toml").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["route", "--redis-url", redis_url, "--namespace", "t-envtest", "status"])
    assert r.exit_code == 2 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_surrogate_in_a_task_name_under_rewrite_diff(tmp_path):
    """A lone surrogate in a task and beat-entry name reaches the diff only escaped (repr)."""
    (tmp_path / "tasks.py").write_text(
        'from celery import Celery\napp = Celery("p")\n\n@app.task(name="p.x\\udc80y")\ndef x(a):\n    return a\n\n'
        'app.conf.beat_schedule = {"e\\udc80": {"task": "p.x\\udc80y", "schedule": 5.0}}\n',
        encoding="utf-8",
    )
    r = CliRunner().invoke(cli, ["rewrite", str(tmp_path), "--diff"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output  # 1: changes pending
    r.output.encode("utf-8")  # nothing unencodable reached the terminal
    assert "p.x\\udc80y" in r.output
