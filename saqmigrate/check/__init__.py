"""``saqmigrate check``: the CI gate that keeps a migration on track (docs/ci.md).

One small module per check, run in this order over one shared scan and rewrite computation:

=========  ==========================================================  ============
check      fails when                                                  codes
=========  ==========================================================  ============
ratchet    Celery usage not in the committed baseline                  SM600-SM604
drift      generated SAQ code is not what ``rewrite`` writes now        SM610-SM617
schedules  a beat entry without a proven CronJob or reasoned acceptance SM620-SM622
routing    flags disagree with the code / worker (needs a flag store)   SM630-SM635
window     the window ended while Celery is still referenced           SM640-SM641
verify     (--live only) the generated code differs from what the      SM700-SM713
           imported app resolves at run time (``saqmigrate verify``)
=========  ==========================================================  ============

Exit codes (stable, saqmigrate/errors.py): 0 pass, 1 a check failed, 2 usage or internal error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from saqmigrate.check import drift, finalized, ratchet, routing, schedules, verify, window
from saqmigrate.check.base import CheckError, CheckResult, Context, Options
from saqmigrate.config import Config
from saqmigrate.errors import EXIT_FINDINGS, EXIT_OK
from saqmigrate.index.model import Finding

CHECKS = {
    "ratchet": ratchet.run,
    "drift": drift.run,
    "schedules": schedules.run,
    "routing": routing.run,
    "window": window.run,
    "finalized": finalized.run,
    "verify": verify.run,  # skipped unless --live
}

LIVE_ONLY = {"verify"}

__all__ = ["CHECKS", "CheckError", "CheckReport", "CheckResult", "Options", "run_checks"]


@dataclass
class CheckReport:
    root: str
    results: list[CheckResult] = field(default_factory=list)
    strict: bool = False
    elapsed: float = 0.0
    files: int = 0
    from_cache: int = 0

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    def failing(self, f: Finding) -> bool:
        return f.severity == "error" or (self.strict and f.severity == "warning")

    @property
    def passed(self) -> bool:
        return not any(self.failing(f) for f in self.findings)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_FINDINGS

    def counts(self) -> dict[str, int]:
        out = {"error": 0, "warning": 0, "info": 0}
        for f in self.findings:
            out[f.severity] = out.get(f.severity, 0) + 1
        return out


def _suppressed(ctx: "Context", f) -> bool:
    """A `# saqmigrate: ignore[SM6xx]` comment on the reported line of a scanned file."""
    if "scan" not in ctx.__dict__:
        return False
    sup = ctx.scan[1].suppressions.get(f.file, {})
    codes = sup.get(f.line) or sup.get(str(f.line))
    return bool(codes) and ("*" in codes or f.rule in codes)


def run_checks(
    root: Path,
    config: Config,
    options: Options | None = None,
    *,
    only: list[str] | None = None,
    skip: list[str] | None = None,
) -> CheckReport:
    """Run the selected checks; CheckError on bad input (exit 2)."""
    options = options or Options()
    started = time.perf_counter()
    unknown = sorted((set(only or []) | set(skip or [])) - set(CHECKS))
    if unknown:
        raise CheckError(f"unknown check(s): {', '.join(unknown)} (known: {', '.join(CHECKS)})")
    ctx = Context(root, config, options)
    report = CheckReport(root=str(ctx.root), strict=options.strict)
    for name, fn in CHECKS.items():
        if name in LIVE_ONLY and not options.live_app and name not in (only or []):
            continue  # imports the app: not part of the gate's report unless asked for (check --live)
        if (only and name not in only) or (skip and name in skip):
            report.results.append(CheckResult(name, "skipped", "not selected"))
            continue
        result = fn(ctx)
        result.findings = [f for f in result.findings if not _suppressed(ctx, f)]
        result.findings.sort(key=lambda f: (f.file, f.line, f.column, f.rule))
        if result.status != "skipped":
            result.status = "fail" if any(report.failing(f) for f in result.findings) else "pass"
        report.results.append(result)
    if "scan" in ctx.__dict__:
        _, stats = ctx.scan
        report.files, report.from_cache = stats.discovered, stats.from_cache
    report.elapsed = time.perf_counter() - started
    return report
