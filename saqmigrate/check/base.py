"""What every check shares: the context (one scan, one rewrite computation), findings, results.

A check is a function ``run(ctx) -> CheckResult``. It reports :class:`Finding` objects with
SM6xx codes (severity from the rule file); ``error`` findings fail the gate, ``warning``
findings fail it only with ``--strict``. Problems with the *input* of the check itself (a
bad config value, an unreadable baseline, an unreachable flag store that was asked for)
raise :class:`CheckError`: exit code 2, one line naming the file or flag and the fix.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from saqmigrate import rules as rulebook
from saqmigrate.config import Config
from saqmigrate.errors import SaqmigrateError
from saqmigrate.index.model import Finding, ProjectIndex
from saqmigrate.plan import WORKER_PACKAGE


class CheckError(SaqmigrateError):
    """Bad input to ``check`` (usage error, exit code 2); the message is one line for a person."""


@dataclass
class CheckResult:
    name: str
    status: str = "pass"  # pass | fail | skipped
    summary: str = ""  # one line: what was checked, or why it was skipped
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Options:
    today: _dt.date | None = None  # the date the window and rule expiry are judged at
    use_cache: bool = True
    mode: str | None = None  # the rewrite mode; None: the one recorded in the generated code
    redis_url: str | None = None  # flag store (routing checks)
    namespace: str = "saqmigrate"
    bootstrap: Path | None = None  # flag snapshot file (routing checks without Redis)
    strict: bool = False  # warnings fail too
    live_app: str | None = None  # check --live --app: run `saqmigrate verify` against this app
    live_python: str | None = None
    live_timeout: float = 120.0


def is_generated_path(rel: str) -> bool:
    """Files ``rewrite`` generates are not Celery usage (same rule as the rewrite plan)."""
    return rel.endswith("_saq.py") or f"/{WORKER_PACKAGE}/" in f"/{rel}"


class Context:
    """One check run: the scan and the rewrite computation are done once and shared."""

    def __init__(self, root: Path, config: Config, options: Options):
        self.root = root.resolve()
        self.config = config
        self.options = options
        self.disabled = set(config.disable)
        self.absorbed: set[str] = set()  # subjects a ratchet finding already covers
        self._catalogue = rulebook.all_rules()

    @property
    def today(self) -> _dt.date:
        return self.options.today or _dt.date.today()

    @property
    def now(self) -> float:
        if self.options.today is None:
            return time.time()
        return _dt.datetime.combine(self.options.today, _dt.time(), _dt.timezone.utc).timestamp()

    @cached_property
    def scan(self):
        from saqmigrate.scan import run_scan

        return run_scan(self.root, self.config, use_cache=self.options.use_cache)

    @property
    def index(self) -> ProjectIndex:
        return self.scan[0]

    @cached_property
    def rewrite(self):
        from saqmigrate.rewrite import compute_changes

        return compute_changes(
            self.root, self.config, mode=self.options.mode, use_cache=self.options.use_cache, index=self.index
        )

    def celery_tasks(self):
        return [t for t in self.index.tasks if not is_generated_path(t.file)]

    def celery_schedules(self):
        return [s for s in self.index.schedules if not is_generated_path(s.file)]

    def celery_calls(self):
        return [c for c in self.index.calls if not is_generated_path(c.file)]

    def rel(self, path: str | Path | None) -> str:
        """A path relative to the checked root (``/``-separated), for findings."""
        if not path:
            return ""
        p = Path(path)
        if not p.is_absolute():
            return p.as_posix()
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return os.path.relpath(p.resolve(), self.root).replace(os.sep, "/")

    @property
    def config_rel(self) -> str:
        return self.rel(self.config.source) if self.config.source else "pyproject.toml"

    def config_key_line(self, key: str) -> int:
        """The line of ``key = ...`` (quoted or bare) in [tool.saqmigrate...] (1 if not found)."""
        for needle in (f'"{key}"', f"'{key}'", f"{key} =", f"{key}="):
            line = self.config_line(needle, default=0)
            if line:
                return line
        return 1

    def config_line(self, *needles: str, default: int = 1) -> int:
        """The first line of the config file containing all ``needles`` (``default`` if none does)."""
        if not self.config.source:
            return default
        try:
            lines = Path(self.config.source).read_text(encoding="utf-8").splitlines()
        except OSError:
            return default
        in_section = False
        for i, line in enumerate(lines, 1):
            stripped = line.strip()
            if stripped.startswith("["):
                in_section = stripped.startswith("[tool.saqmigrate")
                continue
            if in_section and all(n in line for n in needles):
                return i
        return default

    def finding(
        self, code: str, file: str, line: int, message: str, subject: str = "", column: int = 0
    ) -> Finding | None:
        if code in self.disabled:
            return None
        rule = self._catalogue.get(code)
        if rule is None:
            raise rulebook.RuleError(f"unknown rule code {code}: add saqmigrate/data/rules/{code}.toml")
        return Finding(
            rule=code,
            severity=rule.severity,
            file=file,
            line=max(1, int(line or 1)),
            column=column,
            message=message,
            subject=subject,
        )


def add(findings: list[Finding], f: Finding | None) -> None:
    if f is not None:
        findings.append(f)
