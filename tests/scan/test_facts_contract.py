"""The facts extract.py produces have exactly the shape index/facts.py declares (resolve.py is type-checked
against it, and the scan cache stores these dicts as they are): every key is declared, every required key
is there. A key added on one side only fails here (and must bump FACTS_VERSION)."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from saqmigrate.index import facts as F
from saqmigrate.index.extract import FACTS_VERSION, extract, extract_imports_only

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# fact key -> the TypedDict of each item (lists) or value (dicts keyed by name)
LISTS = {
    "apps": F.AppFact,
    "decorated": F.DecoratedFact,
    "registrations": F.RegistrationFact,
    "classes": F.ClassFact,
    "schedules": F.ScheduleFact,
    "calls": F.CallFact,
    "settings": F.SettingFact,
    "flask_config": F.FlaskConfigFact,
}
MAPS = {"aliases": F.AliasFact, "decorator_factories": F.DecoratorFactoryFact, "functions": F.FunctionFact}


def _keys(td: type) -> tuple[set[str], set[str]]:
    """(required, all) keys of a TypedDict, reading NotRequired[...] and total=False."""
    required, every = set(), set()
    for klass in reversed(td.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, dict)) or klass is dict:
            continue
        hints = typing.get_type_hints(klass, include_extras=True, localns=vars(F))
        own = klass.__dict__.get("__annotations__", {})
        for key in own:
            every.add(key)
            optional = typing.get_origin(hints[key]) is typing.NotRequired or not klass.__total__
            (required.discard if optional else required.add)(key)
    return required, every


def _check(value: dict, td: type, where: str) -> None:
    required, every = _keys(td)
    extra = set(value) - every
    missing = required - set(value)
    assert not extra, f"{where}: keys not declared in {td.__name__}: {sorted(extra)}"
    assert not missing, f"{where}: required keys of {td.__name__} missing: {sorted(missing)}"


def _check_module(facts: dict, where: str) -> int:
    _check(facts, F.Facts, where)
    n = 1
    for key, td in LISTS.items():
        for i, item in enumerate(facts.get(key, [])):
            _check(item, td, f"{where} {key}[{i}]")
            n += 1
    for key, td in MAPS.items():
        for name, item in facts.get(key, {}).items():
            _check(item, td, f"{where} {key}[{name}]")
            n += 1
    for i, s in enumerate(facts.get("app_attr_sets", [])):
        _check(s, F.AppTaskSet if s["attr"] == "Task" else F.AppConfigSet, f"{where} app_attr_sets[{i}]")
        if s["attr"] != "Task" and "source" in s["value"]:
            _check(s["value"]["source"], F.SourceFact, f"{where} app_attr_sets[{i}].source")
    for d in facts.get("decorated", []):
        for c in d["decorators"]:
            _check(c, F.DecoratorCandidate, f"{where} decorator {c['src']}")
        _check(d["features"], F.Features, f"{where} features of {d['function']}")
        for p in d["params"]:
            _check(p, F.ParamFact, f"{where} param {p['name']}")
    for c in facts.get("classes", []):
        for name, m in c["methods"].items():
            _check(m, F.MethodFact, f"{where} {c['name']}.{name}")
    return n


def _modules() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_fixture_module_matches_the_contract():
    checked = 0
    for path in _modules():
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError):
            continue  # the fixtures that test unreadable input
        rel = path.relative_to(FIXTURES).as_posix()
        module = rel[:-3].replace("/", ".").removesuffix(".__init__")
        is_package = path.name == "__init__.py"
        facts = extract(tree, text, module, is_package)
        assert facts["v"] == FACTS_VERSION
        checked += _check_module(dict(facts), rel)
        _check(dict(extract_imports_only(tree, module, is_package)), F.ImportFacts, f"{rel} (imports only)")
    assert checked > 200  # the fixtures have apps, tasks, schedules, calls and settings to check


def test_a_key_the_contract_does_not_declare_is_caught():
    facts = dict(extract(ast.parse("x = 1\n"), "x = 1\n", "m", False))
    facts["undeclared"] = 1
    with pytest.raises(AssertionError, match="undeclared"):
        _check_module(facts, "m.py")
