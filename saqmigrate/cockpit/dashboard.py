"""``saqmigrate dashboard``: one page for the migration window, as a plain ASGI app.

Every task with its route (backend, percentage), ramp step, last change and its reason; Celery vs
SAQ side by side (runs, failure rate, p50/p95, verdict) with small inline SVG charts; dead letters;
the window's days left; the kill switch. No external asset: the page (HTML, CSS, SVG, a few lines
of JavaScript) is generated here and works offline.

Reading needs nothing. Writing (kill / unkill, pause / resume a ramp, set a route) needs:

* the token the server was started with (``SAQMIGRATE_DASHBOARD_TOKEN``; without one the page is
  read-only), sent as ``Authorization: Bearer <token>``, compared in constant time;
* a reason (it goes into the audit stream, as with the CLI);
* ``Content-Type: application/json`` and, when the browser sends one, an ``Origin`` equal to the
  page's own host.

No cookie is ever set or read, so a page on another site cannot borrow the operator's credentials:
it cannot read the token, cannot send the ``Authorization`` header or a JSON body cross-origin
without a CORS preflight (which this app never grants), and a forged ``Origin`` is refused. Every
write goes through :mod:`saqmigrate.cockpit.actions`, i.e. the flag store's audited writes.

Mount it in Litestar with :func:`litestar_route`, or serve it with any ASGI server
(``saqmigrate dashboard`` runs a small built-in one).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hmac
import html
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import parse_qs

from saqmigrate.cockpit import actions as A
from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.analysis import Thresholds, format_duration
from saqmigrate.cockpit.service import clamp_window, compare_tasks
from saqmigrate.runtime import flags as F
from saqmigrate.runtime.outcomes import BACKENDS, OutcomeStore, Stats, redis_time

HOSTS_ENV = "SAQMIGRATE_DASHBOARD_HOSTS"
TOKEN_ENV = "SAQMIGRATE_DASHBOARD_TOKEN"
MAX_BODY = 64 * 1024
CHART_POINTS = 30


class Dashboard:
    """The ASGI app. ``token=None`` reads ``SAQMIGRATE_DASHBOARD_TOKEN`` (empty: read-only)."""

    def __init__(
        self,
        store: F.FlagStore,
        *,
        registry: Any = None,
        thresholds: Thresholds | None = None,
        since: float = 3600.0,
        token: str | None = None,
        pyproject: str = "pyproject.toml",
        saq_url: str | None = None,
        dlq_prefix: str | None = None,
        clock: Callable[[], float] | None = None,
        hosts: Any = None,
        cache_seconds: float = 5.0,
    ):
        self.store = store
        self.outcomes = OutcomeStore(store.url, store.keys.namespace, client=store.client)
        self.registry = registry
        self.thresholds = thresholds or Thresholds()
        self.since = float(since)
        self.token = token if token is not None else os.environ.get(TOKEN_ENV, "")
        self.pyproject = pyproject
        self.saq_url = saq_url
        self.dlq_prefix = dlq_prefix
        self.clock = clock or (lambda: redis_time(store.client))  # the clock the outcomes' buckets use
        # the Host names this page answers to (a DNS-rebound name, evil.example -> 127.0.0.1, gets nothing):
        # `hosts` (the built-in server passes localhost and its bind address) plus SAQMIGRATE_DASHBOARD_HOSTS;
        # None with no variable: no check (mounted in an app, whose own allowed-hosts setting applies)
        extra = {h.strip().lower() for h in os.environ.get(HOSTS_ENV, "").split(",") if h.strip()}
        self.hosts = ({h.lower() for h in hosts} | extra) if hosts is not None else (extra or None)
        # reads of the outcomes (every bucket of every task in the window) are computed at most once per
        # `cache_seconds`, by one thread at a time, on a pool of their own: readers, however many, share one
        # computation and can never hold up a write (the kill switch runs on the write pool)
        self.cache_seconds = float(cache_seconds)
        self._view: tuple[float, tuple, Any] | None = None
        self._view_lock = threading.Lock()
        self._reads = ThreadPoolExecutor(2, thread_name_prefix="cockpit-read")
        self._writes = ThreadPoolExecutor(2, thread_name_prefix="cockpit-write")

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "") or ""
        path = scope.get("path", "/") or "/"
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root) :] or "/"
        if len(path) > 1:
            path = path.rstrip("/") or "/"  # Litestar's mount hands "/api/state/"
        method = scope.get("method", "GET")
        host = _host_of(scope)
        if self.hosts is not None and "*" not in self.hosts and host not in self.hosts:
            await _json(
                send,
                400,
                {
                    "ok": False,
                    "error": f"unknown Host {host!r}: add it to {HOSTS_ENV} "
                    "(comma-separated) to serve the dashboard under that name",
                },
            )
            return
        try:
            loop = asyncio.get_running_loop()
            if method in ("GET", "HEAD") and path in ("/", ""):
                page = await loop.run_in_executor(self._reads, self.render_page, root, self._query(scope))
                await _respond(send, 200, page.encode(), "text/html; charset=utf-8")
            elif method in ("GET", "HEAD") and path == "/api/state":
                data = await loop.run_in_executor(self._reads, self.state, self._query(scope))
                await _respond(send, 200, json.dumps(data, default=str).encode(), "application/json")
            elif path.startswith("/api/") and path[5:] in _WRITES:
                if method != "POST":
                    await _json(send, 405, {"ok": False, "error": "use POST"})
                    return
                status, body = await self.write(scope, receive, path[5:])
                await _json(send, status, body)
            else:
                await _json(send, 404, {"ok": False, "error": f"no page at {path}"})
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback to the browser
            await _json(send, 500, {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})

    @staticmethod
    def _query(scope: dict) -> dict[str, str]:
        raw = scope.get("query_string", b"").decode("latin-1")
        return {k: v[-1] for k, v in parse_qs(raw).items()}

    # -- writes ---------------------------------------------------------------------------------

    async def write(self, scope: dict, receive: Callable, action: str) -> tuple[int, dict[str, Any]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.token:
            return 403, {"ok": False, "error": f"read-only dashboard: start it with {TOKEN_ENV} set to allow changes"}
        auth = headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return 401, {"ok": False, "error": "a valid token is required for changes (Authorization: Bearer ...)"}
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return 415, {"ok": False, "error": "changes are JSON requests (Content-Type: application/json)"}
        origin = headers.get("origin")
        if origin is not None:  # a browser sends it: the page's own scheme and host, never "null"
            scheme, _, host = origin.partition("://")
            if origin == "null" or host.rstrip("/") != headers.get("host", "") or scheme != scope.get("scheme", "http"):
                return 403, {"ok": False, "error": f"cross-origin change refused (Origin {origin})"}
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if len(body) > MAX_BODY:
                return 413, {"ok": False, "error": "request too large"}
            if not msg.get("more_body"):
                break
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return 400, {"ok": False, "error": "the body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"ok": False, "error": "the body must be a JSON object"}
        client = scope.get("client") or ("?", 0)
        actor = f"dashboard@{client[0]}"
        argv = ["dashboard", action] + [str(data.get(k)) for k in ("task", "backend", "percent") if data.get(k)]
        try:
            out = await asyncio.get_running_loop().run_in_executor(
                self._writes, _WRITES[action], self, data, actor, argv
            )
        except (A.ActionError, F.FlagError, F.ConflictError, R.RampError) as exc:
            return 400, {"ok": False, "error": str(exc)}
        self._view = None  # the next read shows the change
        return 200, out

    # -- reads ----------------------------------------------------------------------------------

    def state(self, query: dict[str, str] | None = None) -> dict[str, Any]:
        """Everything the page shows, as JSON (also ``GET api/state``). The flags and plans are read each time;
        the comparisons and charts (the outcomes' buckets) come from :meth:`outcome_view`."""
        now = self.clock()
        win = clamp_window(self.outcomes, self.since)
        since = win.since
        snap = self.store.snapshot()
        plans = R.load_plans(self.store)
        status = R.load_status(self.store)
        seen = self.outcomes.tasks(now - max(since, min(self.thresholds.baseline_seconds, win.retention)))
        names = set(seen) | set(plans) | {n for n in snap.rules if not F._is_pattern(n)}
        if self.registry is not None:
            names |= set(self.registry.tasks)
        names = sorted(names)
        rows, series, computed_at = self.outcome_view(names, since, now)
        tasks = []
        for name in names:
            matched, rule = snap.rule_for(name)
            tasks.append(
                {
                    "task": name,
                    "route": _route_text(snap, matched, rule),
                    "rule": dict(rule) if rule else None,
                    "matched": matched,
                    "last_change": {"at": (rule or {}).get("updated_at"), "reason": (rule or {}).get("reason")},
                    "plan": plans[name].to_json() if name in plans else None,
                    "plan_status": status.get(name),
                    "comparison": rows[name].to_json() if name in rows else None,
                    "chart": {b: _points(series.get((name, b), [])) for b in BACKENDS},
                    "queue": self.registry.tasks[name].queue
                    if self.registry is not None and name in self.registry.tasks
                    else None,
                }
            )
        return {
            "namespace": self.store.keys.namespace,
            "version": snap.version,
            "mode": snap.mode,
            "bad": dict(snap.bad),
            "since": format_duration(since),
            "clamped": win.clamped or None,
            "notes": win.notes,
            "thresholds": self.thresholds.to_json(),
            "window": self._window(),
            "dead_letters": self._dead_letters(),
            "writable": bool(self.token),
            "now": now,
            "outcomes_at": computed_at,
            "tasks": tasks,
        }

    def outcome_view(self, names: list[str], since: float, now: float) -> tuple[dict[str, Any], dict, float]:
        """(comparison per task, chart series, when computed): computed at most once per ``cache_seconds`` for
        the same tasks and window, one computation at a time (readers arriving meanwhile wait for it and share
        it), so N readers cost one pass over the buckets, not N."""
        key = (tuple(names), since)

        def fresh() -> Any:
            v = self._view
            return v[2] if v is not None and v[1] == key and time.monotonic() - v[0] < self.cache_seconds else None

        hit = fresh()
        if hit is not None:
            return hit
        with self._view_lock:
            hit = fresh()
            if hit is not None:
                return hit
            rows = {
                c.task: c for c in compare_tasks(self.outcomes, names, since=since, thresholds=self.thresholds, now=now)
            }
            series = self.outcomes.series(names, now - since, now) if names else {}
            value = (rows, series, now)
            self._view = (time.monotonic(), key, value)
            return value

    def _window(self) -> dict[str, Any] | None:
        from saqmigrate.runtime.window import WindowError, load_window

        try:
            w = load_window(self.pyproject)
        except WindowError as exc:
            return {"error": str(exc)}
        return w.to_json() if w else None

    def _dead_letters(self) -> dict[str, Any] | None:
        """Entries per queue in the dead-letter store (SAQ's Redis); None when it cannot be read."""
        if self.saq_url is None:
            return None
        from saqmigrate.runtime.dlq import DEFAULT_PREFIX, DeadLetterStore

        async def counts():
            st = DeadLetterStore.from_url(self.saq_url, self.dlq_prefix or DEFAULT_PREFIX, socket_timeout=2)
            try:
                return await st.counts_by_queue()
            finally:
                await st.close()

        try:
            return asyncio.run(counts())
        except Exception as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {exc}"}

    # -- the page -------------------------------------------------------------------------------

    def render_page(self, root: str = "", query: dict[str, str] | None = None) -> str:
        return render(self.state(query), root)


def _route_text(snap: F.Snapshot, matched: str | None, rule: Any) -> str:
    if snap.mode == "force-celery":
        return "celery (kill switch)"
    if snap.mode == "force-saq":
        return "saq (force-saq)"
    if not rule:
        return "celery (default)"
    if rule.get("bad"):
        return "celery (bad rule)"
    bp = int(rule.get("percent_bp", F.FULL_BP))
    text = f"saq {bp / 100:g}%" if rule.get("target") == F.SAQ and bp < F.FULL_BP else str(rule.get("target"))
    return text if matched and not F._is_pattern(matched) else f"{text} (pattern {matched})"


def _points(row: list[tuple[int, Stats]], n: int = CHART_POINTS) -> list[dict[str, int]]:
    """At most ``n`` points (consecutive buckets merged): runs and failures per point."""
    if not row:
        return []
    size = max(1, -(-len(row) // n))
    out = []
    for i in range(0, len(row), size):
        chunk = row[i : i + size]
        out.append(
            {"t": chunk[0][0], "runs": sum(s.runs for _t, s in chunk), "failures": sum(s.failures for _t, s in chunk)}
        )
    return out


# ---------------------------------------------------------------------------- write handlers


def _kill(d: Dashboard, data: dict, actor: str, argv: list[str]) -> dict:
    return A.kill(d.store, data.get("reason"), actor=actor, argv=argv)


def _unkill(d: Dashboard, data: dict, actor: str, argv: list[str]) -> dict:
    return A.unkill(d.store, data.get("reason"), actor=actor, argv=argv)


def _pause(d: Dashboard, data: dict, actor: str, argv: list[str]) -> dict:
    return A.pause_ramp(d.store, data.get("task"), data.get("reason"), actor=actor, argv=argv)


def _resume(d: Dashboard, data: dict, actor: str, argv: list[str]) -> dict:
    return A.resume_ramp(
        d.store, data.get("task"), data.get("reason"), actor=actor, argv=argv, registry=d.registry, saq_url=d.saq_url
    )


def _route(d: Dashboard, data: dict, actor: str, argv: list[str]) -> dict:
    return A.set_route(
        d.store,
        data.get("task"),
        str(data.get("backend") or ""),
        data.get("percent"),
        data.get("reason"),
        actor=actor,
        argv=argv,
        registry=d.registry,
        saq_url=d.saq_url,
    )


_WRITES: dict[str, Callable[[Dashboard, dict, str, list[str]], dict]] = {
    "kill": _kill,
    "unkill": _unkill,
    "ramp/pause": _pause,
    "ramp/resume": _resume,
    "route": _route,
}


async def _respond(send: Callable, status: int, body: bytes, ctype: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", ctype.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
                (b"x-frame-options", b"DENY"),
                (b"referrer-policy", b"no-referrer"),
                (
                    b"content-security-policy",
                    b"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
                    b"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
                ),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _host_of(scope: dict) -> str:
    """The request's Host header without its port, lower case ('' when absent)."""
    for k, v in scope.get("headers", []):
        if k.lower() == b"host":
            h = v.decode("latin-1").strip().lower()
            if h.startswith("["):
                return h.split("]", 1)[0] + "]"
            return h.rsplit(":", 1)[0] if h.count(":") == 1 else h
    return ""


async def _json(send: Callable, status: int, data: dict) -> None:
    await _respond(send, status, json.dumps(data, default=str).encode(), "application/json")


# ---------------------------------------------------------------------------- HTML


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(rate: Any) -> str:
    return "–" if rate is None else f"{rate * 100:.2f}%"


def _ms(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def _when(ts: Any) -> str:
    try:
        return _dt.datetime.fromtimestamp(float(ts), _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return "–"


def chart_svg(chart: dict[str, list[dict[str, int]]], width: int = 180, height: int = 44) -> str:
    """Runs per interval on each backend (lines) and failures (red marks), as inline SVG."""
    colours = {"celery": "#3b6ea8", "saq": "#2e9b5f"}
    top = max([p["runs"] for pts in chart.values() for p in pts] + [1])
    n = max([len(pts) for pts in chart.values()] + [1])
    step = width / max(1, n - 1)
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="runs per interval: celery blue, saq green, failures red">',
        f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="#ccc"/>',
    ]
    for backend, pts in chart.items():
        if not pts:
            continue
        coords = " ".join(
            f"{i * step:.1f},{height - 2 - (p['runs'] / top) * (height - 6):.1f}" for i, p in enumerate(pts)
        )
        parts.append(
            f'<polyline class="line-{backend}" fill="none" stroke="{colours.get(backend, "#555")}" '
            f'stroke-width="1.5" points="{coords}"/>'
        )
        for i, p in enumerate(pts):
            if p["failures"]:
                y = height - 2 - (p["runs"] / top) * (height - 6)
                parts.append(
                    f'<circle class="fail-{backend}" cx="{i * step:.1f}" cy="{y:.1f}" r="2.5" '
                    f'fill="#c62828"><title>{backend}: {p["failures"]} failed</title></circle>'
                )
    parts.append("</svg>")
    return "".join(parts)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em} .meta{color:#555;margin-bottom:.8em}
.kill{background:#c62828;color:#fff;padding:.5em .8em;border-radius:4px;font-weight:bold;margin:.5em 0}
.ok{background:#e8f5e9;padding:.5em .8em;border-radius:4px;margin:.5em 0}
table{border-collapse:collapse;width:100%;background:#fff} th,td{border-bottom:1px solid #e3e3e3;padding:.35em .5em;
text-align:left;vertical-align:top} th{background:#f0f0f0;font-weight:600} td.num{text-align:right;white-space:nowrap}
.verdict-pass{color:#1b5e20;font-weight:bold}.verdict-fail{color:#c62828;font-weight:bold}
.verdict-insufficient{color:#777} .small{font-size:.85em;color:#555} .controls{margin:.8em 0;padding:.6em;
background:#fff;border:1px solid #e3e3e3;border-radius:4px} input,select,button{font:inherit;margin:.1em}
button{cursor:pointer} #msg{margin:.5em 0;font-weight:bold} .legend span{margin-right:1em}
"""

_JS = """
const ROOT = document.body.dataset.root;
const tok = document.getElementById('token');
tok.value = sessionStorage.getItem('saqmigrate-token') || '';
function msg(text, ok){const m=document.getElementById('msg');m.textContent=text;m.style.color=ok?'#1b5e20':'#c62828';}
async function post(action, body){
  const reason = document.getElementById('reason').value.trim();
  sessionStorage.setItem('saqmigrate-token', tok.value);
  body.reason = reason;
  let r, data;
  try {
    r = await fetch(ROOT + '/api/' + action, {method:'POST', headers:{'Content-Type':'application/json',
      'Authorization':'Bearer ' + tok.value}, body: JSON.stringify(body), credentials:'omit'});
    data = await r.json();
  } catch (e) { msg('request failed: ' + e, false); return; }
  if (r.ok && data.ok) { msg(data.message || 'done', true); setTimeout(()=>location.reload(), 800); }
  else msg('refused: ' + (data.error || r.status), false);
}
document.querySelectorAll('[data-action]').forEach(b => b.addEventListener('click', () => {
  const a = b.dataset.action, body = {};
  if (b.dataset.task) body.task = b.dataset.task;
  if (a === 'route') { const row = b.closest('tr'); body.backend = row.querySelector('.backend').value;
    body.percent = row.querySelector('.percent').value; }
  post(a, body);
}));
"""


def render(state: dict[str, Any], root: str = "") -> str:
    """The page for a :meth:`Dashboard.state` dict (pure: testable without a server)."""
    mode = state["mode"]
    w = state.get("window")
    if not w:
        window = "window: not configured"
    elif "error" in w:
        window = f"window: {w['error']}"
    else:
        window = (
            f"window: day {w['day']} of {w['days']}, "
            + ("EXPIRED" if w["expired"] else f"{w['days_left']} days left")
            + f" (ends {w['end']})"
        )
    banner = (
        f'<div class="kill" id="mode">KILL SWITCH ON: every dispatch goes to Celery (mode {_e(mode)})</div>'
        if mode != "normal"
        else '<div class="ok" id="mode">routing normal: per-task rules apply</div>'
    )
    t = state["thresholds"]
    rows = []
    for task in state["tasks"]:
        c = task.get("comparison") or {}
        cel, saq = c.get("celery") or {}, c.get("saq") or {}
        plan = task.get("plan")
        if plan:
            idx = min(plan["index"], len(plan["steps"]) - 1)
            ramp = (
                f"{_e(plan['state'])} step {idx + 1}/{len(plan['steps'])} ({plan['steps'][idx]:g}%)"
                f'<div class="small">{_e((task.get("plan_status") or {}).get("summary") or plan.get("reason"))}</div>'
            )
            button = ("ramp/pause", "pause") if plan["state"] == R.ACTIVE else ("ramp/resume", "resume")
            ramp += (
                f'<button data-action="{button[0]}" data-task="{_e(task["task"])}">{button[1]} ramp</button>'
                if plan["state"] != R.DONE
                else ""
            )
        else:
            ramp = "–"
        change = task.get("last_change") or {}
        verdict = c.get("verdict") or "–"
        reasons = "; ".join(c.get("reasons") or [])
        rows.append(
            f'<tr data-task="{_e(task["task"])}"><td><b>{_e(task["task"])}</b>'
            f'<div class="small">{_e(task.get("queue") or "")}</div></td>'
            f'<td class="route">{_e(task["route"])}</td><td>{ramp}</td>'
            f'<td class="small">{_e(_when(change.get("at")))}<br>{_e(change.get("reason") or "")}</td>'
            f'<td class="num">{cel.get("runs", 0)}<br>{saq.get("runs", 0)}</td>'
            f'<td class="num">{_pct(cel.get("failure_rate"))}<br>{_pct(saq.get("failure_rate"))}</td>'
            f'<td class="num">{_ms(cel.get("p50"))}<br>{_ms(saq.get("p50"))}</td>'
            f'<td class="num">{_ms(cel.get("p95"))}<br>{_ms(saq.get("p95"))}</td>'
            f'<td class="num">{cel.get("dead_letters", 0)}<br>{saq.get("dead_letters", 0)}</td>'
            f'<td class="verdict-{_e(verdict)}" title="{_e(reasons)}">{_e(verdict)}</td>'
            f"<td>{chart_svg(task.get('chart') or {})}</td>"
            f'<td><select class="backend"><option>celery</option><option>saq</option></select>'
            f'<input class="percent" size="4" placeholder="%">'
            f'<button data-action="route" data-task="{_e(task["task"])}">set</button></td></tr>'
        )
    dl = state.get("dead_letters")
    if dl is None:
        dead = "dead-letter store: not read (start with --saq-url)"
    elif "error" in dl:
        dead = f"dead-letter store: {_e(dl['error'])}"
    else:
        dead = "dead letters: " + (", ".join(f"{_e(q)} {n}" for q, n in dl.items()) or "none")
    writable = (
        "changes need the token and a reason"
        if state.get("writable")
        else "read-only: the server has no SAQMIGRATE_DASHBOARD_TOKEN"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>saqmigrate cockpit</title><style>{_CSS}</style></head>
<body data-root="{_e(root)}">
<h1>saqmigrate cockpit</h1>
<div class="meta">namespace {_e(state["namespace"])} · flag version {_e(state["version"])} · {_e(window)} ·
comparison over the last {_e(state["since"])} (verdict: failure rate ≤ +{t["max_failure_rate_diff_pp"]:g} pp
at z = {t.get("confidence_z", 4):g},
p95 ≤ ×{t["max_p95_ratio"]:g}, ≥ {t["min_runs"]} runs per side) · {dead}</div>
{banner}
{"".join(f'<div class="small" id="note">note: {_e(n)}</div>' for n in state.get("notes") or [])}
<div class="controls"><label>token <input id="token" type="password" autocomplete="off"></label>
<label>reason <input id="reason" size="40" placeholder="why (goes into the audit stream)"></label>
<button data-action="kill" id="kill">Kill switch: everything to Celery</button>
<button data-action="unkill" id="unkill">Kill switch off</button>
<span class="small">{_e(writable)}</span><div id="msg" role="status"></div></div>
<div class="legend small"><span style="color:#3b6ea8">■ celery runs</span><span style="color:#2e9b5f">■ saq runs</span>
<span style="color:#c62828">● failures</span> (each cell: celery above, saq below)</div>
<table id="tasks"><thead><tr><th>task</th><th>route</th><th>ramp</th><th>last change</th><th>runs</th>
<th>failure rate</th><th>p50</th><th>p95</th><th>dead letters</th><th>verdict</th><th>runs over time</th>
<th>set route</th></tr></thead><tbody>
{"".join(rows) or '<tr><td colspan="12">no tasks yet: no outcomes, rules or ramp plans</td></tr>'}
</tbody></table>
<script>{_JS}</script></body></html>"""


def litestar_route(dashboard: Dashboard, path: str = "/cockpit") -> Any:
    """A Litestar route handler mounting ``dashboard`` at ``path`` (as runtime/litestar.py mounts metrics)."""
    import inspect

    from litestar import asgi

    options: dict[str, Any] = {"is_mount": True, "include_in_schema": False}
    if "copy_scope" in inspect.signature(asgi).parameters:  # litestar >= 2.11
        options["copy_scope"] = True

    mount = "/" + path.strip("/")

    @asgi(path, **options)
    async def saqmigrate_cockpit(scope: Any, receive: Any, send: Any) -> None:
        # Litestar hands the mounted app the path below the mount ("/", "/api/state/") and no root_path:
        # the page needs the mount point for its own links
        scope = dict(scope)
        root = (scope.get("root_path") or "").rstrip("/")
        scope["root_path"] = root if root.endswith(mount) else root + mount
        if scope.get("path", "").startswith(scope["root_path"] + "/"):
            scope["path"] = scope["path"][len(scope["root_path"]) :]
        await dashboard(scope, receive, send)

    return saqmigrate_cockpit
