"""``saqmigrate verify``: prove the generated SAQ code against Celery's own run-time truth.

The static scan never imports the project; some facts exist only at run time (a queue read from
settings or the environment, ``task_routes`` as a function, beat entries built in a loop, exception
classes imported from libraries, tasks registered by plugins). ``verify`` imports the app — opt-in,
in a child process with a timeout (``probe.py``), broker forced to ``memory://`` — reads what Celery
resolved, and compares it with what ``rewrite`` generated (``generated.py`` reads it statically;
``compare.py`` is the pure comparison). docs/verify.md.

Exit codes: 0 everything equal, 1 differences, 2 the app could not be imported (one line why) or
the generated code could not be found/read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from saqmigrate.errors import EXIT_FINDINGS, EXIT_OK, SaqmigrateError
from saqmigrate.verify.compare import Difference, Locations, compare, resolve_requests
from saqmigrate.verify.generated import GeneratedError, find_registry, read_generated

SCHEMA = "saqmigrate.verify/1"
PROBE = Path(__file__).resolve().parent / "probe.py"
DEFAULT_TIMEOUT = 120.0


class VerifyError(SaqmigrateError):
    """verify could not run (exit 2); the message is one line for a person."""


@dataclass
class VerifyReport:
    root: str
    app: str
    registry: str
    differences: list[Difference] = field(default_factory=list)
    tasks: int = 0
    entries: int = 0
    python: str = ""
    celery: str = ""
    timezone: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    @property
    def counted(self) -> list[Difference]:
        return [d for d in self.differences if not d.accepted]

    @property
    def exit_code(self) -> int:
        return EXIT_FINDINGS if self.counted else EXIT_OK

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "root": self.root,
            "app": self.app,
            "registry": self.registry,
            "equal": not self.counted,
            "summary": {
                "tasks": self.tasks,
                "beat_entries": self.entries,
                "differences": len(self.counted),
                "accepted": len(self.differences) - len(self.counted),
            },
            "runtime": {"python": self.python, "celery": self.celery, "timezone": self.timezone},
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "differences": [d.to_json() for d in self.differences],
        }


# ------------------------------------------------------------------ the child process


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run_probe(
    root: Path,
    app_spec: str,
    request: dict,
    *,
    python: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep_broker: bool = False,
) -> dict:
    """Import the app in a child process and return the probe's document; VerifyError when it cannot."""
    exe = python or sys.executable
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["SAQMIGRATE_ROUTING"] = "0"  # the generated routing hook would open the flag store
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # verify writes nothing into the project
    if not keep_broker:
        env["CELERY_BROKER_URL"] = "memory://"  # Celery's Settings prefer these over the app's config
        env["CELERY_RESULT_BACKEND"] = "cache+memory://"
    with tempfile.TemporaryDirectory(prefix="saqmigrate-verify-") as tmp:
        out_path = os.path.join(tmp, "probe.json")
        in_path = os.path.join(tmp, "request.json")
        with open(in_path, "w", encoding="utf-8") as fh:
            json.dump(dict(request, root=str(root), keep_broker=keep_broker), fh)
        try:
            proc = subprocess.run(
                [exe, str(PROBE), out_path, app_spec, in_path],
                cwd=str(root),
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
            )
        except FileNotFoundError:
            raise VerifyError(f"--python {exe}: no such interpreter") from None
        except PermissionError:
            raise VerifyError(f"--python {exe}: not executable") from None
        except subprocess.TimeoutExpired:
            raise VerifyError(
                f"could not import the app: {app_spec} did not finish importing within {timeout:g} s "
                "(raise --timeout, or find what blocks at import: a network call, a prompt)"
            ) from None
        doc = None
        if os.path.exists(out_path):
            try:
                with open(out_path, encoding="utf-8") as fh:
                    doc = json.load(fh)
            except (OSError, ValueError):
                doc = None
    if doc is None:
        why = _last_line(proc.stderr) or _last_line(proc.stdout) or f"the child exited with status {proc.returncode}"
        if "No module named 'celery'" in why:
            why += f" (the interpreter {exe} has no Celery: pass --python with the project's)"
        raise VerifyError(f"could not import the app: {why}")
    err = doc.get("error")
    if err:
        stage = err.get("stage", "import")
        prefix = (
            "could not import the app"
            if stage in ("import", "configure", "django.setup()", "import task modules")
            else f"could not {stage}"
        )
        msg = err.get("message") or _last_line(proc.stderr)
        if stage == "import task modules":
            msg = f"{msg} (while importing the task modules)"
        raise VerifyError(f"{prefix}: {msg}")
    return doc


# ------------------------------------------------------------------ the scan side


def locations(index, root: Path) -> Locations:
    from saqmigrate.check.base import is_generated_path

    loc = Locations()
    for group in (index.settings, index.schedules, index.tasks, index.apps):
        for item in group:
            if not is_generated_path(item.file):
                loc.modules.setdefault(item.module, (item.file, 1))
    for t in index.tasks:
        if is_generated_path(t.file):
            continue
        if t.name:
            loc.tasks.setdefault(t.name, (t.file, t.line))
            loc.self_retry[t.name] = bool(t.features.get("self_retry"))
        else:
            loc.modules[t.module] = (t.file, t.line)
    for s in index.schedules:
        if is_generated_path(s.file):
            continue
        if loc.beat_file is None:
            loc.beat_file = (s.file, s.line)
        if s.entry and not s.in_loop:
            loc.entries.setdefault(s.entry, (s.file, s.line))
        if isinstance(s.task, str):
            loc.entry_tasks.setdefault(s.task, (s.file, s.line))
    if loc.beat_file is None:
        for st in index.settings:
            if "beat_schedule" in st.name and not is_generated_path(st.file):
                loc.beat_file = (st.file, st.line)
                break
    apps = [a for a in index.apps if not is_generated_path(a.file)]
    if apps:
        loc.app = (apps[0].file, apps[0].line)
    return loc


def run_verify(
    root: Path,
    app_spec: str,
    config,
    *,
    python: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    keep_broker: bool = False,
    use_cache: bool = True,
    index=None,
) -> VerifyReport:
    """``index``: a scan already made of ``root`` (``check --live`` shares its own)."""
    from saqmigrate.plan import build_plan
    from saqmigrate.scan import run_scan

    started = time.perf_counter()
    root = root.resolve()
    if index is None:
        index, _ = run_scan(root, config, use_cache=use_cache)
    try:
        package_rel = build_plan(index).package_rel
    except Exception:  # noqa: BLE001 - the glob below still finds a registry
        package_rel = None
    registry = find_registry(root, package_rel)
    if registry is None:
        raise VerifyError(f"{root}: no generated saq_worker/registry.py: run `saqmigrate rewrite --write` first")
    try:
        gen = read_generated(root, registry)
    except GeneratedError as exc:
        raise VerifyError(str(exc)) from None
    static_s = time.perf_counter() - started
    t_child = time.perf_counter()
    doc = run_probe(
        root, app_spec, {"resolve": resolve_requests(gen)}, python=python, timeout=timeout, keep_broker=keep_broker
    )
    child_s = time.perf_counter() - t_child
    t_cmp = time.perf_counter()
    diffs = compare(doc, gen, locations(index, root), accept=getattr(config, "accept", None) or {})
    diffs.sort(key=lambda d: (d.file, d.line, d.code, d.subject, d.field))
    compare_s = time.perf_counter() - t_cmp
    timings = {
        "static_s": static_s,
        "child_s": child_s,
        "compare_s": compare_s,
        "import_s": (doc.get("timings") or {}).get("import_s", 0.0),
        "total_s": time.perf_counter() - started,
    }
    tasks = [n for n in doc.get("tasks") or {} if not n.startswith("celery.")]
    return VerifyReport(
        root=str(root),
        app=app_spec,
        registry=gen.registry_file,
        differences=diffs,
        tasks=len(tasks),
        entries=len(doc.get("beat_schedule") or {}),
        python=doc.get("python", ""),
        celery=doc.get("celery", ""),
        timezone=doc.get("timezone") or {},
        timings=timings,
    )


# ------------------------------------------------------------------ reports


def _v(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def render_text(report: VerifyReport) -> str:
    out = [
        f"saqmigrate verify: app {report.app} (Celery {report.celery}, Python {report.python}) against "
        f"{report.registry}"
    ]
    for d in report.differences:
        gen_at = (
            f"{d.generated_file}:{d.generated_line}"
            if d.generated_file and d.generated_line
            else (d.generated_file or "-")
        )
        out.append(
            f"{d.file}:{d.line}: {d.code} {d.kind} {d.subject!r} {d.field}: Celery {_v(d.celery)}, "
            f"generated {_v(d.generated)} ({gen_at})" + (" [accepted]" if d.accepted else "")
        )
        out.append(f"    {d.message}" + (f" — accepted: {d.accepted}" if d.accepted else ""))
    n = len(report.counted)
    acc = len(report.differences) - n
    verdict = "all equal" if n == 0 else f"{n} difference{'s' if n != 1 else ''}"
    out.append(
        f"{report.tasks} tasks, {report.entries} beat entries compared: {verdict}"
        + (f" ({acc} accepted)" if acc else "")
        + f"; {report.timings.get('total_s', 0):.2f} s, of which the app's import "
        f"{report.timings.get('import_s', 0):.2f} s"
    )
    return "\n".join(out) + "\n"


def render_json(report: VerifyReport) -> str:
    return json.dumps(report.to_json(), indent=2, default=repr) + "\n"


def as_findings(report: VerifyReport) -> list:
    from saqmigrate.index.model import Finding

    out = []
    for d in report.differences:
        if d.accepted:
            continue
        out.append(
            Finding(
                rule=d.code,
                severity=d.severity,
                file=d.file,
                line=d.line,
                column=0,
                message=f"{d.kind} {d.subject}: {d.field}: Celery {_v(d.celery)}, generated "
                f"{_v(d.generated)}. {d.message}",
                subject=f"{d.kind}:{d.subject}",
            )
        )
    return out


def render_sarif(report: VerifyReport) -> str:
    from saqmigrate.emit.formats import sarif

    return json.dumps(sarif(as_findings(report)), indent=2) + "\n"


RENDERERS = {"text": render_text, "json": render_json, "sarif": render_sarif}
