"""Rule catalogue: one ``rules/SMxxx.toml`` per stable rule code.

Each file has ``code``, ``name``, ``severity`` (error|warning|info), ``fix``
(auto|assisted|none), ``summary``, ``rationale``, and an ``[example]`` table with
``before`` (code that triggers the rule) and ``after`` (code that does not, usually the
migrated or fixed form). Rules the classifier detects also have ``message`` (or a ``[messages]``
table of variants): the text of a finding, with ``{placeholders}`` its detection function in
``saqmigrate/classify/rules.py`` fills. ``kind`` says what the example is fed to: ``scan`` (default: the
snippet is scanned as ``tasks.py``), or ``none`` for rules that are not about source code
(the suite then checks only that the example is present).

Codes by area: SM1xx tasks, SM2xx schedules, SM3xx call sites, SM4xx settings and apps,
SM5xx runtime, SM6xx check, SM9xx input errors.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from saqmigrate.errors import SaqmigrateError

RULES_DIR = Path(__file__).resolve().parent / "data" / "rules"
SEVERITIES = ("error", "warning", "info")
FIX_TO_VERDICT = {"auto": "auto", "assisted": "assisted", "none": "manual"}
FIXES = ("auto", "assisted", "none")
_KNOWN_KEYS = {"code", "name", "severity", "fix", "summary", "rationale", "example", "message", "messages"}


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str
    fix: str
    summary: str
    rationale: str
    before: str = ""
    after: str = ""
    example_kind: str = "scan"
    #: what a finding says, with named ``{placeholders}`` the detection function fills
    #: (classify/rules.py); ``messages`` when the rule has several (the detector names the variant)
    message: str = ""
    messages: dict = field(default_factory=dict, compare=False, hash=False)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def render(self, variant: str | None, values: dict) -> str:
        """The finding's message: the ``message`` template (or ``messages[variant]``) with ``values``."""
        template = self.messages.get(variant) if variant else self.message
        if not template:
            raise RuleError(
                f"{self.code}.toml has no {'[messages] ' + variant if variant else 'message'} template "
                "for its detection function"
            )
        try:
            return template.format_map(values)
        except (KeyError, IndexError, ValueError) as exc:
            raise RuleError(
                f"{self.code}.toml: its message template needs {exc}, which the detection function did not give"
            ) from None

    @property
    def verdict(self) -> str:
        """What a finding of this rule makes its item: ``fix`` auto -> auto, assisted -> assisted,
        none -> manual (a person ports it) — except for info rules, whose ``none`` means "nothing
        to port, a difference to know about": assisted."""
        if self.fix == "none" and self.severity == "info":
            return "assisted"
        return FIX_TO_VERDICT[self.fix]


class RuleError(SaqmigrateError, ValueError):
    pass


def _load_one(path: Path) -> Rule:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleError(f"{path}: {exc}") from exc
    try:
        ex = data.get("example", {})
        rule = Rule(
            code=data["code"],
            name=data["name"],
            severity=data["severity"],
            fix=data["fix"],
            summary=data["summary"],
            rationale=data["rationale"],
            before=ex.get("before", ""),
            after=ex.get("after", ""),
            example_kind=ex.get("kind", "scan"),
            message=data.get("message", ""),
            messages=dict(data.get("messages", {})),
            extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
        )
    except KeyError as exc:
        raise RuleError(f"{path}: missing key {exc}") from exc
    if rule.code != path.stem:
        raise RuleError(f"{path}: code {rule.code!r} does not match the file name")
    if rule.severity not in SEVERITIES or rule.fix not in FIXES:
        raise RuleError(f"{path}: bad severity or fix")
    return rule


@lru_cache(maxsize=1)
def all_rules() -> dict[str, Rule]:
    rules = {}
    for path in sorted(RULES_DIR.glob("SM*.toml")):
        rule = _load_one(path)
        rules[rule.code] = rule
    return rules


def get(code: str) -> Rule:
    try:
        return all_rules()[code]
    except KeyError:
        raise RuleError(f"unknown rule code {code}; add saqmigrate/data/rules/{code}.toml") from None
