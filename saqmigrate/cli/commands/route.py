"""``saqmigrate route``: read and change the routing flags (audited, compare-and-set)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import fnmatch
import json
import sys
import time
from typing import Any

import click

from saqmigrate.runtime import flags as F
from saqmigrate.runtime.urls import check_url, flag_store_url, redact, saq_redis_url

from saqmigrate.cli.common import EXIT_USAGE  # noqa: E402


class Fail(Exception):
    """A one-line error for a person; exits 2."""


def _fail(msg: str) -> None:
    raise Fail(msg)


def _find_registry() -> str | None:
    """The generated registry module under the current folder (``<pkg>/saq_worker/registry.py``), if
    there is exactly one; the folder that holds the package goes on ``sys.path``."""
    from pathlib import Path

    from saqmigrate.emit.generate import MARKER

    found = []
    for pattern in ("saq_worker/registry.py", "*/saq_worker/registry.py", "*/*/saq_worker/registry.py",
                    "src/*/saq_worker/registry.py"):
        for p in Path(".").glob(pattern):
            try:
                if MARKER in p.read_text(encoding="utf-8")[:2048]:
                    found.append(p)
            except (OSError, UnicodeDecodeError):
                continue
    found = sorted(set(found))
    if len(found) != 1:
        return None
    parts = list(found[0].with_suffix("").parts)
    root = "."
    if parts[0] == "src":
        root, parts = "src", parts[1:]
    if root not in sys.path:
        sys.path.insert(0, root)
    return ".".join(parts)


class Ctx:
    def __init__(self, redis_url, namespace, registry, saq_url, broker_url, config, fmt):
        self.redis_url = flag_store_url(redis_url)
        self.namespace = namespace
        self.registry_name = registry
        self.saq_url = saq_url
        self.broker_url = broker_url
        self.config = config
        self.fmt = fmt
        self._store = None
        self._registry = None

    @property
    def store(self) -> F.FlagStore:
        if self._store is None:
            if not self.redis_url:
                _fail("no flag store configured: pass --redis-url or set SAQMIGRATE_REDIS_URL (or REDIS_URL)")
            try:
                check_url(self.redis_url, "flag store URL (--redis-url / SAQMIGRATE_REDIS_URL)")
            except ValueError as exc:
                _fail(str(exc))
            try:
                st = F.FlagStore(self.redis_url, self.namespace)
            except F.FlagError as exc:
                _fail(str(exc))
            except Exception as exc:
                _fail(f"bad --redis-url {redact(self.redis_url)!r}: {exc}")
            try:
                st.ping()
            except F.StoreUnavailable as exc:
                _fail(str(exc))
            self._store = st
        return self._store

    @property
    def registry(self):
        if self._registry is None and not self.registry_name:
            self.registry_name = _find_registry()
        if self._registry is None and self.registry_name:
            from saqmigrate.runtime.registry import Registry, RegistryError

            if "." not in sys.path:
                sys.path.insert(0, ".")
            import warnings

            try:
                with warnings.catch_warnings():  # importing the app package may warn (Celery's Django fixup)
                    warnings.simplefilter("ignore")
                    self._registry = Registry.load(self.registry_name)
            except RegistryError as exc:
                _fail(str(exc))
        return self._registry

    @property
    def saq(self) -> str:
        """SAQ's Redis, resolved as the router and the workers do (runtime/urls.py)."""
        url = saq_redis_url(self.saq_url)
        try:
            return check_url(url, "SAQ's Redis URL (--saq-url / SAQ_REDIS_URL / REDIS_URL)")
        except ValueError as exc:
            _fail(str(exc))

    def out(self, data: Any, text: str) -> None:
        if self.fmt == "json":
            click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
        else:
            click.echo(text)


pass_ctx = click.make_pass_decorator(Ctx)


class RouteGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Fail as exc:
            click.echo(f"saqmigrate: error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)
        except F.FlagError as exc:
            click.echo(f"saqmigrate: error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)
        except F.ConflictError as exc:
            click.echo(f"saqmigrate: error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)
        except Exception as exc:  # Redis errors mid-command and the like
            import redis

            if isinstance(exc, redis.RedisError):
                click.echo(f"saqmigrate: error: flag store Redis at {redact(ctx.obj.redis_url or '')} failed: "
                           f"{redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}; "
                           "check it is up (--redis-url / SAQMIGRATE_REDIS_URL)", err=True)
                ctx.exit(EXIT_USAGE)
            raise


@click.group(cls=RouteGroup)
@click.option("--redis-url", envvar=None, default=None, help="Flag-store Redis (default: SAQMIGRATE_REDIS_URL, else REDIS_URL).")
@click.option("--namespace", default=F.DEFAULT_NAMESPACE, show_default=True, help="Key prefix of the flag store.")
@click.option("--registry", "registry", default=None, envvar="SAQMIGRATE_REGISTRY",
              help="Dotted module generated by `rewrite` (TASKS / SCHEDULES); env SAQMIGRATE_REGISTRY.")
@click.option("--saq-url", default=None, help="SAQ's Redis, where the SAQ workers listen (default: SAQ_REDIS_URL, "
              "else REDIS_URL, else redis://localhost:6379 -- what the router and the generated workers use).")
@click.option("--broker-url", default=None, envvar="CELERY_BROKER_URL", help="Celery's Redis broker, for drain-status.")
@click.option("--config", default="pyproject.toml", show_default=True, help="Where [tool.saqmigrate] window_start lives.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def command(ctx, redis_url, namespace, registry, saq_url, broker_url, config, fmt):
    """Per-task routing between Celery and SAQ during the migration window."""
    ctx.obj = Ctx(redis_url, namespace, registry, saq_url, broker_url, config, fmt)


# ------------------------------------------------------------------ helpers


def _rule_text(rule: dict | None) -> str:
    if not rule:
        return "-"
    if rule.get("bad"):
        return "BAD"
    if rule.get("target") == "saq" and int(rule.get("percent_bp", F.FULL_BP)) < F.FULL_BP:
        return f"saq {int(rule['percent_bp']) / 100:g}%"
    return str(rule.get("target"))


def _snapshot_json(snap: F.Snapshot) -> dict:
    return {"version": snap.version, "mode": snap.mode, "rules": {k: dict(v) for k, v in snap.rules.items()},
            "schedules": {k: dict(v) for k, v in snap.schedules.items()}, "bad": dict(snap.bad)}


def _bad_lines(snap: F.Snapshot) -> list[str]:
    """One line per stored value that cannot be read (it routes to Celery)."""
    lines = []
    for key in sorted(snap.bad):
        fix = {"mode": "`route kill` or `route unkill` rewrites it",
               "version": "the next write (e.g. `route kill`) repairs it"}.get(key)
        if fix is None:
            kind, _, name = key.partition(":")
            fix = (f"`route set '{name}' celery|saq` or `route clear '{name}'` rewrites it" if kind == "rule"
                   else f"`route schedules '{name}' --owner ...` rewrites it" if kind == "schedule"
                   else "`route import` of a backup rewrites it")
        lines.append(f"BAD {key}: {snap.bad[key]}; treated as Celery ({fix})")
    return lines


def _effective(c: Ctx, snap: F.Snapshot) -> list[dict]:
    reg = c.registry
    if reg is None:
        return []
    rows = []
    for name in sorted(reg.tasks):
        matched, rule = snap.rule_for(name)
        if snap.mode != "normal":
            eff = "celery" if snap.mode == "force-celery" else "saq"
            why = F.R_KILL
        elif rule is None:
            eff, why = "celery", F.R_DEFAULT
        elif rule.get("bad"):
            eff, why = "celery", f"{F.R_BAD} ({'rule ' + repr(matched)} cannot be read)"
        else:
            eff = _rule_text(rule)
            why = F.R_OVERRIDE if matched == name else f"{F.R_PATTERN} {matched}"
        if reg.tasks[name].unsupported:
            why += f" (always celery: {', '.join(sorted(reg.tasks[name].unsupported))})"
        canvas = list(reg.tasks[name].canvas)
        if canvas and eff != "celery":
            why += f" (canvas uses stay on celery: {_locations(canvas)})"
        rows.append({"task": name, "route": eff, "why": why, "queue": reg.tasks[name].queue, "canvas": canvas})
    return rows


def _locations(locs: list[str] | tuple[str, ...], most: int = 3) -> str:
    shown = ", ".join(locs[:most])
    return shown + (f" and {len(locs) - most} more" if len(locs) > most else "")


def _canvas_warnings(c: Ctx, pattern: str) -> list[str]:
    """One line per registered task matching PATTERN that the scan saw in a canvas."""
    import fnmatch

    reg = c.registry
    if reg is None:
        return []
    return [f"warning: {name} is used in a canvas ({_locations(reg.tasks[name].canvas)}, SM309): chain links, "
            "group members, chord bodies and link callbacks keep running on Celery; only its direct dispatches move"
            for name in sorted(reg.tasks) if reg.tasks[name].canvas and (name == pattern or fnmatch.fnmatchcase(name, pattern))]


def _show_text(snap: F.Snapshot, rows: list[dict]) -> str:
    version = "BAD" if "version" in snap.bad else snap.version
    lines = [f"flag version {version}   mode {snap.mode}"]
    if snap.mode == "force-celery" and "mode" in snap.bad:
        lines.append("mode cannot be read: every dispatch goes to Celery (`saqmigrate route kill` or `unkill` rewrites it)")
    elif snap.mode == "force-celery":
        lines.append("KILL SWITCH ON: every dispatch goes to Celery (`saqmigrate route unkill` to undo)")
    lines += _bad_lines(snap)
    lines.append("rules:" if snap.rules else "rules: none (everything on Celery)")
    for k in sorted(snap.rules):
        r = snap.rules[k]
        note = f"cannot be read: {r['bad']}" if r.get("bad") else r.get("reason", "")
        lines.append(f"  {_inert(k):<50} {_rule_text(r):<10} {_inert(note) if note else ''}")
    if rows:
        lines.append("registered tasks:")
        for r in rows:
            lines.append(f"  {_inert(r['task']):<50} {r['route']:<10} {_inert(r['why'])}")
    return "\n".join(lines)


def _inert(value) -> str:
    from saqmigrate.cockpit.analysis import inert_text

    return inert_text(value)


def _live_functions(c: Ctx, queue_name: str) -> dict[str, list[str]]:
    """worker id -> functions it advertises (Worker(metadata=worker_metadata(...)))."""
    from saqmigrate.runtime.bridge import make_queue
    from saqmigrate.runtime.registry import METADATA_KEY

    async def info():
        q = make_queue(c.saq, queue_name)
        try:
            return await q.info()
        finally:
            await q.disconnect()

    try:
        data = asyncio.run(info())
    except Exception as exc:
        _fail(f"cannot read SAQ workers of queue {queue_name!r} at {redact(c.saq)}: {exc}; pass --saq-url")
    out = {}
    for wid, winfo in (data.get("workers") or {}).items():
        meta = (winfo or {}).get("metadata") or {}
        funcs = (meta.get(METADATA_KEY) or {}).get("functions") or []
        out[str(wid)] = list(funcs)
    return out


def _check_workers(c: Ctx, pattern: str) -> list[str]:
    """Problems that forbid sending ``pattern`` to SAQ now (empty list: OK)."""
    reg = c.registry
    if reg is None:
        return [f"no --registry given, so the SAQ function and queue of {pattern!r} are unknown "
                "(run it from the project folder, where `saqmigrate rewrite` generated <app package>/saq_worker/"
                "registry.py, or pass --registry <app package>.saq_worker.registry, or --force)"]
    names = [n for n in reg.tasks if (n == pattern or fnmatch.fnmatchcase(n, pattern))]
    if not names:
        return [f"{pattern!r} matches no task in registry {c.registry_name} (typo? or --force)"]
    problems = []
    by_queue: dict[str, dict] = {}
    for n in names:
        e = reg.tasks[n]
        if e.unsupported:
            problems.append(f"{n} uses Celery options SAQ cannot honour ({', '.join(sorted(e.unsupported))}); "
                            "its dispatches stay on Celery whatever the flag says")
        if e.queue not in by_queue:
            by_queue[e.queue] = _live_functions(c, e.queue)
        workers = by_queue[e.queue]
        if not workers:
            problems.append(f"no live SAQ worker on queue {e.queue!r} (start one, or --force)")
        elif not any(e.saq_function in funcs for funcs in workers.values()):
            problems.append(f"no live SAQ worker on queue {e.queue!r} advertises {e.saq_function!r} "
                            f"(deploy it with Worker(metadata=worker_metadata(functions)), or --force)")
    return problems


def _abort_moved_crons(c: Ctx, before: F.Snapshot, after: F.Snapshot) -> list[str]:
    """Schedules whose owner went SAQ -> Celery: abort their already-scheduled SAQ cron job."""
    reg = c.registry
    if reg is None:
        return []
    from saqmigrate.runtime.bridge import make_queue
    from saqmigrate.runtime.ownership import abort_pending_cron

    moved = [s for s in reg.schedules.values() if s.cron_function
             and F.schedule_owner(before, s.name, s.task)[0] == F.SAQ
             and F.schedule_owner(after, s.name, s.task)[0] == F.CELERY]
    if not moved:
        return []

    async def run():
        done = []
        for s in moved:
            q = make_queue(c.saq, s.queue)
            try:
                if await abort_pending_cron(q, s):
                    done.append(s.name)
            finally:
                await q.disconnect()
        return done

    try:
        return asyncio.run(run())
    except Exception as exc:
        click.echo(f"warning: could not abort pending SAQ cron jobs ({exc}); the SAQ cron guard still skips them",
                   err=True)
        return []


def _written(c: Ctx, before: F.Snapshot, version: int, what: str) -> None:
    after = c.store.snapshot()
    aborted = _abort_moved_crons(c, before, after)
    text = f"{what}: version {before.version} -> {version}"
    if aborted:
        text += f"\naborted pending SAQ cron jobs: {', '.join(aborted)}"
    c.out({"ok": True, "version": version, "previous_version": before.version, "change": what,
           "aborted_cron": aborted}, text)


def _switch(c: Ctx, mode: str, reason: str, done: str, already: str) -> None:
    """Set the global mode; when it is already ``mode`` nothing is written (no version, no audit entry)."""
    before = c.store.snapshot()
    if before.mode == mode and "mode" not in before.bad:
        c.out({"ok": True, "version": before.version, "previous_version": before.version, "change": None,
               "aborted_cron": []}, f"{already} (version {before.version}); nothing written")
        return
    version = c.store.set_mode(mode, reason=reason, expected_version=before.version)
    _written(c, before, version, done)


# ------------------------------------------------------------------ commands


@command.command()
@pass_ctx
def show(c: Ctx):
    """The flags as stored, and (with --registry) where each task goes."""
    snap = c.store.snapshot()
    rows = _effective(c, snap)
    c.out({**_snapshot_json(snap), "tasks": rows}, _show_text(snap, rows))


@command.command()
@pass_ctx
def status(c: Ctx):
    """Flags, the migration window's days left, and audit consistency."""
    from saqmigrate.runtime.window import WindowError, load_window

    snap = c.store.snapshot()
    try:
        window = load_window(c.config)
    except WindowError as exc:
        _fail(str(exc))
    try:
        audit_len = c.store.audit_length()
    except Exception:  # noqa: BLE001 - an audit key of the wrong type: say so, keep going
        audit_len = None
    data = {**_snapshot_json(snap), "audit_entries": audit_len,
            "window": window.to_json() if window else None,
            "unaudited_writes": max(0, snap.version - audit_len) if audit_len is not None else None}
    lines = [_show_text(snap, _effective(c, snap))]
    if window:
        w = window.to_json()
        state = "EXPIRED" if w["expired"] else f"{w['days_left']} days left"
        lines.append(f"window: day {w['day']} of {w['days']} (started {w['start']}, ends {w['end']}): {state}")
    else:
        lines.append(f"window: not configured (set window_start = \"YYYY-MM-DD\" under [tool.saqmigrate] in {c.config})")
    if audit_len is None:
        lines.append("warning: the audit stream cannot be read (wrong Redis type); the next write sets it aside")
    elif data["unaudited_writes"]:
        lines.append(f"warning: version {snap.version} but {audit_len} audit entries: flags were written outside the CLI")
    c.out(data, "\n".join(lines))


@command.command("set")
@click.argument("task")
@click.argument("backend")
@click.option("--percent", default=None, help="Share of dispatches (by stable hash of task + routing key) sent to SAQ.")
@click.option("--reason", required=True, help="Why (goes into the audit stream).")
@click.option("--force", is_flag=True, help="Skip the live-SAQ-worker check.")
@click.option("--expires", default=None, metavar="YYYY-MM-DD",
              help="Date after which `saqmigrate check` reports the rule as stale (SM634); routing is unchanged.")
@pass_ctx
def set_(c: Ctx, task, backend, percent, reason, force, expires):
    """Route TASK (exact name or glob) to celery or saq; --percent N ramps SAQ."""
    if backend not in F.BACKENDS:
        _fail(f"backend must be 'celery' or 'saq', got {backend!r}")
    if expires is not None:
        import datetime as _dt

        try:
            expires = _dt.date.fromisoformat(expires).isoformat()
        except ValueError:
            _fail(f"--expires must be a date like 2027-01-31, got {expires!r}")
    bp = F.parse_percent(percent) if percent is not None else None
    F.make_rule(backend, bp)  # validate before touching Redis
    before = c.store.snapshot()
    if backend == F.SAQ and (bp is None or bp > 0) and not force:
        problems = _check_workers(c, task)
        if problems:
            _fail("refusing to route to SAQ: " + "; ".join(problems))
    version = c.store.set_rule(task, backend, bp, reason=reason, expected_version=before.version, expires_at=expires)
    _written(c, before, version, f"{task} -> {_rule_text(F.make_rule(backend, bp))}"
             + (f" (expires {expires})" if expires else ""))
    if backend == F.SAQ and (bp is None or bp > 0):
        for line in _canvas_warnings(c, task):
            click.echo(line, err=True)


@command.command()
@click.argument("task")
@click.option("--reason", required=True)
@pass_ctx
def clear(c: Ctx, task, reason):
    """Remove TASK's rule (it falls back to patterns, then Celery)."""
    before = c.store.snapshot()
    if task not in before.rules:
        _fail(f"no rule for {task!r}; `saqmigrate route show` lists them")
    version = c.store.set_rule(task, None, reason=reason, expected_version=before.version)
    _written(c, before, version, f"{task} rule cleared")


@command.command()
@click.option("--reason", required=True)
@pass_ctx
def kill(c: Ctx, reason):
    """Kill switch: every dispatch and schedule to Celery, in one write (and every ramp plan paused)."""
    _switch(c, "force-celery", reason, "kill switch ON (force-celery)", "kill switch already ON")
    from saqmigrate.cockpit.ramp import pause_all

    paused = pause_all(c.store, reason=f"kill switch: {reason}")
    if paused:
        click.echo(f"ramp plans paused: {', '.join(paused)}", err=True)


@command.command()
@click.option("--reason", required=True)
@pass_ctx
def unkill(c: Ctx, reason):
    """Turn the kill switch off: per-task rules apply again."""
    _switch(c, "normal", reason, "kill switch OFF (normal)", "kill switch already OFF")


@command.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--format", "fmt", type=click.Choice(["text", "table", "json"]), default=None,
              help="Output format (default: the route group's --format; table = text). JSON entries keep the "
                   "epoch `ts` and add `time`, the same instant in ISO 8601 UTC.")
@pass_ctx
def history(c: Ctx, limit, fmt):
    """The audit stream, newest first: version, time (ISO 8601 UTC), who, what, old -> new, why."""
    items = c.store.history(limit)
    lines = []
    for it in items:
        try:
            it["time"] = _dt.datetime.fromtimestamp(float(it.get("ts", 0)), _dt.timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
        except (TypeError, ValueError, OverflowError, OSError):
            it["time"] = None
        when = it["time"] or f"ts={it.get('ts')!r}"
        from saqmigrate.cockpit.analysis import inert_text  # a reason cannot forge an audit line

        lines.append(f"v{it.get('version')}  {when}  {inert_text(it.get('actor'))}  {inert_text(it.get('target'))}: "
                     f"{json.dumps(it.get('old'))} -> {json.dumps(it.get('new'))}  ({inert_text(it.get('reason'), 2000)})")
    if (fmt or c.fmt) == "json":
        click.echo(json.dumps(items, indent=2, sort_keys=True, default=str))
    else:
        click.echo("\n".join(lines) or "no changes recorded")


@command.command("export")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="Write the backup here (mode 0600); '-' is stdout.")
@pass_ctx
def export_(c: Ctx, output):
    """Back up every flag (mode, rules, schedule owners) as JSON, for `route import`.

    The file also works as a bootstrap file (SAQMIGRATE_BOOTSTRAP, `check --bootstrap`)."""
    import os

    data = c.store.export()
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if output == "-":
        click.echo(text, nl=False)
        return
    tmp = f"{output}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        _fail(f"cannot write {output}: {exc.strerror or exc}")
    n_bad = len(data["unreadable"])
    click.echo(f"exported version {data['version']}: mode {data['mode']}, {len(data['rules'])} rule(s), "
               f"{len(data['schedules'])} schedule owner(s) -> {output}"
               + (f"; {n_bad} unreadable value(s) kept under 'unreadable', not restorable" if n_bad else ""),
               err=c.fmt == "json")


@command.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--reason", required=True, help="Why (goes into the audit stream).")
@click.option("--force", is_flag=True, help="Skip the live-SAQ-worker check for rules that send tasks to SAQ.")
@pass_ctx
def import_(c: Ctx, file, reason, force):
    """Restore flags from a `route export` file: replaces mode, rules and schedule owners in one
    audited compare-and-set write."""
    try:
        raw = sys.stdin.read() if file == "-" else open(file, encoding="utf-8").read()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        _fail(f"{file}: not UTF-8 text (expected a JSON file from `saqmigrate route export`)")
    data, why = F.parse_json(raw)
    if why:
        _fail(f"{file}: {why} (expected a JSON file from `saqmigrate route export`)")
    try:
        mode, rules, schedules = F.validate_export(data)
    except F.FlagError as exc:
        _fail(f"{file}: {exc}")
    before = c.store.snapshot()
    if not force:
        to_saq = [n for n, r in rules.items() if r["target"] == F.SAQ and r["percent_bp"] > 0]
        to_saq += [f"schedule {n}" for n, v in schedules.items() if v["owner"] == F.SAQ]
        problems = []
        for name in to_saq:
            if name.startswith("schedule "):
                reg = c.registry
                s = reg.schedules.get(name[9:]) if reg else None
                problems += _check_workers(c, s.task) if s else [f"{name} is not in the registry"]
            else:
                problems += _check_workers(c, name)
        if problems:
            _fail("refusing to import rules that send work to SAQ: " + "; ".join(dict.fromkeys(problems)))
    version = c.store.import_flags(data, reason=reason, expected_version=before.version)
    _written(c, before, version, f"imported {file}: mode {mode}, {len(rules)} rule(s), "
                                 f"{len(schedules)} schedule owner(s)")


@command.command()
@click.argument("entry", required=False)
@click.option("--owner", type=click.Choice(["celery", "saq", "auto"]), default=None,
              help="Pin ENTRY's owner; 'auto' follows the task's route again.")
@click.option("--reason", default=None)
@click.option("--force", is_flag=True, help="Skip the live-SAQ-worker check.")
@pass_ctx
def schedules(c: Ctx, entry, owner, reason, force):
    """Who fires each beat entry (Celery beat or SAQ cron); with ENTRY --owner, change it."""
    before = c.store.snapshot()
    if entry is None:
        if owner:
            _fail("--owner needs an ENTRY")
        rows = []
        reg = c.registry
        names = sorted(set(reg.schedules if reg else []) | set(before.schedules))
        for n in names:
            s = reg.schedules.get(n) if reg else None
            if s is None:
                rows.append({"entry": n, "task": None, "owner": dict(before.schedules[n]).get("owner"), "why": "pinned (not in registry)"})
                continue

            o, why = F.schedule_owner(before, n, s.task) if s.cron_function else (F.CELERY, F.R_NOT_REGISTERED)
            rows.append({"entry": n, "task": s.task, "cron": s.cron, "owner": o, "why": why})
        text = "\n".join(f"  {r['entry']:<40} {r['owner']:<7} {r['why']}" for r in rows) or "no schedule entries (pass --registry)"
        c.out({"version": before.version, "schedules": rows}, text)
        return
    if owner is None:
        _fail("give --owner celery|saq|auto to change ENTRY (or no ENTRY to list)")
    if not reason:
        _fail("--reason is required for every change (it goes into the audit stream)")
    reg = c.registry
    if owner == "saq" and not force:
        s = reg.schedules.get(entry) if reg else None
        if s is None or not s.cron_function:
            _fail(f"{entry!r} has no SAQ cron in the registry (pass --registry, or --force)")
        problems = _check_workers(c, s.task)
        if problems:
            _fail("refusing to move the schedule to SAQ: " + "; ".join(problems))
    version = c.store.set_schedule_owner(entry, None if owner == "auto" else owner, reason=reason,
                                         expected_version=before.version)
    _written(c, before, version, f"schedule {entry} owner -> {owner}")


@command.command("drain-status")
@click.argument("task", required=False)
@pass_ctx
def drain_status(c: Ctx, task):
    """What is still waiting per task: Celery queued/unacked (incl. ETA) and SAQ incomplete."""
    reg = c.registry
    if reg is None:
        _fail("drain-status needs --registry (to know each task's SAQ function and queue)")
    names = [n for n in reg.tasks if task is None or n == task or fnmatch.fnmatchcase(n, task)]
    if not names:
        _fail(f"{task!r} matches no registered task")
    rows = {n: {"task": n, "celery_queued": None, "celery_unacked": None, "celery_max_eta": None,
                "saq_incomplete": 0, "saq_max_scheduled": None} for n in names}
    if c.broker_url:
        _celery_counts(c.broker_url, rows)
    _saq_counts(c, reg, rows)
    now = time.time()
    lines = []
    for r in rows.values():
        cel = "?" if r["celery_queued"] is None else f"{r['celery_queued']} queued, {r['celery_unacked']} unacked"
        eta = f", ETA up to {r['celery_max_eta']}" if r["celery_max_eta"] else ""
        sched = ""
        if r["saq_max_scheduled"] and r["saq_max_scheduled"] > now:
            sched = f", scheduled up to {_dt.datetime.fromtimestamp(r['saq_max_scheduled'], _dt.timezone.utc):%Y-%m-%d %H:%MZ}"
        drained = r["saq_incomplete"] == 0 and r["celery_queued"] == 0 and r["celery_unacked"] == 0
        r["drained"] = drained if r["celery_queued"] is not None else None
        lines.append(f"  {r['task']:<50} celery: {cel}{eta}; saq: {r['saq_incomplete']} incomplete{sched}")
    if not c.broker_url:
        lines.append("(Celery side unknown: pass --broker-url or set CELERY_BROKER_URL)")
    c.out(list(rows.values()), "\n".join(lines))


def _celery_counts(broker_url: str, rows: dict) -> None:
    """Count messages per task on a Celery Redis broker (runtime/drain.py): every queue list plus ``unacked``."""
    import redis

    from saqmigrate.runtime.drain import celery_waiting

    try:
        waiting = celery_waiting(broker_url, set(rows))
    except redis.RedisError as exc:
        _fail(f"Celery broker at {redact(broker_url)} does not answer ({exc}); check --broker-url")
    for name, row in rows.items():
        w = waiting.get(name)
        row["celery_queued"], row["celery_unacked"] = (w.queued, w.unacked) if w else (0, 0)
        row["celery_max_eta"] = w.max_eta if w else None


def _saq_counts(c: Ctx, reg, rows: dict) -> None:
    from saqmigrate.runtime.bridge import make_queue

    func_to_task = {reg.tasks[n].saq_function: n for n in rows}
    queues = sorted({reg.tasks[n].queue for n in rows})

    async def run():
        for qn in queues:
            q = make_queue(c.saq, qn)
            try:
                from saq.job import Status

                async for job in q.iter_jobs(statuses=[Status.NEW, Status.QUEUED, Status.ACTIVE, Status.ABORTING]):
                    t = func_to_task.get(job.function)
                    if t is None:
                        continue
                    rows[t]["saq_incomplete"] += 1
                    if job.scheduled and (rows[t]["saq_max_scheduled"] or 0) < job.scheduled:
                        rows[t]["saq_max_scheduled"] = job.scheduled
            finally:
                await q.disconnect()

    try:
        asyncio.run(run())
    except Fail:
        raise
    except Exception as exc:
        _fail(f"cannot read SAQ queues at {redact(c.saq)}: {exc}; pass --saq-url")


# ------------------------------------------------------------------ the cockpit (saqmigrate/cockpit/)


def _outcomes(c: Ctx):
    from saqmigrate.runtime.outcomes import OutcomeStore

    st = c.store  # pings the flag store: outcomes live in its Redis, under the same namespace
    return OutcomeStore(st.url, c.namespace, client=st.client)


def _thresholds(c: Ctx):
    from saqmigrate.cockpit.analysis import AnalysisConfigError
    from saqmigrate.cockpit.service import load_thresholds

    try:
        return load_thresholds(c.config)
    except AnalysisConfigError as exc:
        _fail(str(exc))


def _seconds(text: str, what: str) -> float:
    from saqmigrate.cockpit.analysis import AnalysisConfigError, parse_duration

    try:
        return parse_duration(text, what)
    except AnalysisConfigError as exc:
        _fail(str(exc))


@command.command()
@click.argument("tasks", nargs=-1)
@click.option("--since", default="1h", show_default=True, help="Window of outcomes to compare (30m, 1h, 2d ...).")
@click.option("--baseline", default=None, help="Celery's window, when it should be longer than --since (e.g. 1d "
              "while SAQ takes most of the traffic); default: --since.")
@click.option("--format", "fmt", type=click.Choice(["text", "table", "json"]), default=None,
              help="Output format (default: the route group's --format; table = text).")
@pass_ctx
def compare(c: Ctx, tasks, since, baseline, fmt):
    """Celery vs SAQ per task: runs, failure rate, p50/p95 run time, p95 queue wait, and a verdict
    against [tool.saqmigrate.analysis] (TASKS: names or globs; default every task with outcomes)."""
    import time as _time

    from saqmigrate.cockpit.analysis import format_duration, render_text
    from saqmigrate.cockpit.service import compare_tasks, task_names

    window = _seconds(since, "--since")
    base = _seconds(baseline, "--baseline") if baseline else None
    thresholds = _thresholds(c)
    outcomes = _outcomes(c)
    now = _time.time()
    names = task_names(outcomes, now - max(window, base or 0), tasks)
    rows = compare_tasks(outcomes, names, since=window, baseline=base, thresholds=thresholds, now=now)
    if (fmt or c.fmt) == "json":
        click.echo(json.dumps({"since": format_duration(window), "baseline": format_duration(base or window),
                               "thresholds": thresholds.to_json(), "tasks": [r.to_json() for r in rows]},
                              indent=2, sort_keys=True))
    else:
        click.echo(render_text(rows, since=format_duration(window), baseline=format_duration(base) if base else None))


@command.command()
@click.argument("task", required=False)
@click.option("--steps", default=None, help="Percentages to SAQ, in order (default 1,5,25,50,100).")
@click.option("--every", default=None, help="Least time at each step before the autopilot advances (default 30m).")
@click.option("--pause", "op", flag_value="pause", help="Stop moving TASK (its route stays).")
@click.option("--resume", "op", flag_value="resume", help="Go on (after a roll back: from the first step).")
@click.option("--cancel", "op", flag_value="cancel", help="Forget TASK's plan (its route stays).")
@click.option("--reason", default=None, help="Why (goes into the audit stream); required for every change.")
@click.option("--force", is_flag=True, help="Skip the live-SAQ-worker check.")
@pass_ctx
def ramp(c: Ctx, task, steps, every, op, reason, force):
    """A ramp plan for TASK (advanced by `route autopilot`); no TASK: list the plans."""
    from saqmigrate.cockpit import ramp as R

    if task is None:
        if op or steps or every:
            _fail("give the TASK to ramp, pause, resume or cancel")
        plans, status = R.load_plans(c.store), R.load_status(c.store)
        data = [{**p.to_json(), "last_analysis": status.get(t)} for t, p in sorted(plans.items())]
        lines = [f"  {p['task']:<50} {p['state']:<7} step {p['index'] + 1}/{len(p['steps'])} "
                 f"({p['steps'][min(p['index'], len(p['steps']) - 1)]:g}%)  "
                 f"{(p['last_analysis'] or {}).get('summary') or p['reason']}" for p in data]
        c.out(data, "\n".join(lines) or "no ramp plans (`saqmigrate route ramp TASK --reason ...` starts one)")
        return
    if not reason:
        _fail("--reason is required for every change (it goes into the audit stream)")
    try:
        if op == "pause":
            plan, version = R.pause(c.store, task, reason=reason)
        elif op == "resume":
            if not force:  # resuming routes traffic to SAQ again: the same check as starting a ramp
                problems = _check_workers(c, task)
                if problems:
                    _fail("refusing to resume the ramp to SAQ: " + "; ".join(problems))
            plan, version = R.resume(c.store, task, reason=reason)
        elif op == "cancel":
            plan, version = None, R.cancel(c.store, task, reason=reason)
        else:
            seconds = _seconds(every or "30m", "--every")
            first = R.parse_steps(steps or "1,5,25,50,100")
            if not force:
                problems = _check_workers(c, task)
                if problems:
                    _fail("refusing to ramp to SAQ: " + "; ".join(problems))
            plan, version = R.start(c.store, task, first, seconds, reason=reason)
    except R.RampError as exc:
        _fail(str(exc))
    what = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}.get(op, "started")
    if version is None:
        c.out({"ok": True, "version": None, "plan": plan.to_json()}, f"ramp of {task} already {plan.state}; "
              "nothing written")
        return
    text = f"ramp of {task} {what}: version {version}"
    if plan is not None and what in ("started", "resumed"):
        text += f"; at step {plan.index + 1}/{len(plan.steps)} ({plan.percent:g}% to SAQ), `route autopilot` moves it"
    c.out({"ok": True, "version": version, "plan": plan.to_json() if plan else None}, text)


@command.command()
@click.option("--interval", default="30s", show_default=True, help="How often to analyse every active plan.")
@click.option("--lock-ttl", default=None, help="Lock expiry (default 3 x --interval, at least 10s): when this "
              "autopilot dies, another takes over after it.")
@click.option("--once", is_flag=True, help="One pass, then exit (from cron, or to see what it would do now).")
@pass_ctx
def autopilot(c: Ctx, interval, lock_ttl, once):
    """Advance, hold or roll back every active ramp plan on the analysis (long-running; several may
    run, the one holding the lock acts; the kill switch pauses every plan)."""
    from saqmigrate.cockpit.autopilot import Autopilot

    tick = _seconds(interval, "--interval")
    if tick < 0.5:
        _fail(f"--interval {interval}: at least 0.5s (each tick reads every plan's outcomes)")
    ttl = _seconds(lock_ttl, "--lock-ttl") if lock_ttl else max(10.0, 3 * tick)
    if ttl <= tick:
        _fail(f"--lock-ttl {lock_ttl} must be longer than --interval {interval}: the lock would expire between "
              "two ticks and a second autopilot would act too")
    pilot = Autopilot(c.store, _outcomes(c), _thresholds(c), lock_ttl=ttl)

    def show(actions):
        for a in actions:
            if c.fmt == "json":
                click.echo(json.dumps(a.to_json(), sort_keys=True))
            else:
                click.echo(f"{_dt.datetime.now(_dt.timezone.utc):%H:%M:%SZ} {a.text()}")

    if once:
        try:
            show(pilot.tick())
        finally:
            pilot.release()
        return
    click.echo(f"autopilot {pilot.holder}: every {interval}, lock expiry {ttl:g} s (Ctrl-C or SIGTERM stops)",
               err=True)
    import signal
    import threading

    stop = threading.Event()
    # SIGTERM (systemd, Kubernetes, docker stop) stops it like Ctrl-C: the lock is released at once, not after its ttl
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        pilot.run(tick, stop=stop, on_actions=show)
    except KeyboardInterrupt:
        pass


@command.command()
@click.option("--after-finalize", "after_finalize", is_flag=True, required=True,
              help="Required: the project was finalized, no Celery-era process reads the flags any more.")
@click.option("--project", type=click.Path(file_okay=False, exists=True), default=".", show_default=True,
              help="The finalized project (its worker package carries finalize's marker).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def purge(c: Ctx, after_finalize: bool, project: str, yes: bool):
    """Delete every key of the flag store's namespace (flags, audit, claims, ramp plans, outcomes) once
    the project is finalized. Take a `route export` first if you want the audit trail."""
    from saqmigrate.markers import finalized_package

    if finalized_package(project) is None:
        _fail(f"{project} is not finalized (no saq_worker package written by `saqmigrate finalize`): the flags "
              "still route dispatches; nothing deleted")
    client = c.store.client
    ns = c.store.keys.namespace
    pattern = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in ns) + ":*"  # the namespace, literally
    keys = sorted(set(client.scan_iter(pattern, count=1000)))
    if not keys:
        click.echo(f"route purge: no keys under {ns}:*")
        return
    if not yes and not click.confirm(f"delete {len(keys)} key(s) under {ns}:* at {redact(c.redis_url)}?"):
        _fail("nothing deleted")
    for i in range(0, len(keys), 500):
        client.delete(*keys[i:i + 500])
    click.echo(f"route purge: deleted {len(keys)} key(s) under {ns}:* (the flag store of the finalized project)")


# `route show --format json` as well as `route --format json show` (issue 15: where users look for it)
def _subcommand_format(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        obj = ctx.find_object(Ctx)
        if obj is not None:
            obj.fmt = "json" if value == "json" else "table"


for _cmd in command.commands.values():
    if not any("--format" in getattr(p, "opts", ()) for p in _cmd.params):
        _cmd.params.append(click.Option(["--format"], type=click.Choice(["text", "table", "json"]), default=None,
                                        expose_value=False, callback=_subcommand_format,
                                        help="Output format (also accepted before the subcommand; table = text)."))
