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
            return set(re.findall(r"^#+ `saqmigrate [^`]+`", text, re.M)), set(
                re.findall(r"(?<![\w-])--[a-z][\w-]*", text)
            )

        assert surface(current) == surface(docs.render()), "docs/cli.md is stale: run python -m saqmigrate.cli.docs"
        return
    # A fresh process: click caches each command's help option on first use, so a command invoked
    # on its own earlier in this process would render "--help" without the root's "-h".
    out = subprocess.run(
        [sys.executable, "-m", "saqmigrate.cli.docs", "--check", str(DOC)], capture_output=True, text=True, timeout=120
    )
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


REPO = DOC.parent.parent
CITATION = re.compile(
    r"DESIGN\.md|\bfacts §|celery-saq-facts\.md|routing-design\.md|codemod-anchors\.md|shared/reference"
)


def test_docs_cite_only_what_the_repository_contains():
    """Decisions are cited from docs/adr/ (not a DESIGN.md, a facts file or an ADR outside the repo), and
    every relative Markdown link in docs/, README.md and CONTRIBUTING.md names a file that exists."""
    pages = [*sorted((REPO / "docs").rglob("*.md")), REPO / "README.md", REPO / "CONTRIBUTING.md"]
    dangling, broken = [], []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(REPO).as_posix()
        dangling += [f"{rel}: {m.group(0)}" for m in CITATION.finditer(text)]
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
            if "://" in target or target.startswith("mailto:") or not re.fullmatch(r"[\w./-]*\w[\w./-]*", target):
                continue  # a URL, or code that looks like a link (`def f[T](...)`)
            if not (page.parent / target).exists():
                broken.append(f"{rel}: {target}")
    assert not dangling, f"citations of documents outside the repository (cite docs/adr/): {dangling}"
    assert not broken, f"links to files the repository does not have: {broken}"


def test_every_adr_is_listed_in_the_index():
    adr = REPO / "docs" / "adr"
    index = (adr / "README.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in adr.glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert len(files) >= 10
    assert [f for f in files if f"]({f})" not in index] == [], "docs/adr/README.md must list every ADR"
    for f in files:
        head = (adr / f).read_text(encoding="utf-8").splitlines()[0]
        assert head.startswith(f"# {f[:4]}. "), f"{f}: the title starts with its number"
