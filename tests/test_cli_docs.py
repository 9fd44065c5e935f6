"""docs/cli.md is generated from the click definitions (python -m saqmigrate.cli.docs) and must be
current: change a command's options or help, then regenerate."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from saqmigrate.cli import docs

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_cli_reference_is_current():
    current = DOC.read_text(encoding="utf-8")
    recorded = re.search(r"\(click (\d+\.\d+)\)", current)
    if recorded and recorded.group(1) != docs.click_version():
        # another click lays help out differently: the commands and their options must still agree
        def surface(text: str) -> tuple[set, set]:
            return set(re.findall(r"^#+ `saqmigrate [^`]+`", text, re.M)), set(re.findall(r"(?<![\w-])--[a-z][\w-]*", text))

        assert surface(current) == surface(docs.render()), "docs/cli.md is stale: run python -m saqmigrate.cli.docs"
        return
    # A fresh process: click caches each command's help option on first use, so a command invoked
    # on its own earlier in this process would render "--help" without the root's "-h".
    out = subprocess.run([sys.executable, "-m", "saqmigrate.cli.docs", "--check", str(DOC)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, "docs/cli.md is stale: run python -m saqmigrate.cli.docs (or make docs)\n" + out.stderr


def test_every_command_and_subcommand_has_a_section():
    text = docs.render()
    for name in docs.DOCS:
        assert f"### `saqmigrate {name}`" in text
    for sub in ("route history", "route set", "dlq requeue"):
        assert f"#### `saqmigrate {sub}`" in text
    assert "--color [auto|always|never]" in text


def test_check_mode_reports_a_stale_file(tmp_path, capsys):
    target = tmp_path / "cli.md"
    assert docs.main(["--check", str(target)]) == 1
    assert docs.main([str(target)]) == 0 and docs.main(["--check", str(target)]) == 0


def test_under_another_click_a_missing_option_still_fails(tmp_path, monkeypatch):
    import sys as _sys

    module = _sys.modules[__name__]
    real = DOC
    stale = tmp_path / "cli.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace("--color", "--colour"), encoding="utf-8")
    monkeypatch.setattr(docs, "click_version", lambda: "0.0")
    monkeypatch.setattr(module, "DOC", stale)
    try:
        test_cli_reference_is_current()
    except AssertionError:
        pass
    else:
        raise AssertionError("a doc missing --color passed under another click version")
    monkeypatch.setattr(module, "DOC", real)
    test_cli_reference_is_current()  # the real file agrees with the render, whatever the layout
