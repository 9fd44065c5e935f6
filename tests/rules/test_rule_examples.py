"""Every rule file in saqmigrate/data/rules/ (all areas, parametrized by file, so rules added
later are covered automatically): it loads, its example behaves as documented when scanned,
suppression and ``disable`` work for it, every code the analyzer can emit has a file, and
docs/rules/ is generated from the current files.
"""

from __future__ import annotations

import io
import sys
import re
import tokenize
import tomllib
from pathlib import Path

import pytest

import saqmigrate
from saqmigrate import rules as rulebook
from saqmigrate.config import Config
from saqmigrate.rules_docs import example_file, render_all, render_rule_docs, stale
from saqmigrate.scan import run_scan

PKG = Path(saqmigrate.__file__).resolve().parent
REPO = PKG.parent
DOCS = REPO / "docs" / "rules"
RULE_FILES = sorted(rulebook.RULES_DIR.glob("SM*.toml"))
EXAMPLE_KEYS = {"requires_python_below", "before", "after", "kind", "file"}
# findings about a whole file that cannot be parsed: there is no parsed line to carry a comment
UNSUPPRESSIBLE = {"SM900": "the file does not parse, so its comments are never read"}


def _raw(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


SCAN_RULE_FILES = [p for p in RULE_FILES if _raw(p).get("example", {}).get("kind", "scan") == "scan"]


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _scan(root: Path, source: str, filename: str, config: Config | None = None) -> list:
    target = root / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source, encoding="utf-8")
    index, _ = run_scan(root, config or Config(), use_cache=False)
    return index.findings


def _summary(findings: list) -> str:
    return "; ".join(f"{f.rule}@{f.line}" for f in findings) or "no findings"


# --- the files themselves ---------------------------------------------------------------


def test_rules_folder_is_not_empty():
    assert len(RULE_FILES) >= 30, f"only {len(RULE_FILES)} rule files in {rulebook.RULES_DIR}"


@pytest.mark.parametrize("path", RULE_FILES, ids=_ids(RULE_FILES))
def test_rule_file_is_valid(path: Path):
    rules = rulebook.all_rules()
    assert path.stem in rules, f"{path.name} was not loaded by saqmigrate.rules.all_rules()"
    rule = rules[path.stem]
    assert rule.code == path.stem and re.fullmatch(r"SM\d{3}", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), f"{rule.code}: name {rule.name!r} is not kebab-case"
    assert rule.severity in rulebook.SEVERITIES
    assert rule.fix in rulebook.FIXES
    assert rule.summary.strip() and "\n" not in rule.summary.strip(), f"{rule.code}: summary must be one line"
    assert len(rule.rationale.split()) >= 20, f"{rule.code}: the rationale should explain the difference and the fix"
    assert rule.example_kind in ("scan", "none", "finalize"), (
        f"{rule.code}: [example] kind must be scan, none or finalize"
    )
    assert rule.before.strip() and rule.after.strip(), f"{rule.code}: [example] needs before and after"
    assert rule.before.strip() != rule.after.strip()
    extra = set(_raw(path).get("example", {})) - EXAMPLE_KEYS
    assert not extra, f"{rule.code}: unknown [example] key(s) {sorted(extra)}"
    assert example_file(rule.code).endswith(".py")


def test_rule_names_are_unique():
    names: dict[str, str] = {}
    for code, rule in rulebook.all_rules().items():
        assert rule.name not in names, f"{code} and {names[rule.name]} are both named {rule.name!r}"
        names[rule.name] = code


def test_every_emitted_code_has_a_rule_file():
    """A code the classifier or a translator can emit without a rule file crashes the scan."""
    sources = sorted((PKG / "classify").glob("*.py")) + sorted((PKG / "translate").glob("*.py"))
    emitted: dict[str, str] = {}
    for src in sources:
        for code in re.findall(r"[\"'](SM\d{3})[\"']", src.read_text(encoding="utf-8")):
            emitted.setdefault(code, src.relative_to(REPO).as_posix())
    assert "SM100" in emitted and "SM900" in emitted, "the code scan found nothing: has the classifier moved?"
    missing = sorted(c for c in emitted if c not in rulebook.all_rules())
    assert not missing, "no rule file for: " + ", ".join(f"{c} (emitted in {emitted[c]})" for c in missing)


def test_docs_and_classifier_give_the_same_verdict(tmp_path: Path):
    """SM163 is info with fix 'none': a difference to know, so assisted (not manual) in both places."""
    rule = rulebook.all_rules()["SM163"]
    assert (rule.severity, rule.fix, rule.verdict) == ("info", "none", "assisted")
    page = render_all()["SM163.md"]
    assert "| info | none | assisted |" in page
    before = _scan(
        tmp_path, "from celery import shared_task\n\n\n@shared_task(time_limit=5)\ndef t():\n    pass\n", "tasks.py"
    )
    assert "SM163" in {f.rule for f in before}
    index, _ = run_scan(tmp_path, Config(), use_cache=False)
    assert index.tasks[0].migratability == "assisted"


# --- the examples ---------------------------------------------------------------------


def _skip_if_syntax_is_native(rule) -> None:
    below = _example_table(rule.code).get("requires_python_below")
    if below and sys.version_info[:2] >= tuple(int(x) for x in below.split(".")):
        pytest.skip(
            f"{rule.code}'s example uses syntax this Python {sys.version_info[0]}.{sys.version_info[1]} "
            "parses natively; it only triggers on older interpreters"
        )


def _example_table(code: str) -> dict:
    import tomllib

    return tomllib.loads((rulebook.RULES_DIR / f"{code}.toml").read_text(encoding="utf-8")).get("example", {})


@pytest.mark.parametrize("path", SCAN_RULE_FILES, ids=_ids(SCAN_RULE_FILES))
def test_example_before_triggers_and_after_does_not(path: Path, tmp_path: Path):
    rule = rulebook.all_rules()[path.stem]
    _skip_if_syntax_is_native(rule)
    name = example_file(rule.code)
    before = _scan(tmp_path / "before", rule.before, name)
    assert rule.code in {f.rule for f in before}, f"{rule.code}: 'before' scanned as {name} gave {_summary(before)}"
    hit = next(f for f in before if f.rule == rule.code)
    assert hit.severity == rule.severity and hit.file == name and hit.message
    after = _scan(tmp_path / "after", rule.after, name)
    assert rule.code not in {f.rule for f in after}, f"{rule.code}: 'after' still reports it: {_summary(after)}"


def _with_suppression(source: str, lines: set[int], marker: str) -> str:
    out = source.splitlines(keepends=True)
    for n in lines:
        text = out[n - 1].rstrip("\r\n")
        ending = out[n - 1][len(text) :]
        out[n - 1] = f"{text}  {marker}{ending or chr(10)}"
    new = "".join(out)
    comments = {
        t.start[0]
        for t in tokenize.generate_tokens(io.StringIO(new).readline)
        if t.type == tokenize.COMMENT and marker in t.string
    }
    bad = sorted(lines - comments)
    assert not bad, f"reported line(s) {bad} cannot carry a comment (inside a string?): reshape the example"
    return new


@pytest.mark.parametrize("path", SCAN_RULE_FILES, ids=_ids(SCAN_RULE_FILES))
def test_ignore_comment_and_disable_remove_the_finding(path: Path, tmp_path: Path):
    rule = rulebook.all_rules()[path.stem]
    _skip_if_syntax_is_native(rule)
    name = example_file(rule.code)
    before = _scan(tmp_path / "plain", rule.before, name)
    lines = {f.line for f in before if f.rule == rule.code}
    assert lines, f"{rule.code}: 'before' does not report it: {_summary(before)}"
    others = {f.rule for f in before} - {rule.code}

    disabled = _scan(tmp_path / "disabled", rule.before, name, Config(disable=[rule.code]))
    assert rule.code not in {f.rule for f in disabled}, f"{rule.code}: Config(disable=...) did not remove it"
    assert others <= {f.rule for f in disabled}, f"{rule.code}: disabling it also removed other findings"

    if rule.code in UNSUPPRESSIBLE:
        return
    marker = f"# saqmigrate: ignore[{rule.code}]"
    source = _with_suppression(rule.before, lines, marker)
    ignored = _scan(tmp_path / "ignored", source, name)
    assert rule.code not in {f.rule for f in ignored}, (
        f"{rule.code}: '{marker}' on line(s) {sorted(lines)} did not suppress it: {_summary(ignored)}"
    )


def test_ignore_comment_only_suppresses_the_named_code(tmp_path: Path):
    rule = rulebook.all_rules()["SM101"]
    before = _scan(tmp_path / "a", rule.before, "tasks.py")
    lines = {f.line for f in before if f.rule == "SM101"}
    other = _with_suppression(rule.before, lines, "# saqmigrate: ignore[SM102]")
    assert "SM101" in {f.rule for f in _scan(tmp_path / "b", other, "tasks.py")}
    bare = _with_suppression(rule.before, lines, "# saqmigrate: ignore")
    assert "SM101" not in {f.rule for f in _scan(tmp_path / "c", bare, "tasks.py")}


# --- docs/rules -------------------------------------------------------------------------


def test_docs_are_up_to_date():
    diff = stale(DOCS)
    assert not diff, f"docs/rules is out of date ({', '.join(diff)}); run: python -m saqmigrate.rules_docs docs/rules"


def test_docs_generator_writes_every_page_and_removes_stale_ones(tmp_path: Path):
    (tmp_path / "SM000.md").write_text("an old rule\n")
    (tmp_path / "notes.md").write_text("not generated\n")
    written = render_rule_docs(tmp_path)
    names = {p.name for p in written}
    assert names == {"index.md"} | {f"{p.stem}.md" for p in RULE_FILES}
    assert not (tmp_path / "SM000.md").exists() and (tmp_path / "notes.md").exists()
    index = (tmp_path / "index.md").read_text()
    for code, rule in rulebook.all_rules().items():
        assert f"[{code}]({code}.md)" in index
        page = (tmp_path / f"{code}.md").read_text()
        assert rule.before.strip("\n") in page and rule.after.strip("\n") in page
        assert f"ignore[{code}]" in page
    assert stale(tmp_path) == []
    (tmp_path / "SM101.md").write_text("edited by hand\n")
    assert stale(tmp_path) == ["SM101.md"]
    assert render_all() == render_all()  # deterministic


# --- `saqmigrate rule`: what TODO comments in generated code point to ------------------------


def test_rule_command_explains_every_rule_and_rejects_unknown_codes():
    from click.testing import CliRunner

    from saqmigrate.cli.main import cli

    runner = CliRunner()
    for path in RULE_FILES:
        r = runner.invoke(cli, ["rule", path.stem.lower()])
        assert r.exit_code == 0 and r.output.startswith(f"# {path.stem} "), r.output
    r = runner.invoke(cli, ["rule", "SM999"])
    assert r.exit_code == 2 and "no rule" in r.output
    listed = runner.invoke(cli, ["rule", "--all"]).output.splitlines()
    assert len(listed) == len(RULE_FILES)
