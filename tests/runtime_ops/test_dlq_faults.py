"""Issue 12 item 8: a corrupt dead-letter entry is listed (as corrupt) and purgeable; a bad
``--redis-url`` is one line; a stale REDIS_URL stops the test session in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as sync_redis
from click.testing import CliRunner

from saqmigrate.cli.main import cli

from .conftest import dlq_prefix
from .test_ops_cli_dlq import run, seed

pytestmark = [pytest.mark.usefixtures("cleanup")]


def corrupt_entry(redis_url: str, unique: str, entry_id: str, raw: str, failed_at: float) -> None:
    p = dlq_prefix(unique)
    r = sync_redis.Redis.from_url(redis_url)
    r.hset(f"{p}:entries", entry_id, raw)
    r.zadd(f"{p}:index", {entry_id: failed_at})
    queue = entry_id.rsplit(":", 2)[0]
    r.zadd(f"{p}:q:{queue}", {entry_id: failed_at})
    r.sadd(f"{p}:queues", queue)
    r.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[" * 50_000 + "]" * 50_000,
        json.dumps({"id": 1}),
        json.dumps({"function": "f", "failed_at": "yesterday"}),
    ],
)
def test_corrupt_entry_is_listed_shown_and_purgeable(redis_url, unique_name, raw):
    good = seed(redis_url, unique_name)
    bad_id = f"{unique_name}a:deadbeef:{int(time.time() * 1000)}"
    corrupt_entry(redis_url, unique_name, bad_id, raw, time.time())
    r = run(redis_url, unique_name, "list")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "4 dead letter(s)" in r.output and bad_id in r.output and "corrupt" in r.output
    r = run(redis_url, unique_name, "list", "--format", "json")
    assert r.exit_code == 0
    assert [e["status"] for e in json.loads(r.output) if e["id"] == bad_id] == ["corrupt"]
    r = run(redis_url, unique_name, "show", bad_id)
    assert r.exit_code == 0 and "corrupt" in r.output, r.output
    r = run(redis_url, unique_name, "requeue", bad_id)
    assert r.exit_code == 1 and "purge it" in r.output and "Traceback" not in r.output, r.output
    r = run(redis_url, unique_name, "purge", bad_id, "--yes")
    assert r.exit_code == 0 and "purged 1" in r.output, r.output
    r = run(redis_url, unique_name, "list", "--queue", f"{unique_name}a")
    assert bad_id not in r.output and "2 dead letter(s)" in r.output, r.output
    # and a bulk purge goes through a corrupt entry too
    corrupt_entry(redis_url, unique_name, bad_id, raw, time.time())
    r = run(redis_url, unique_name, "purge", "--all", "--yes")
    assert r.exit_code == 0 and f"purged {len(good) + 1}" in r.output, r.output


@pytest.mark.parametrize("url", ["notaurl", "http://example.com", "redis://:x@host:notaport/0"])
def test_bad_redis_url_is_one_line(url):
    r = CliRunner().invoke(cli, ["dlq", "--redis-url", url, "list"])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "--redis-url" in lines[0] and ":x@" not in lines[0], r.output


def test_stale_redis_url_fails_the_session_in_one_line_up_front(tmp_path):
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text((root / "conftest.py").read_text())
    (tmp_path / "test_needs_redis.py").write_text("def test_x(redis_url):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SAQMIGRATE_EMBEDDED", "SAQMIGRATE_REDIS_URL")}
    env["REDIS_URL"] = "redis://:hunter2@127.0.0.1:1/0"
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 4, p.stdout + p.stderr
    assert time.monotonic() - t0 < 30
    out = p.stdout + p.stderr
    assert "REDIS_URL: Redis at redis://:***@127.0.0.1:1/0 does not answer" in out
    assert "hunter2" not in out and "Traceback" not in out and "test_x" not in out
