"""Issue 12 item 7: one redaction helper; no password in the audit stream or in `route history`;
config paths confined to the project."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

import saqmigrate
from saqmigrate.cli.commands.route import command as route
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.urls import redact, redact_argv

from .test_split_redis import start_redis_server, stop_redis_server

PW_SIMPLE = "hunter2"


@pytest.mark.parametrize(
    "url, want",
    [
        ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:hunter2@host", "redis://user:***@host"),
        ("rediss://hunter2@host:6380", "rediss://***@host:6380"),
        ("redis://:hun@ter@2@host:1/0", "redis://:***@host:1/0"),
        ("redis://host:6379/0?password=hunter2&db=1", "redis://host:6379/0?password=***&db=1"),
        ("unix:///run/redis.sock?db=0&password=hunter2", "unix:///run/redis.sock?db=0&password=***"),
        ("cannot reach redis://:hunter2@h:1/0 (refused)", "cannot reach redis://:***@h:1/0 (refused)"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("mail me at ops@example.com", "mail me at ops@example.com"),
    ],
)
def test_redact(url, want):
    assert redact(url) == want
    assert "hunter2" not in redact(url)


def test_argv_redaction():
    argv = [
        "route",
        "--redis-url",
        "redis://:hunter2@h/0",
        "--redis-url=redis://u:hunter2@h",
        "--password",
        "hunter2",
        "set",
        "x",
        "saq",
    ]
    out = redact_argv(argv)
    assert "hunter2" not in json.dumps(out) and out[-3:] == ["set", "x", "saq"]


def test_there_is_one_redaction_helper():
    pkg = Path(saqmigrate.__file__).parent
    copies = [p for p in pkg.rglob("*.py") if "def _redact" in p.read_text(encoding="utf-8")]
    assert copies == []
    from saqmigrate import demo

    assert demo._redact is redact


@pytest.mark.slow
def test_audit_stream_and_history_hold_no_password(unique_name):
    url, port = start_redis_server("--requirepass", PW_SIMPLE)
    secret_url = url.replace("redis://", f"redis://:{PW_SIMPLE}@")
    try:
        args = ["--redis-url", secret_url, "--namespace", unique_name]
        import sys

        argv = ["saqmigrate", "route", *args, "set", "a.x", "celery", "--reason", f"moved off {secret_url}"]
        old_argv, sys.argv = sys.argv, argv  # what the audit records is sys.argv
        try:
            r = CliRunner().invoke(route, args + ["set", "a.x", "celery", "--reason", f"moved off {secret_url}"])
        finally:
            sys.argv = old_argv
        assert r.exit_code == 0, r.output
        raw = redis.Redis(host="127.0.0.1", port=port, password=PW_SIMPLE, decode_responses=True)
        store = F.FlagStore(secret_url, unique_name)
        entries = raw.xrange(store.keys.audit)
        assert entries and PW_SIMPLE not in json.dumps(entries), entries
        assert "redis://:***@" in entries[0][1]["argv"]
        # an entry written before this fix (argv stored verbatim) is masked on the way out
        raw.xadd(
            store.keys.audit,
            {
                "ts": "1",
                "actor": "old",
                "target": "mode",
                "old": '"normal"',
                "new": '"force-celery"',
                "reason": "r",
                "version": "2",
                "argv": json.dumps(["route", "--redis-url", secret_url, "kill"]),
            },
        )
        for fmt in ("json", "table"):
            r = CliRunner().invoke(route, ["--format", fmt] + args + ["history"])
            assert r.exit_code == 0, r.output
            assert PW_SIMPLE not in r.output
            if fmt == "json":
                assert "redis://:***@" in r.output
        # an error names the server without the password
        r = CliRunner().invoke(route, ["--redis-url", f"redis://:{PW_SIMPLE}@127.0.0.1:1/0", "show"])
        assert r.exit_code == 2 and PW_SIMPLE not in r.output and "***" in r.output
        store.delete_all()
    finally:
        stop_redis_server(port, PW_SIMPLE)


@pytest.mark.parametrize("value", ["../../x", "/etc/passwd", "sub/../../x", "."])
def test_baseline_outside_the_project_is_refused(tmp_path, value):
    from saqmigrate.cli.main import cli

    root = tmp_path / "a" / "b"
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[tool.saqmigrate]\nbaseline = "{value}"\n')
    r = CliRunner().invoke(cli, ["baseline", str(root)])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "baseline" in lines[0] and "pyproject.toml" in lines[0], r.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "a" / "x").exists()


def test_baseline_inside_the_project_is_fine(tmp_path):
    from saqmigrate.config import load_config

    (tmp_path / "pyproject.toml").write_text('[tool.saqmigrate]\nbaseline = "ci/baseline.json"\n')
    assert load_config(tmp_path).baseline == "ci/baseline.json"
