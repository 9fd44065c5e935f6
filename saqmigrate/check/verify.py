"""Verify (``check --live``): the generated SAQ code matches what the imported Celery app resolves at run time.

Off unless ``check --live --app MODULE`` is given: it imports the project's app (in a child process,
broker forced to ``memory://``), exactly as ``saqmigrate verify`` does (docs/verify.md). Each
difference is a finding SM700-SM713; differences accepted under ``[tool.saqmigrate.accept]``
(schedules) are not. An app that cannot be imported is a CheckError (exit 2, one line).
"""

from __future__ import annotations

from saqmigrate.check.base import CheckError, CheckResult, Context, add


def run(ctx: Context) -> CheckResult:
    res = CheckResult("verify")
    app = ctx.options.live_app
    if not app:
        res.status, res.summary = "skipped", "run-time comparison off (check --live --app MODULE imports the app)"
        return res
    from saqmigrate.verify import VerifyError, as_findings, run_verify

    try:
        report = run_verify(
            ctx.root,
            app,
            ctx.config,
            python=ctx.options.live_python,
            timeout=ctx.options.live_timeout,
            use_cache=ctx.options.use_cache,
            index=ctx.index,
        )
    except VerifyError as exc:
        raise CheckError(f"check --live: {exc}") from None
    for f in as_findings(report):
        add(res.findings, ctx.finding(f.rule, f.file, f.line, f.message, subject=f.subject))
    res.summary = (
        f"app {app}: {report.tasks} tasks, {report.entries} beat entries compared with the generated code "
        f"(import {report.timings.get('import_s', 0):.2f}s)"
    )
    return res
