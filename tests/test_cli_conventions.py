"""CLI habits shared by every command (issue 15): --color and NO_COLOR, --format spellings,
ISO times in `route history`, and the analyzer commands naming the `cli` extra."""

from __future__ import annotations

import json
import re

import click
import pytest
from click.testing import CliRunner

from saqmigrate.cli.common import format_option
from saqmigrate.cli.main import cli

ANSI = "\x1b["


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_color_never_always_and_no_color(fixtures_dir):
    project = str(fixtures_dir / "hard")
    plain = invoke("--color", "never", "scan", project, "--no-cache")
    assert plain.exit_code == 0 and ANSI not in plain.output
    forced = invoke("--color", "always", "scan", project, "--no-cache")
    assert forced.exit_code == 0 and ANSI in forced.output  # even when piped (CliRunner is no terminal)
    assert ANSI in invoke("--color", "always", "scan", project, "--no-cache", env={"NO_COLOR": "1"}).output  # flag wins
    no_color = invoke("scan", project, "--no-cache", env={"NO_COLOR": "1", "FORCE_COLOR": ""})
    assert no_color.exit_code == 0 and ANSI not in no_color.output


def test_color_choice_is_validated():
    out = CliRunner().invoke(cli, ["--color", "sometimes", "rule", "--all"])
    assert out.exit_code == 2 and "sometimes" in out.output


def test_format_text_everywhere_and_old_spellings_kept(fixtures_dir, tmp_path):
    for command in ("scan", "check", "schedules", "rule", "verify", "demo"):
        help_text = invoke(command, "--help").output
        assert re.search(r"--format \[text\|", help_text), command
    for group, sub in (("dlq", "list"), ("route", "history")):
        assert "text" in invoke(group, sub, "--help").output
    project = str(fixtures_dir / "pydotorg")
    text = invoke("check", project, "--only", "window", "--format", "text")
    human = invoke("check", project, "--only", "window", "--format", "human")
    assert (text.exit_code, text.output) == (human.exit_code, human.output)


def test_format_option_maps_aliases_to_the_canonical_name():
    @click.command()
    @format_option("text", "json", aliases=("table", "human"))
    def show(fmt: str) -> None:
        click.echo(fmt)

    runner = CliRunner()
    assert [
        runner.invoke(show, args).output.strip()
        for args in ([], ["--format", "table"], ["--format", "human"], ["--format", "json"])
    ] == ["text"] * 3 + ["json"]
    assert "table = text" in runner.invoke(show, ["--help"]).output


def test_scan_verbose_lists_every_module(fixtures_dir):
    project = str(fixtures_dir / "hard")
    short = invoke("scan", project, "--no-cache").output
    full = invoke("scan", project, "--no-cache", "-v").output
    assert "more modules (use --verbose" in short and "more modules" not in full
    assert len(full.splitlines()) > len(short.splitlines())
    # and every finding, info ones included (attack 41 #15: -v hid the info findings)
    info = [ln for ln in full.splitlines() if ln.lstrip().startswith("SM") and "│" in ln]
    assert len(info) > len([ln for ln in short.splitlines() if ln.lstrip().startswith("SM") and "│" in ln])
    assert "Findings (" in full and "Top blockers" in short


def test_route_history_prints_iso_times(redis_url, unique_name):
    base = ["route", "--redis-url", redis_url, "--namespace", unique_name]
    assert invoke(*base, "kill", "--reason", "drill").exit_code == 0
    text = invoke(*base, "history")
    assert text.exit_code == 0
    assert re.search(r"^v\d+  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  ", text.output, re.M), text.output
    [entry] = json.loads(invoke(*base, "history", "--format", "json").output)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"]) and float(entry["ts"]) > 0
    assert json.loads(invoke(*base[:1], "--format", "json", *base[1:], "history").output) == [entry]


def test_route_history_says_what_changed_in_words(redis_url, unique_name):
    """Rules read as `celery -> saq 30%`, owners as `owner saq`, the mode as its name; the stored JSON
    (with epoch `updated_at`) only under --format json (attack 41 #13)."""
    base = ["route", "--redis-url", redis_url, "--namespace", unique_name]
    assert invoke(*base, "set", "proj.a", "celery", "--reason", "start").exit_code == 0
    r = invoke(*base, "set", "proj.a", "saq", "--percent", "30", "--reason", "ramp", "--force")
    assert r.exit_code == 0, r.output
    assert invoke(*base, "schedules", "nightly", "--owner", "celery", "--reason", "pin").exit_code == 0
    assert invoke(*base, "kill", "--reason", "drill").exit_code == 0
    out = invoke(*base, "history").output
    assert "rule:proj.a: - -> celery  (start)" in out, out
    assert "rule:proj.a: celery -> saq 30%  (ramp)" in out, out
    assert "-> owner celery  (pin)" in out and "-> force-celery  (drill)" in out, out
    assert "updated_at" not in out and "{" not in out, out


@pytest.mark.parametrize("args", [["--color", "never", "rule", "SM101"], ["rule", "SM101", "--format", "text"]])
def test_rule_works_with_the_shared_options(args):
    out = invoke(*args)
    assert out.exit_code == 0 and out.output.startswith("# SM101")


@pytest.mark.parametrize("to_file", [False, True], ids=["piped", "dash-o"])
def test_piped_reports_never_cut_paths(tmp_path, to_file):
    """Piped into a CI log or written with -o (not a terminal), a long path and its line number arrive
    whole, and no column is dropped to make room (issue 15; attack 41 #3: a 190-character path lost its
    :line, the rule and message columns, and the readiness columns)."""
    import subprocess
    import sys

    parts = ["a_rather_long_package_name", "with_a_nested_module_folder_whose_name_goes_on", "and_more_levels"]
    parts += ["because_real_projects_nest_deeply_sometimes"]
    deep = tmp_path.joinpath(*parts)
    deep.mkdir(parents=True)
    (deep / "tasks_for_the_reporting_pipeline_of_the_quarterly_numbers.py").write_text(
        "from celery import shared_task\n\n\n@shared_task(soft_time_limit=3)\ndef a_task_with_a_long_name():\n"
        "    return 1\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "COLUMNS"}
    out = tmp_path / "report.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "saqmigrate", "scan", str(tmp_path), *(["-o", str(out)] if to_file else [])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    text = out.read_text() if to_file else proc.stdout
    rel = "/".join(parts) + "/tasks_for_the_reporting_pipeline_of_the_quarterly_numbers.py"
    assert len(rel) > 190
    lines = text.splitlines()
    blocker = next(line for line in lines if f"{rel}:4" in line)
    assert "SM151" in blocker and "soft_time_limit=3" in blocker, text  # rule, location, message: one line
    readiness = next(line for line in lines if line.lstrip().startswith(rel + " "))
    assert readiness.split()[-1] == "0%" or readiness.rstrip().endswith("%"), readiness  # the "ready" column
    name = "tasks_for_the_reporting_pipeline_of_the_quarterly_numbers.a_task_with_a_long_name"  # no __init__.py
    assert any(line.lstrip().startswith(name + " ") for line in lines), text  # the native table's task column
    assert "…" not in text


def test_route_subcommands_take_format_where_users_put_it(redis_url):
    """`route show --format json` works like `route --format json show` (issue 15)."""
    import json

    from click.testing import CliRunner

    from saqmigrate.cli.commands.route import command

    after = CliRunner().invoke(
        command, ["--redis-url", redis_url, "--namespace", "fmt-test", "show", "--format", "json"]
    )
    before = CliRunner().invoke(
        command, ["--redis-url", redis_url, "--namespace", "fmt-test", "--format", "json", "show"]
    )
    assert after.exit_code == 0 and before.exit_code == 0, after.output
    assert json.loads(after.output) == json.loads(before.output)


# --- -q/--quiet and -v/--verbose: declared once (cli/common.py), the same meaning everywhere -----------

QUIET_COMMANDS = [
    "route compare",
    "scan",
    "check",
    "rewrite",
    "finalize",
    "verify",
    "schedules",
    "baseline",
    "route show",
    "route status",
    "route history",
    "dlq list",
]
VERBOSE_COMMANDS = ["scan", "check", "dlq list"]  # only where -v adds per-item detail (docs/cli.md)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def copy_fixture(fixtures_dir, tmp_path, name: str):
    import shutil

    root = tmp_path / name
    shutil.copytree(fixtures_dir / name, root)
    return root


def test_quiet_and_verbose_are_declared_where_documented():
    for spelled in QUIET_COMMANDS:
        help_text = invoke(*spelled.split(), "--help").output
        assert "-q, --quiet" in help_text, spelled
        assert ("-v, --verbose" in help_text) == (spelled in VERBOSE_COMMANDS), spelled
    assert "-v, --verbose" not in invoke("rewrite", "--help").output
    assert invoke("rewrite", ".", "-v").exit_code == 2  # no -v where it would change nothing


@pytest.mark.parametrize("spelled", VERBOSE_COMMANDS)
@pytest.mark.parametrize("order", [("-q", "-v"), ("-v", "-q"), ("--quiet", "--verbose")])
def test_quiet_with_verbose_is_one_line_usage_error(spelled, order, fixtures_dir):
    group = ["dlq", "--redis-url", "redis://127.0.0.1:6379/6"] if spelled == "dlq list" else []
    args = [*group, *spelled.split()[len(group) and 1 :], *([] if group else [str(fixtures_dir / "hard")]), *order]
    out = invoke(*args)
    assert out.exit_code == 2, out.output
    assert out.output == "saqmigrate: error: -q/--quiet and -v/--verbose exclude each other: give one\n"


def test_scan_quiet_prints_the_summary_line_and_keeps_the_exit_code(fixtures_dir):
    project = str(fixtures_dir / "hard")
    full = invoke("scan", project, "--no-cache", "--fail-on", "error")
    quiet = invoke("scan", project, "--no-cache", "--fail-on", "error", "-q")
    assert full.exit_code == quiet.exit_code == 1  # hard has error findings
    [line] = lines(quiet.output)
    assert re.fullmatch(r"\d+ findings \(\d+ errors, \d+ warnings, \d+ info\)\. Details: .*", line), line
    assert line in " ".join(full.output.split()) and len(lines(full.output)) > 10
    # machine formats are the same with or without --quiet
    assert (
        invoke("scan", project, "--format", "json", "-q").stdout == invoke("scan", project, "--format", "json").stdout
    )


def test_scan_quiet_follows_color(fixtures_dir):
    project = str(fixtures_dir / "hard")
    assert ANSI in invoke("--color", "always", "scan", project, "-q").output
    assert ANSI not in invoke("--color", "never", "scan", project, "-q").output


def _no_time(text: str) -> str:
    return re.sub(r"in \d+\.\d\ds", "in Ts", text)


@pytest.mark.parametrize("name,code", [("check_midmigration", 0), ("hard", 1)])
def test_check_quiet_prints_the_verdict_line_only(fixtures_dir, name, code):
    project = str(fixtures_dir / name)
    full = invoke("check", project)
    quiet = invoke("check", project, "-q")
    assert full.exit_code == quiet.exit_code == code, full.output
    [line] = lines(quiet.output)
    assert line.startswith("check passed" if code == 0 else "check failed:"), line
    assert _no_time(line) == _no_time(lines(full.output)[-1])


def test_rewrite_quiet_each_action(fixtures_dir, tmp_path):
    root = str(copy_fixture(fixtures_dir, tmp_path, "pydotorg"))
    full = invoke("rewrite", root)
    assert full.exit_code == 1 and "+++ b/" in full.output  # --diff (the default) with changes pending: exit 1
    diff = invoke("rewrite", root, "-q")
    assert diff.exit_code == 1
    [line] = lines(diff.output)
    assert re.fullmatch(r"\d+ file\(s\) would change", line) and line in full.output
    check = invoke("rewrite", root, "--check", "-q")
    assert check.exit_code == 1 and lines(check.output) == [line]
    assert "would create:" in invoke("rewrite", root, "--check").output
    write = invoke("rewrite", root, "--write", "-q")
    assert write.exit_code == 0 and lines(write.output) == [f"rewrite: {line.split()[0]} file(s) written"]
    assert invoke("rewrite", root, "--diff", "-q").exit_code == 0  # nothing pending
    done = invoke("rewrite", root, "--check", "-q")
    assert done.exit_code == 0 and lines(done.output) == ["rewrite is up to date"]


def test_finalize_quiet_and_diff_exit_code(fixtures_dir, tmp_path):
    root = copy_fixture(fixtures_dir, tmp_path, "pydotorg")
    assert invoke("rewrite", str(root), "--write").exit_code == 0
    full = invoke("finalize", str(root))
    assert full.exit_code == 1 and "+++ b/" in full.output  # --diff with changes pending: exit 1
    for action in ([], ["--diff"], ["--check"]):
        quiet = invoke("finalize", str(root), *action, "-q")
        assert quiet.exit_code == 1
        [line] = lines(quiet.output)
        assert re.fullmatch(r"\d+ file\(s\) would change; \d+ place\(s\) finalize leaves to you", line), line
        assert line in full.output
    assert len(lines(full.output)) > 3
    # --write: what --force skips stays (a forced unsafe write is never silent), the file list goes
    forced = CliRunner().invoke(
        cli, ["finalize", str(root), "--write", "--force", "-q"], env={"CELERY_BROKER_URL": None}
    )
    assert forced.exit_code == 0, forced.output
    assert "skipped (--force): Celery's queues are not proven drained" in forced.output
    assert re.search(r"^finalize: done \(\d+ file\(s\) written\)\. ", forced.output, re.M), forced.output
    assert not re.search(r"^(updat|delet|creat)ed: ", forced.output, re.M)


def test_schedules_quiet(fixtures_dir):
    project = str(fixtures_dir / "pydotorg")
    full, quiet = invoke("schedules", project), invoke("schedules", project, "-q")
    assert full.exit_code == quiet.exit_code == 0
    assert lines(quiet.output) == [lines(full.output)[-1]] and lines(quiet.output)[0].startswith("5 entries, ")
    assert json.loads(invoke("schedules", project, "--format", "json", "-q").output)["schedules"]
    inexact = invoke("schedules", str(fixtures_dir / "hard"), "--fail-on-inexact", "-q")
    assert inexact.exit_code == invoke("schedules", str(fixtures_dir / "hard"), "--fail-on-inexact").exit_code == 1


def test_baseline_quiet(fixtures_dir, tmp_path):
    loud_root = copy_fixture(fixtures_dir, tmp_path / "loud", "hard")
    quiet_root = copy_fixture(fixtures_dir, tmp_path / "quiet", "hard")
    loud, quiet = invoke("baseline", str(loud_root)), invoke("baseline", str(quiet_root), "-q")
    assert loud.exit_code == quiet.exit_code == 0
    assert any(line.startswith("+ ") for line in lines(loud.output))
    [line] = lines(quiet.output)
    assert line.startswith("wrote .saqmigrate-baseline.json: ") and line == lines(loud.output)[-1]
    assert (quiet_root / ".saqmigrate-baseline.json").read_text() == (
        loud_root / ".saqmigrate-baseline.json"
    ).read_text()
    again = invoke("baseline", str(quiet_root), "-q")
    assert again.exit_code == 2 and lines(again.output)[0].startswith("saqmigrate: error: ")  # errors stay


def test_verify_quiet(fixtures_dir, tmp_path):
    root = copy_fixture(fixtures_dir, tmp_path, "verify_clean")
    assert invoke("rewrite", str(root), "--write").exit_code == 0
    import subprocess
    import sys

    def run(*a: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "saqmigrate", "verify", ".", "--app", "shop.celery", *a]
        return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=120)

    full, quiet = run(), run("-q")
    assert full.returncode == quiet.returncode == 0, full.stdout + full.stderr
    [line] = lines(quiet.stdout)
    assert line.startswith("5 tasks, 3 beat entries compared: all equal") and quiet.stderr == ""
    assert re.sub(r"[\d.]+ s", "T s", line) == re.sub(r"[\d.]+ s", "T s", lines(full.stdout)[-1])


def scratch(redis_url: str) -> str:
    """This file's own Redis database (6) on the test Redis, so parallel work does not clash."""
    return redis_url.rsplit("/", 1)[0] + "/6"


def drop(url: str, unique: str) -> None:
    import redis

    r = redis.Redis.from_url(url)
    for key in r.scan_iter(f"*{unique}*"):
        r.delete(key)


@pytest.fixture
def scratch_url(redis_url, unique_name):
    url = scratch(redis_url)
    yield url
    drop(url, unique_name)


def test_route_quiet(scratch_url, unique_name):
    base = ["route", "--redis-url", scratch_url, "--namespace", unique_name]
    assert invoke(*base, "set", "proj.tasks.a", "celery", "--reason", "drill").exit_code == 0
    assert invoke(*base, "kill", "--reason", "drill").exit_code == 0
    show = invoke(*base, "show", "-q")
    assert show.exit_code == 0 and lines(show.output) == ["flag version 2   mode force-celery   1 rule(s)"]
    assert len(lines(invoke(*base, "show").output)) > 1
    status = invoke(*base, "status", "-q")
    assert status.exit_code == 0 and len(lines(status.output)) == 1 and "window" in status.output
    history = invoke(*base, "history", "-q")
    assert history.exit_code == 0
    assert re.fullmatch(r"2 change\(s\) shown, newest v2 at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", history.output)
    assert len(lines(invoke(*base, "history").output)) == 2
    assert json.loads(invoke(*base, "show", "-q", "--format", "json").output)["mode"] == "force-celery"


def test_dlq_list_quiet_and_verbose(scratch_url, unique_name):
    import asyncio

    from saq import Job

    from saqmigrate.runtime.dlq import DeadLetter, DeadLetterStore
    from saqmigrate.runtime.worker import make_queue

    url = scratch_url
    prefix = f"saqmigrate:{{{unique_name}}}:v1:dlq"
    reason = "ValueError: " + "the upstream answered with something long " * 4

    async def seed() -> None:
        store, queue = DeadLetterStore.from_url(url, prefix), make_queue(unique_name, url)
        try:
            job = Job("send_email", kwargs={"n": 1}, retries=1, queue=queue)
            job.attempts, job.started = 1, 1_700_000_000_000
            assert await store.add(
                DeadLetter.from_job(
                    job,
                    status="failed",
                    error=f"Traceback...\n{reason}\n",
                    reason="failed",
                    completed_ms=1_700_000_000_500,
                )
            )
        finally:
            await store.close()
            await queue.disconnect()

    asyncio.run(seed())
    base = ["dlq", "--redis-url", url, "--prefix", prefix, "list"]
    full, quiet, verbose = invoke(*base), invoke(*base, "-q"), invoke(*base, "-v")
    assert full.exit_code == quiet.exit_code == verbose.exit_code == 0
    assert lines(quiet.output) == ["1 dead letter(s)"]
    assert reason.strip() not in full.output and reason[:80] in full.output  # cut at 80 by default
    assert reason.strip() in verbose.output


def test_scan_takes_a_python_file(fixtures_dir):
    """`scan path/to/file.py` like `ruff check file.py`: the project is scanned for context, the report
    lists that file only, the same items a scan of the folder lists for it."""
    project = fixtures_dir / "hard"
    whole = json.loads(invoke("scan", str(project), "--format", "json").stdout)
    one = invoke("scan", str(project / "proj" / "mail" / "tasks.py"), "--format", "json")
    assert one.exit_code == 0, one.output
    doc = json.loads(one.stdout)
    rel = "proj/mail/tasks.py"
    for key in ("tasks", "schedules", "calls", "findings"):
        assert doc[key] == [item for item in whole[key] if item["file"] == rel], key
    assert doc["tasks"] and doc["files_scanned"] == 1
    assert doc["summary"]["findings"]["total"] == len(doc["findings"])
    text = invoke("scan", str(project / "proj" / "mail" / "tasks.py"), "--no-cache")
    assert text.exit_code == 0 and rel in text.output
    bad = invoke("scan", str(project / "EXPECTED.md"))
    assert bad.exit_code == 2 and bad.output.startswith("saqmigrate: error: ") and "not a Python file" in bad.output


def test_route_compare_quiet(scratch_url, unique_name):
    """One line with the verdict counts; the table and its per-task reasons only without -q."""
    import time

    from saqmigrate.runtime import outcomes as O

    url = scratch_url
    rec = O.OutcomeRecorder(url, unique_name, bucket_seconds=60, flush_interval=0, metrics=None)
    now = time.time()
    for i in range(60):
        for _ in range(10):
            rec.record("shop.tasks.bad", "celery", O.SUCCESS, duration=0.1, wait=0.02, now=now - 300)
        rec.record("shop.tasks.bad", "saq", O.FAILURE if i % 10 < 3 else O.SUCCESS, duration=0.1, now=now - 60)
    assert rec.flush()
    base = ["route", "--redis-url", url, "--namespace", unique_name, "compare"]
    full, quiet = invoke(*base), invoke(*base, "-q")
    assert full.exit_code == quiet.exit_code == 0, full.output
    assert "FAIL" in full.output and len(lines(full.output)) > 3
    assert quiet.output == "1 task(s) compared over the last 1h: 1 fail\n"


def test_scan_of_an_excluded_file_says_so(tmp_path):
    """A file the project's [tool.saqmigrate] exclude leaves out is one error line, not an empty report."""
    (tmp_path / "pyproject.toml").write_text('[tool.saqmigrate]\nexclude = ["pkg/skip.py"]\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    task = "from celery import shared_task\n\n\n@shared_task\ndef t():\n    return 1\n"
    for name in ("skip.py", "keep.py"):
        (tmp_path / "pkg" / name).write_text(task)
    (tmp_path / "pkg" / "plain.py").write_text("x = 1\n")
    skipped = invoke("scan", str(tmp_path / "pkg" / "skip.py"), "--no-cache")
    assert skipped.exit_code == 2 and lines(skipped.output) == [
        f"saqmigrate: error: {tmp_path / 'pkg' / 'skip.py'}: not scanned: excluded in {tmp_path} (by "
        "[tool.saqmigrate] exclude/include, .gitignore or a build/virtualenv folder); scan the folder to see what "
        "is included"
    ]
    kept = json.loads(invoke("scan", str(tmp_path / "pkg" / "keep.py"), "--no-cache", "--format", "json").stdout)
    assert [(t["name"], t["file"]) for t in kept["tasks"]] == [("pkg.keep.t", "pkg/keep.py")]
    plain = invoke("scan", str(tmp_path / "pkg" / "plain.py"), "--no-cache", "-q")  # no Celery usage: an empty report
    assert plain.exit_code == 0 and plain.output.startswith("0 findings (")


def test_group_options_and_color_are_accepted_after_the_subcommand(redis_url, unique_name, fixtures_dir):
    """`route show --redis-url X`, `dlq list --redis-url X`, `scan PATH --color never` (attack 41 #8):
    options work where users put them, declared once (cli/common.py, cli/main.py)."""
    r = invoke("route", "show", "--redis-url", redis_url, "--namespace", unique_name)
    assert r.exit_code == 0 and "flag version 0" in r.output, r.output
    r = invoke("dlq", "list", "--redis-url", redis_url, "--prefix", f"dlq-{unique_name}")
    assert r.exit_code == 0 and "no dead letters" in r.output, r.output
    r = invoke("dlq", "list", "--redis-url", "http://nope")
    assert r.exit_code == 2 and "is not a Redis URL" in r.output
    plain = invoke("scan", str(fixtures_dir / "pydotorg"), "--color", "never")
    forced = invoke("scan", str(fixtures_dir / "pydotorg"), "--color", "always")
    assert plain.exit_code == forced.exit_code == 0
    assert ANSI not in plain.output and ANSI in forced.output
    later = invoke("--color", "always", "scan", str(fixtures_dir / "pydotorg"), "--color", "never")
    assert ANSI not in later.output  # the one after the command wins


def test_rewrite_and_finalize_take_the_shared_color_option(fixtures_dir, tmp_path):
    """`rewrite --color` was a --color/--no-color flag of its own; now --color auto|always|never means
    what it means everywhere (attack 41 #8), and --no-color is still accepted."""
    import shutil

    root = tmp_path / "p"
    shutil.copytree(fixtures_dir / "pydotorg", root)
    forced = invoke("rewrite", str(root), "--diff", "--color", "always")
    plain = invoke("rewrite", str(root), "--diff", "--color", "never")
    old = invoke("rewrite", str(root), "--diff", "--no-color")
    assert forced.exit_code == plain.exit_code == old.exit_code == 1
    assert ANSI in forced.output and ANSI not in plain.output and ANSI not in old.output
    assert invoke("rewrite", str(root), "--diff", "--color", "sometimes").exit_code == 2
