"""A file that may hold tasks (the scan's prefilter saw a Celery trigger word) but does not parse makes
``rewrite --check``/``--diff``/``--write`` fail with exit 2 and one error line naming it, and ``--write``
writes nothing; ``--skip-unparsable`` goes on without it, as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from saqmigrate.cli.main import cli
from saqmigrate.parse import ParseFailure, decode

TASKS = "from celery import shared_task\n\n\n@shared_task\ndef add(x, y):\n    return x + y\n"
BROKEN = "from celery import shared_task\n\n\n@shared_task\ndef lost(x:\n    return x\n"
DECLARED = b'# -*- coding: utf-8 -*-\nfrom celery import shared_task\n\n\n@shared_task\ndef e():\n    return "\xe9"\n'


def _project(tmp_path: Path, **extra: str | bytes) -> Path:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "tasks.py").write_text(TASKS)
    for name, body in extra.items():
        path = root / "app" / f"{name}.py"
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_text(body)
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _run(*args: str):
    return CliRunner().invoke(cli, ["rewrite", *args], catch_exceptions=False)


@pytest.mark.parametrize("action", ["--check", "--diff", "--write"])
def test_a_candidate_file_that_does_not_parse_fails_every_action(action: str, tmp_path: Path) -> None:
    root = _project(tmp_path, broken=BROKEN, encoded=DECLARED)
    before = _snapshot(root)
    res = _run(str(root), action)
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("saqmigrate: error: ")]
    assert [ln for ln in errors if "app/broken.py: syntax error at line 5" in ln]
    assert [ln for ln in errors if "app/encoded.py: bytes not valid in utf-8" in ln]
    assert "up to date" not in res.output and "PEP 263" not in res.output
    assert "--skip-unparsable" in errors[-1]
    assert _snapshot(root) == before  # --write: nothing at all


def test_skip_unparsable_proceeds_and_reports_the_file(tmp_path: Path) -> None:
    root = _project(tmp_path, broken=BROKEN)
    res = _run(str(root), "--write", "--skip-unparsable")
    assert res.exit_code == 0, res.output
    assert "app/broken.py: syntax error at line 5" in res.stderr and "(skipped)" in res.stderr
    assert (root / "app" / "tasks_saq.py").exists()
    check = _run(str(root), "--check", "--skip-unparsable")
    assert check.exit_code == 0 and "up to date" in check.output


def test_files_without_trigger_words_or_excluded_do_not_block(tmp_path: Path) -> None:
    root = _project(tmp_path, notes="def broken(:\n    pass\n")  # no Celery word: it cannot hold a task
    assert _run(str(root), "--write").exit_code == 0
    root2 = _project(tmp_path / "two", broken=BROKEN)
    (root2 / "pyproject.toml").write_text('[tool.saqmigrate]\nexclude = ["app/broken.py"]\n')
    res = _run(str(root2), "--write")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (DECLARED, "bytes not valid in utf-8, the encoding its coding line declares (byte"),
        (b"#!/usr/bin/env python\n# coding=utf-8\nx = '\xff'\n", "bytes not valid in utf-8, the encoding its"),
        (b"\xef\xbb\xbfx = '\xe9'\n", "bytes not valid in UTF-8, which its byte order mark declares"),
        (b"x = '\xe9'\n", "not valid utf-8 (byte 5, line 1); add a PEP 263 coding line"),
        (b"x = 1\n# coding: utf-8\ny = '\xe9'\n", "add a PEP 263 coding line"),  # line 2 after code: no cookie
    ],
)
def test_the_encoding_message_says_what_the_file_declares(data: bytes, message: str) -> None:
    with pytest.raises(ParseFailure) as exc:
        decode(data)
    assert message in str(exc.value)
