"""Routing: the flags (live store or a bootstrap snapshot) agree with the code and the generated worker.

Runs when ``--redis-url`` (or the environment variable named by ``flag_store_env``,
default ``SAQMIGRATE_REDIS_URL``) or ``--bootstrap FILE`` is given:

* SM630 a rule names no known task (exact name), or a glob matches none;
* SM631 a task routed to SAQ (rule, percentage or ``force-saq``) is not registered under its
  Celery name in the generated registry and its queue's worker ``FUNCTIONS``;
* SM632 a beat entry with no owner (SAQ owns it but has no CronJob, or only SAQ has it and
  Celery owns it), or an owner set for an entry that exists nowhere;
* SM633 a beat entry defined twice in Celery code (Celery keeps one);
* SM634 a rule past its ``expires_at``;
* SM635 (Redis only) an audit stream without an entry for every flag-store version;
* SM636 the router would enqueue SAQ jobs on another Redis than the SAQ workers listen on
  (read from the code and this process's environment; runs without a flag store too);
* SM637 a flag-store value cannot be read (routers treat it as Celery);
* SM638 a beat entry owned by SAQ while the project's beat would not consult ownership (the app
  is not wired with the generated hook, or a custom scheduler overrides ``tick()``).

The registry and worker modules are read statically (never imported).
"""

from __future__ import annotations

import ast
import datetime as _dt
import fnmatch
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Mapping

from saqmigrate.check.base import CheckError, CheckResult, Context, add
from saqmigrate.check.generated import read, read_functions, read_literals
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.urls import DEFAULT_SAQ_URL, SAQ_ENV, redact

ROUTED_SCHEDULERS = ("saqmigrate.runtime.beat",)


def source(ctx: Context) -> tuple[str | None, Path | None]:
    url = ctx.options.redis_url or os.environ.get(ctx.config.flag_store_env) or None
    return url, ctx.options.bootstrap


def load_snapshot(ctx: Context) -> tuple[F.Snapshot, F.FlagStore | None, str]:
    url, boot = source(ctx)
    if url:
        try:
            store = F.FlagStore(url, namespace=ctx.options.namespace)
        except F.FlagError as exc:
            raise CheckError(f"--namespace: {exc}") from None
        except ValueError as exc:
            raise CheckError(f"--redis-url: {exc}") from None
        try:
            store.ping()
            return store.snapshot(), store, f"flag store {redact(url)} (namespace {ctx.options.namespace})"
        except F.StoreUnavailable as exc:
            raise CheckError(str(exc)) from None
        except Exception as exc:  # redis errors other than connection ones
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise CheckError(f"flag store {redact(url)}: {exc.__class__.__name__}: {redact(first)}") from None
    assert boot is not None
    try:
        data = json.loads(Path(boot).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CheckError(f"--bootstrap {boot}: cannot read: {exc.strerror or exc}") from None
    except RecursionError:
        raise CheckError(
            f"--bootstrap {boot}: JSON nested too deeply; pass a file written by the flag client"
        ) from None
    except ValueError as exc:
        raise CheckError(f"--bootstrap {boot}: not JSON ({exc}); pass a file written by the flag client") from None
    if not isinstance(data, dict):
        raise CheckError(f"--bootstrap {boot}: expected a JSON object (a flag snapshot)")
    return F.Snapshot.from_json(data, source="bootstrap"), None, f"bootstrap file {boot}"


def _expiry(rule) -> float | None:
    value = rule.get("expires_at")
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        d = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.timestamp()


def _to_saq(snap: F.Snapshot, task: str) -> str | None:
    """Why some dispatches of ``task`` go to SAQ under these flags, or None if none can."""
    if snap.mode == "force-saq":
        return "kill switch force-saq"
    if snap.mode == "force-celery":
        return None
    matched, rule = snap.rule_for(task)
    if rule is None or rule.get("target") != F.SAQ:
        return None
    bp = int(rule.get("percent_bp", F.FULL_BP))
    if bp <= 0:
        return None
    share = "" if bp >= F.FULL_BP else f" {bp / 100:g}%"
    return f"rule {matched!r} → saq{share}"


def audit_gaps(store: F.FlagStore, version: int) -> tuple[list[int], int]:
    """(versions with no audit entry, the first version still in the stream)."""
    seen: set[int] = set()
    first = None
    last_id = "-"
    while True:
        batch = store.client.xrange(store.keys.audit, min=last_id, max="+", count=1000)
        if last_id != "-" and batch and batch[0][0] == last_id:
            batch = batch[1:]
        if not batch:
            break
        for entry_id, fields in batch:
            try:
                v = int(fields.get("version", ""))
            except ValueError:
                continue
            seen.add(v)
            first = v if first is None else min(first, v)
        last_id = batch[-1][0]
    trimmed = store.audit_length() >= 100_000  # the stream is capped (MAXLEN ~ 100k): older entries are gone
    start = first if (trimmed and first) else 1
    return [v for v in range(start, version + 1) if v not in seen], start


def _ranges(nums: list[int]) -> str:
    out, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ", ".join(out[:10]) + (" …" if len(out) > 10 else "")


# --------------------------------------------------------------------------- SM636

# A URL source is a chain: ("env", NAME) entries tried in order, then ("lit", URL).
DEFAULT_CHAIN = tuple(("env", n) for n in SAQ_ENV) + (("lit", DEFAULT_SAQ_URL),)
_DEFAULT_FUNCS = {"saq_redis_url", "redis_url"}  # runtime.urls.saq_redis_url, runtime.worker.redis_url


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def url_chain(node: ast.AST | None) -> tuple | None:
    """The chain of an expression giving a Redis URL, or None when it cannot be read statically."""
    if node is None:
        return DEFAULT_CHAIN
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (("lit", node.value),)
    if isinstance(node, ast.Constant) and node.value is None:
        return DEFAULT_CHAIN  # saq_url=None: the default resolution
    if (
        isinstance(node, ast.Subscript)
        and _is_environ(node.value)
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return (("env", node.slice.value),)
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        out: tuple = ()
        for v in node.values:
            part = url_chain(v)
            if part is None:
                return None
            out += part
        return out
    if isinstance(node, ast.Call):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        is_get = (isinstance(f, ast.Attribute) and f.attr == "get" and _is_environ(f.value)) or name == "getenv"
        if is_get and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            tail: tuple = ()
            if len(node.args) > 1:
                tail = url_chain(node.args[1]) or ()
                if not tail:
                    return None
            return (("env", node.args[0].value),) + tail
        if name in _DEFAULT_FUNCS and not node.args and not node.keywords:
            return DEFAULT_CHAIN
        if name == "saq_redis_url" and node.args:
            first = url_chain(node.args[0])
            return None if first is None else first + DEFAULT_CHAIN
    return None


def resolve_chain(chain: tuple, environ: Mapping[str, str]) -> tuple[str | None, bool]:
    """(URL, determined): determined when a set variable or a leading literal decides it; a
    literal reached only because variables are unset here is a guess about the deployment."""
    for i, (kind, value) in enumerate(chain):
        if kind == "env":
            if environ.get(value):
                return environ[value], True
        else:
            return value, i == 0
    return None, False


def _server(url: str) -> tuple | None:
    try:
        from redis.connection import parse_url

        p = parse_url(url)
    except Exception:  # noqa: BLE001 - an unparseable URL: compare the text
        return ("text", url.strip())
    return (
        str(p.get("host", "localhost")).lower().replace("127.0.0.1", "localhost"),
        int(p.get("port") or 6379),
        int(p.get("db") or 0),
        p.get("path"),
    )


def _describe(chain: tuple) -> str:
    if chain == DEFAULT_CHAIN:
        return "SAQ_REDIS_URL, else REDIS_URL, else redis://localhost:6379"
    return ", else ".join(f"${v}" if k == "env" else redact(v) for k, v in chain)


def disagreement(router: tuple, worker: tuple, environ: Mapping[str, str]) -> str | None:
    """Why these two chains would name different servers, or None (same, or not determinable)."""
    if router == worker:
        return None
    r_url, r_known = resolve_chain(router, environ)
    w_url, w_known = resolve_chain(worker, environ)
    if r_known and w_known:
        if _server(r_url) != _server(w_url):
            return f"{redact(r_url)} vs {redact(w_url)} in this environment"
        return None
    r_var = next((v for k, v in router if k == "env"), None)
    w_var = next((v for k, v in worker if k == "env"), None)
    if r_var and w_var and r_var != w_var and not (r_known or w_known):
        return f"they read different variables (${r_var} vs ${w_var}), neither set here"
    if r_var and w_var and r_var != w_var and (r_known != w_known):
        unset = r_var if not r_known else w_var
        return f"they read different variables (${r_var} vs ${w_var}) and ${unset} is not set here"
    return None


def _imports_saqmigrate(text: str) -> bool:
    return "saqmigrate" in text


def saq_url_sites(ctx: Context) -> tuple[list[tuple[str, int, tuple]], list[tuple[str, int, tuple]]]:
    """(router sites, worker sites): (file, line, chain) of every place that picks SAQ's Redis.

    Routers: the generated ``routing.py`` (default resolution) and ``Router(..., saq_url=...)``
    in hand-written code. Workers: the generated queue modules (``worker_settings``: default
    resolution) and ``Queue.from_url(...)`` in hand-written SAQ code."""
    from saqmigrate.check.base import is_generated_path
    from saqmigrate.discover import discover

    routers: list[tuple[str, int, tuple]] = []
    workers: list[tuple[str, int, tuple]] = []
    plan = ctx.rewrite.plan
    routing_rel = f"{plan.package_rel}/routing.py"
    if (ctx.root / routing_rel).is_file():
        routers.append((routing_rel, 1, DEFAULT_CHAIN))
    for q in plan.queues:
        if (ctx.root / q.rel).is_file():
            workers.append((q.rel, 1, DEFAULT_CHAIN))
    try:
        found = discover(ctx.root, exclude=ctx.config.exclude, include=ctx.config.include)
    except OSError:
        return routers, workers
    for rel in found.files:
        if is_generated_path(rel):
            continue
        try:
            text = (ctx.root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not ("Router(" in text or "from_url" in text):
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        saq_file = "saq" in text and ("from saq" in text or "import saq" in text)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name == "Router" and _imports_saqmigrate(text):
                kw = next((k.value for k in node.keywords if k.arg == "saq_url"), None)
                if any(k.arg is None for k in node.keywords):
                    continue  # **kwargs: cannot tell
                chain = url_chain(kw)
                if chain is not None:
                    routers.append((rel, node.lineno, chain))
            elif (
                name == "from_url"
                and saq_file
                and isinstance(f, ast.Attribute)
                and (
                    (isinstance(f.value, ast.Name) and f.value.id == "Queue")
                    or (isinstance(f.value, ast.Attribute) and f.value.attr == "Queue")
                )
            ):
                arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "url"), None)
                chain = url_chain(arg) if arg is not None else None
                if chain is not None:
                    workers.append((rel, node.lineno, chain))
    return routers, workers


def saq_redis_agreement(ctx: Context, environ: Mapping[str, str] | None = None) -> list:
    """SM636 findings: a router and a SAQ worker that would use different Redis servers."""
    environ = os.environ if environ is None else environ
    out: list = []
    routers, workers = saq_url_sites(ctx)
    for r_file, r_line, r_chain in routers:
        for w_file, w_line, w_chain in workers:
            why = disagreement(r_chain, w_chain, environ)
            if why:
                add(
                    out,
                    ctx.finding(
                        "SM636",
                        r_file,
                        r_line,
                        f"the router enqueues SAQ jobs on {_describe(r_chain)} but the SAQ worker at {w_file}:{w_line} "
                        f"listens on {_describe(w_chain)} ({why}): jobs routed to SAQ would wait where no worker "
                        "listens. Use one resolution on both sides: leave saq_url unset (or saq_redis_url()) and set "
                        "SAQ_REDIS_URL for both (docs/operations.md, 'Which Redis')",
                        subject=f"saq-redis:{w_file}",
                    ),
                )
                break  # one finding per router site
    return out


def run(ctx: Context) -> CheckResult:
    res = CheckResult("routing")
    url, boot = source(ctx)
    agreement = saq_redis_agreement(ctx)
    if not url and not boot:
        res.findings.extend(agreement)
        res.status = "skipped" if not agreement else "pass"
        res.summary = (
            f"no flag store given (--redis-url, ${ctx.config.flag_store_env} or --bootstrap FILE): "
            "only the SAQ Redis of router and workers checked"
            if agreement
            else f"no flag store given (--redis-url, ${ctx.config.flag_store_env} or --bootstrap FILE)"
        )
        return res
    snap, store, where = load_snapshot(ctx)
    res.findings.extend(agreement)
    check = _FlagsAgainstCode(ctx, snap, res.findings)
    check.unreadable_values()
    check.rules()
    check.routed_tasks()
    check.schedules()
    audited = check.audit(store)
    res.summary = (
        f"{where}: version {snap.version}, mode {snap.mode}, {len(snap.rules)} rule(s), "
        f"{len(snap.schedules)} schedule owner(s){audited}"
    )
    return res


class _FlagsAgainstCode:
    """The flag store's rules and schedule owners checked against the Celery code and the generated
    worker (registry.py, each queue module's FUNCTIONS); findings go to ``out``."""

    def __init__(self, ctx: Context, snap: F.Snapshot, out: list) -> None:
        self.ctx, self.snap, self.out = ctx, snap, out
        plan = ctx.rewrite.plan
        self.reg_rel = f"{plan.package_rel}/registry.py"
        self.reg = read_literals(read(ctx.root / self.reg_rel))
        self.reg_tasks = self.reg.values.get("TASKS", {}) or {}
        self.reg_sched = self.reg.values.get("SCHEDULES", {}) or {}
        self.reg_task_lines = self.reg.key_lines.get("TASKS", {})
        self.functions: dict[str, dict[str, int]] = {}
        for q in plan.queues:
            self.functions[q.name] = read_functions(read(ctx.root / q.rel))
        for q in {e.get("queue") for e in self.reg_tasks.values() if isinstance(e, dict)} - set(self.functions):
            rel = f"{plan.package_rel}/queue_{''.join(c if c.isalnum() or c == '_' else '_' for c in str(q))}.py"
            self.functions[str(q)] = read_functions(read(ctx.root / rel))
        self.tasks = {t.name: t for t in ctx.celery_tasks() if t.name}
        self.known = set(self.tasks) | set(self.reg_tasks)

    def task_where(self, name: str) -> tuple[str, int]:
        t = self.tasks.get(name)
        if t is not None:
            return t.file, t.decorator_line or t.line
        return self.reg_rel, self.reg_task_lines.get(name, 1)

    def unreadable_values(self) -> None:
        ctx, snap = self.ctx, self.snap
        for key in sorted(snap.bad):
            add(
                self.out,
                ctx.finding(
                    "SM637",
                    ctx.config_rel,
                    ctx.config_line("flag_store_env"),
                    f"flag-store value {key} cannot be read ({snap.bad[key]}): routers treat it as "
                    "Celery; rewrite it with `saqmigrate route set/clear/kill` or `route import` of "
                    "a backup",
                    subject=f"bad:{key}",
                ),
            )

    def rules(self) -> None:
        """Rules naming unknown tasks; expired rules."""
        ctx, known, reg_rel = self.ctx, self.known, self.reg_rel
        for name, rule in sorted(self.snap.rules.items()):
            pattern = F._is_pattern(name)
            if (pattern and not any(fnmatch.fnmatchcase(t, name) for t in known)) or (
                not pattern and name not in known
            ):
                what = "matches no known task" if pattern else "names no known task"
                add(
                    self.out,
                    ctx.finding(
                        "SM630",
                        reg_rel,
                        1,
                        f"routing rule {name!r} {what} (not a Celery task in the code, not in "
                        f"{reg_rel}): fix the name, or remove it with `saqmigrate route clear "
                        f"'{name}' --reason ...`",
                        subject=f"rule:{name}",
                    ),
                )
            exp = _expiry(rule)
            if exp is not None and exp <= ctx.now:
                when = _dt.datetime.fromtimestamp(exp, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
                add(
                    self.out,
                    ctx.finding(
                        "SM634",
                        *(self.task_where(name) if name in known else (reg_rel, 1)),
                        f"routing rule {name!r} expired on {when}: decide — set it again without an "
                        f"expiry to keep it, or `saqmigrate route clear '{name}' --reason ...`",
                        subject=f"rule:{name}",
                    ),
                )

    def routed_tasks(self) -> None:
        """Tasks routed to SAQ but not registered under their Celery name."""
        reg_rel = self.reg_rel
        for name in sorted(self.known):
            why = _to_saq(self.snap, name)
            if why is None:
                continue
            entry = self.reg_tasks.get(name)
            problem = None
            if not isinstance(entry, dict):
                problem = f"{reg_rel} has no entry for it"
            else:
                fn = entry.get("saq_function") or name
                q = entry.get("queue") or "default"
                if fn != name:
                    problem = f"{reg_rel} registers it as {fn!r}, not under its Celery name"
                elif name not in self.functions.get(q, {}):
                    problem = f"the SAQ worker for queue {q!r} does not list it in FUNCTIONS"
            if problem:
                add(
                    self.out,
                    self.ctx.finding(
                        "SM631",
                        *self.task_where(name),
                        f"{name} is routed to SAQ ({why}) but {problem}, so a SAQ worker cannot run it: run "
                        f"`saqmigrate rewrite --write` and deploy the SAQ worker, or `saqmigrate route set "
                        f"{name} celery --reason ...`",
                        subject=f"task:{name}",
                    ),
                )

    def schedules(self) -> None:
        """Schedule ownership: each beat entry (in the code or the generated registry) and each owner flag."""
        ctx = self.ctx
        beat: dict[str, list] = defaultdict(list)
        for s in ctx.celery_schedules():
            if s.entry:
                beat[s.entry].append(s)
        scheduler = next(
            (st for st in ctx.index.settings if st.name == "beat_scheduler" and not st.file.endswith("_saq.py")), None
        )
        wiring: list = []  # [WiringProblem | None], computed once, when an entry owned by SAQ needs it
        for entry in sorted(set(beat) | set(self.reg_sched)):
            self.schedule_entry(entry, beat.get(entry, []), scheduler, wiring)
        for entry in sorted(set(self.snap.schedules) - set(beat) - set(self.reg_sched)):
            add(
                self.out,
                ctx.finding(
                    "SM632",
                    self.reg_rel,
                    1,
                    f"the flags set an owner for beat entry {entry!r}, which exists neither in the "
                    f"Celery code nor in {self.reg_rel}: remove it with `saqmigrate route schedules "
                    f"'{entry}' --owner auto --reason ...` or fix the name",
                    subject=f"schedule:{entry}",
                ),
            )

    def schedule_entry(self, entry: str, defs: list, scheduler: object, wiring: list) -> None:
        ctx, out, snap = self.ctx, self.out, self.snap
        sched = self.reg_sched.get(entry) if isinstance(self.reg_sched.get(entry), dict) else None
        task = (sched or {}).get("task") or next((d.task for d in defs if isinstance(d.task, str)), None)
        if task is None:
            return
        owner, reason = F.schedule_owner(snap, entry, task)
        subject = f"schedule:{entry}"
        file, line = (
            (defs[0].file, defs[0].line)
            if defs
            else (self.reg_rel, self.reg.key_lines.get("SCHEDULES", {}).get(entry, 1))
        )
        if len(defs) > 1:
            places = ", ".join(f"{d.file}:{d.line}" for d in defs)
            add(
                out,
                ctx.finding(
                    "SM633",
                    defs[1].file,
                    defs[1].line,
                    f"beat entry {entry!r} is defined {len(defs)} times ({places}): Celery keeps one and "
                    "the other silently disappears; give each a unique name",
                    subject=subject,
                ),
            )
        has_cron = sched is not None and bool(sched.get("cron"))
        explicit = (snap.schedules.get(entry) or {}).get("owner")
        if not has_cron:
            # the runtime keeps an entry without a SAQ cron on beat (ownership.py: not_registered)
            if explicit == F.SAQ:
                add(
                    out,
                    ctx.finding(
                        "SM632",
                        file,
                        line,
                        f"the flags give beat entry {entry!r} to SAQ, but the generated worker has no "
                        "CronJob for it: SAQ cannot fire it and beat keeps it (not_registered), so the "
                        "flag does nothing. Run `saqmigrate rewrite --write`, or reset it with "
                        f"`saqmigrate route schedules '{entry}' --owner auto --reason ...`",
                        subject=subject,
                    ),
                )
            return
        if owner == F.CELERY and not defs:
            add(
                out,
                ctx.finding(
                    "SM632",
                    file,
                    line,
                    f"beat entry {entry!r} exists only as a SAQ CronJob, but Celery owns it ({reason}), "
                    "so nothing fires it: give it to SAQ with `saqmigrate route schedules "
                    f"'{entry}' --owner saq --reason ...`, or run `saqmigrate rewrite --write`",
                    subject=subject,
                ),
            )
        elif owner == F.SAQ and defs:
            if not wiring:
                from saqmigrate.check.beat_wiring import beat_wiring_problem

                wiring.append(beat_wiring_problem(ctx, scheduler))
            problem = wiring[0]
            if problem is not None:
                add(
                    out,
                    ctx.finding(
                        "SM638",
                        problem.file,
                        problem.line,
                        f"beat entry {entry!r} is owned by SAQ ({reason}) but Celery beat would fire it "
                        f"too: {problem.message}",
                        subject=subject,
                    ),
                )

    def audit(self, store: F.FlagStore | None) -> str:
        """The audit stream accounts for every version (SM635); the summary's suffix."""
        if store is None:
            return ""
        ctx, snap = self.ctx, self.snap
        gaps, start = audit_gaps(store, snap.version)
        if gaps:
            add(
                self.out,
                ctx.finding(
                    "SM635",
                    ctx.config_rel,
                    ctx.config_line("flag_store_env"),
                    f"flag store version is {snap.version} but the audit stream has no entry for "
                    f"version(s) {_ranges(gaps)}: flags were written outside `saqmigrate route` "
                    "(who and why is unknown); review `saqmigrate route show` and re-apply the "
                    "intended flags with --reason",
                    subject="audit",
                ),
            )
        return f", audit checked from version {start}"
