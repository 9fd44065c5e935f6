"""One place per rule: a TOML file plus one registered detection function (CONTRIBUTING.md, "Add a rule").

The registry and the catalogue agree both ways, every other code has an emitter elsewhere, and the
worked example in CONTRIBUTING.md (a TOML file and a function, nothing else) is scanned for real.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import saqmigrate
from saqmigrate import rules as rulebook
from saqmigrate.classify import registry
from saqmigrate.config import Config
from saqmigrate.scan import run_scan

PKG = Path(saqmigrate.__file__).resolve().parent
REPO = PKG.parent


def test_every_detector_has_a_message_template_and_every_template_a_detector():
    detected = registry.registered_codes()
    assert len(detected) >= 40, "the classifier's detectors did not register"
    rules = rulebook.all_rules()
    no_toml = sorted(c for c in detected if c not in rules)
    assert not no_toml, f"detectors without a rule file: {no_toml}"
    no_message = sorted(c for c in detected if not (rules[c].message or rules[c].messages))
    assert not no_message, f"detectors whose TOML has no message template: {no_message}"
    orphans = sorted(c for c, r in rules.items() if (r.message or r.messages) and c not in detected)
    assert not orphans, f"TOML message templates no detector renders: {orphans}"


def test_every_other_rule_is_emitted_somewhere_in_the_package():
    """A TOML without a classifier detector names a stage that emits it: its code appears as a
    literal in the package outside the rule data (translators, check, verify, finalize, runtime)."""
    detected = registry.registered_codes()
    emitted: set[str] = set()
    for src in PKG.rglob("*.py"):
        emitted.update(re.findall(r"SM\d{3}", src.read_text(encoding="utf-8")))
    nowhere = sorted(c for c in rulebook.all_rules() if c not in detected and c not in emitted)
    assert not nowhere, f"rule files nothing emits (dead rules, or an emitter that builds the code): {nowhere}"


def test_classifier_messages_have_no_literal_rule_text():
    """The words of a classifier finding are in its TOML only: classify/ passes no message text for a
    registered code (the internal-error codes SM199/SM249 of the translators excepted)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in (PKG / "classify").glob("*.py"))
    added = set(re.findall(r"\.add\([^,]+,\s*\"(SM\d{3})\"", text))
    assert added <= {"SM199", "SM249"}, f"findings added with a literal message in classify/: {sorted(added)}"


def test_render_names_a_missing_placeholder():
    rule = rulebook.all_rules()["SM118"]
    with pytest.raises(rulebook.RuleError, match="SM118.toml.*names"):
        rule.render(None, {"subject": "t"})


def _worked_example(kind: str) -> str:
    text = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    m = re.search(rf"<!-- worked-example: {kind} -->\n```{kind}\n(.*?)```", text, re.S)
    assert m, f"CONTRIBUTING.md has no worked-example {kind} block"
    return m.group(1)


def _scan_codes(root: Path, source: str) -> set[str]:
    root.mkdir()
    (root / "tasks.py").write_text(source, encoding="utf-8")
    index, _ = run_scan(root, Config(), use_cache=False)
    return {f.rule for f in index.findings}


def test_contributing_worked_example_adds_a_rule_with_two_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The TOML and the function of CONTRIBUTING.md, and nothing else, make a working rule."""
    import tomllib

    toml_text = _worked_example("toml")
    data = tomllib.loads(toml_text)
    code = data["code"]
    assert code not in rulebook.all_rules(), f"{code} is now a real rule: pick another code for the illustration"
    rules_dir = tmp_path / "rules"
    shutil.copytree(rulebook.RULES_DIR, rules_dir)
    (rules_dir / f"{code}.toml").write_text(toml_text, encoding="utf-8")
    monkeypatch.setattr(rulebook, "RULES_DIR", rules_dir)
    rulebook.all_rules.cache_clear()
    before_count = len(registry.DETECTORS)
    try:
        namespace: dict = {}
        exec(
            "from __future__ import annotations\n"
            "from saqmigrate.classify.registry import Hit, hit, rule\n"
            "from saqmigrate.index.model import Task\n" + _worked_example("python"),
            namespace,
        )
        assert len(registry.DETECTORS) == before_count + 1
        assert code in _scan_codes(tmp_path / "before", data["example"]["before"])
        assert code not in _scan_codes(tmp_path / "after", data["example"]["after"])
        index, _ = run_scan(tmp_path / "before", Config(), use_cache=False)
        found = next(f for f in index.findings if f.rule == code)
        assert found.message == "task send email: its name contains a space; quote it in `saqmigrate route set`"
        assert found.severity == data["severity"]
    finally:
        del registry.DETECTORS[before_count:]
        monkeypatch.undo()
        rulebook.all_rules.cache_clear()


def test_sm120_scan_finding_and_rewrite_message_say_the_same(tmp_path: Path):
    """SM120 was only a rewrite message; the scan reports it too, in the words of its TOML template."""
    from saqmigrate.rewrite import compute_changes

    rule = rulebook.all_rules()["SM120"]
    (tmp_path / "tasks.py").write_text(rule.before, encoding="utf-8")
    index, _ = run_scan(tmp_path, Config(), use_cache=False)
    found = [f for f in index.findings if f.rule == "SM120"]
    assert len(found) == 1 and found[0].file == "tasks.py" and "SAQMIGRATE_CELERY_APP" in found[0].message
    messages = compute_changes(tmp_path, use_cache=False).messages
    assert f"SM120: {found[0].message}" in messages, messages
