"""``saqmigrate dlq``: list, show, requeue and purge SAQ dead letters.

Redis URL: SAQ's Redis, where the workers keep their dead letters: ``--redis-url``, else
``SAQ_REDIS_URL``, else ``REDIS_URL``, else ``redis://localhost:6379`` (runtime/urls.py, the
same resolution as the router and the workers). Exit codes: 0 ok, 1 some requeue failed /
nothing matched an id, 2 usage error or Redis unreachable.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import click

from saqmigrate.cli.common import (
    SaqmigrateGroup,
    die,
    format_option,
    quiet_option,
    repeat_group_options,
    verbose_option,
)
from saqmigrate.errors import EXIT_FINDINGS
from saqmigrate.runtime import serializer
from saqmigrate.runtime.dlq import (
    DEFAULT_PREFIX,
    DeadLetter,
    DeadLetterStore,
    parse_since,
    resolve_redis_url,
)
from saqmigrate.runtime.urls import check_url, redact

EXIT_PARTIAL = EXIT_FINDINGS  # some requeue failed, nothing matched an id (saqmigrate/errors.py)


@dataclass
class _Cfg:
    url: str
    prefix: str


class _RedisDown(Exception):
    pass


def _fail_redis(url: str, exc: BaseException) -> None:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    die(
        f"cannot reach Redis at {redact(url)} ({redact(reason)}); start Redis there, or pass "
        "--redis-url / set SAQ_REDIS_URL to the Redis your SAQ queues use"
    )


def _run(cfg: _Cfg, body: Any) -> Any:
    """Run ``body(store)`` against Redis; a connection failure is a one-line exit 2."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    async def main() -> Any:
        store = DeadLetterStore.from_url(cfg.url, cfg.prefix, socket_timeout=10)
        try:
            try:
                await store.redis.ping()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                raise _RedisDown(exc) from exc
            return await body(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except _RedisDown as exc:
        _fail_redis(cfg.url, exc.__cause__ or exc)
    except (RedisConnectionError, RedisTimeoutError) as exc:
        _fail_redis(cfg.url, exc)


def _since(value: str | None, flag: str = "--since") -> float | None:
    try:
        return parse_since(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).replace("--since", flag), param_hint=flag) from None


def _iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return repr(ts)


def _table(entries: list[DeadLetter], *, verbose: bool = False) -> str:
    headers = ["ID", "FAILED AT (UTC)", "QUEUE", "TASK", "ATTEMPTS", "REASON", "EXCEPTION"]
    rows = [
        [
            e.id,
            _iso(e.failed_at) if e.failed_at else "-",
            e.queue,
            e.function,
            "-" if e.is_corrupt else f"{e.attempts}/{e.retries}",
            e.reason,
            (e.exception or "").splitlines()[0][: None if verbose else 80] if e.exception else "",
        ]
        for e in entries
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines)


def _filters(f: Any) -> Any:
    f = click.option("--task", help="Task (SAQ function) name, exact or glob (send_*).")(f)
    f = click.option("--queue", "queue_name", help="Queue name.")(f)
    f = click.option("--since", help="Failed at or after: 30m, 2h, 7d (ago), or an ISO time (naive = UTC).")(f)
    f = click.option("--before", help="Failed before: 30d (ago) or an ISO time; e.g. purge --before 30d.")(f)
    return f


_format = format_option("text", "json", aliases=("table",), help="Output format; json is for scripts.")


@click.group(name="dlq", cls=SaqmigrateGroup)
@click.option(
    "--redis-url",
    help="SAQ's Redis, holding the dead letters and the SAQ queues "
    "[default: $SAQ_REDIS_URL, $REDIS_URL, redis://localhost:6379].",
)
@click.option(
    "--prefix",
    default=DEFAULT_PREFIX,
    show_default=True,
    envvar="SAQMIGRATE_DLQ_PREFIX",
    help="Key prefix of the dead-letter store (as configured in the worker).",
)
@click.pass_context
def command(ctx: click.Context, redis_url: str | None, prefix: str) -> None:
    """Dead letters: SAQ jobs that failed for good (retries exhausted, or swept)."""
    url = resolve_redis_url(redis_url)
    check_url(url, "--redis-url" if redis_url else "SAQ's Redis URL (SAQ_REDIS_URL / REDIS_URL)")
    ctx.obj = _Cfg(url, prefix)


@command.command(name="list")
@_filters
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many (newest first).")
@_format
@verbose_option(help="Text: the exception's whole first line (default: its first 80 characters).")
@quiet_option(help="Text: only the final line (how many dead letters); no table.")
@click.pass_obj
def list_cmd(
    cfg: _Cfg,
    task: str | None,
    queue_name: str | None,
    since: str | None,
    before: str | None,
    limit: int | None,
    fmt: str,
    verbose: bool,
    quiet: bool,
) -> None:
    """List dead letters, newest first."""
    since_ts, before_ts = _since(since), _since(before, "--before")

    async def body(store: DeadLetterStore) -> list[DeadLetter]:
        return await store.list(task=task, queue=queue_name, since=since_ts, before=before_ts, limit=limit)

    entries = _run(cfg, body)
    if fmt == "json":
        click.echo(json.dumps([e.summary() for e in entries], indent=2))
    elif not entries:
        click.echo("no dead letters" + (" match the filters" if (task or queue_name or since or before) else ""))
    else:
        if not quiet:
            click.echo(_table(entries, verbose=verbose))
        click.echo(f"{len(entries)} dead letter(s)")


@command.command(name="show")
@click.argument("entry_id")
@_format
@click.pass_obj
def show_cmd(cfg: _Cfg, entry_id: str, fmt: str) -> None:
    """Show one dead letter: kwargs, options, timestamps and the traceback."""

    async def body(store: DeadLetterStore) -> tuple[DeadLetter | None, dict | None]:
        return await store.get(entry_id), await store.marker(entry_id)

    entry, marker = _run(cfg, body)
    if entry is None:
        die(f"no dead letter with id {entry_id!r}; list them with `saqmigrate dlq list`", EXIT_PARTIAL)
    if fmt == "json":
        data = entry.summary()
        data["requeue_marker"] = marker
        click.echo(json.dumps(data, indent=2))
        return
    rows = [
        ("id", entry.id),
        ("task", entry.function),
        ("queue", entry.queue),
        ("job key", entry.key),
        ("status", f"{entry.status} ({entry.reason})"),
        ("attempts", f"{entry.attempts} of {entry.retries}"),
        ("failed at", _iso(entry.failed_at)),
        ("enqueued at", _iso(entry.queued / 1000) if entry.queued else "-"),
        ("started at", _iso(entry.started / 1000) if entry.started else "-"),
        (
            "options",
            f"timeout={entry.timeout} retry_delay={entry.retry_delay} "
            f"retry_backoff={entry.retry_backoff} ttl={entry.ttl} heartbeat={entry.heartbeat}",
        ),
        ("worker", entry.worker_id or "-"),
    ]
    if marker:
        rows.append(
            (
                "requeue",
                f"interrupted earlier ({marker['state']}, new key {marker['new_key']}); `requeue` again resumes it",
            )
        )
    for k, v in rows:
        click.echo(f"{k:>12}: {v}")
    kwargs_text = (
        json.dumps(json.loads(serializer.dump(entry.kwargs)), indent=2)
        if entry.kwargs is not None
        else f"(not stored: {entry.kwargs_error})"
    )
    click.echo("      kwargs:")
    click.echo("\n".join("    " + line for line in kwargs_text.splitlines()))
    click.echo("       error:")
    click.echo("\n".join("    " + line for line in (entry.error or "-").splitlines()))


def _select(
    store: DeadLetterStore,
    ids: tuple[str, ...],
    task: str | None,
    queue_name: str | None,
    since_ts: float | None,
    before_ts: float | None,
):
    async def pick() -> tuple[list[DeadLetter], list[str]]:
        if ids:
            found = await store.get_many(list(ids))
            entries = [found[i] for i in ids if i in found]
            missing = [i for i in ids if i not in found]
            entries = [
                e
                for e in entries
                if (not task or e.function == task or fnmatch.fnmatchcase(e.function, task))
                and (not queue_name or e.queue == queue_name)
                and (since_ts is None or e.failed_at >= since_ts)
                and (before_ts is None or e.failed_at < before_ts)
            ]
            return entries, missing
        return await store.list(task=task, queue=queue_name, since=since_ts, before=before_ts, newest_first=False), []

    return pick()


@command.command(name="requeue")
@click.argument("ids", nargs=-1)
@_filters
@click.option("--all", "all_", is_flag=True, help="Requeue every dead letter (when no id or filter is given).")
@click.option("--queue-url", help="Redis URL of the SAQ queues, if not the --redis-url one.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before a bulk requeue (filters / --all).")
@_format
@click.pass_obj
def requeue_cmd(
    cfg: _Cfg,
    ids: tuple[str, ...],
    task: str | None,
    queue_name: str | None,
    since: str | None,
    before: str | None,
    all_: bool,
    queue_url: str | None,
    yes: bool,
    fmt: str,
) -> None:
    """Enqueue dead letters again under new job keys, same kwargs and options.

    A requeue interrupted halfway (Redis down, ^C) leaves the entry in place; running the
    same command again finishes it without enqueueing twice.
    """
    since_ts, before_ts = _since(since), _since(before, "--before")
    if not ids and not (task or queue_name or since_ts is not None or before_ts is not None or all_):
        raise click.UsageError("give dead-letter ids, a filter (--task/--queue/--since/--before), or --all")
    bulk = not ids
    if queue_url:
        try:
            check_url(queue_url, "--queue-url")
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--queue-url") from None
    from saq import Queue

    async def body(store: DeadLetterStore) -> tuple[list[dict], list[str], list[str]]:
        entries, missing = await _select(store, ids, task, queue_name, since_ts, before_ts)
        if bulk and entries and not yes and fmt != "json":
            if not click.confirm(f"Requeue {len(entries)} dead letter(s)?", default=False):
                return [], missing, ["aborted by user"]
        queues: dict[str, Any] = {}

        def queue_for(name: str) -> Any:
            if name not in queues:
                queues[name] = Queue.from_url(
                    queue_url or cfg.url, name=name, dump=serializer.dump, load=serializer.load
                )
            return queues[name]

        done, errors = [], []
        try:
            for e in entries:
                try:
                    r = await store.requeue(e.id, queue_for)
                    done.append(
                        {"id": r.id, "queue": r.queue, "task": e.function, "new_key": r.new_key, "enqueued": r.enqueued}
                    )
                except Exception as exc:  # keep going; report each (the entry is kept)
                    errors.append(f"{e.id}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        finally:
            for q in queues.values():
                try:
                    await q.disconnect()
                except Exception:
                    pass
        return done, missing, errors

    done, missing, errors = _run(cfg, body)
    if fmt == "json":
        click.echo(json.dumps({"requeued": done, "missing": missing, "errors": errors}, indent=2))
    else:
        for d in done:
            click.echo(f"requeued {d['id']} -> {d['queue']}/{d['new_key']}")
        for m in missing:
            click.echo(f"saqmigrate: error: no dead letter with id {m!r}", err=True)
        for err in errors:
            click.echo(f"saqmigrate: error: requeue failed for {err}; the entry is kept, run requeue again", err=True)
        if not done and not missing and not errors:
            click.echo("nothing to requeue")
    if missing or errors:
        sys.exit(EXIT_PARTIAL)


@command.command(name="purge")
@click.argument("ids", nargs=-1)
@_filters
@click.option("--all", "all_", is_flag=True, help="Purge every dead letter (when no id or filter is given).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_format
@click.pass_obj
def purge_cmd(
    cfg: _Cfg,
    ids: tuple[str, ...],
    task: str | None,
    queue_name: str | None,
    since: str | None,
    before: str | None,
    all_: bool,
    yes: bool,
    fmt: str,
) -> None:
    """Delete dead letters for good (asks first unless --yes)."""
    since_ts, before_ts = _since(since), _since(before, "--before")
    if not ids and not (task or queue_name or since_ts is not None or before_ts is not None or all_):
        raise click.UsageError(
            "refusing to purge everything: give ids, a filter (--task/--queue/--since/--before), or --all"
        )

    async def body(store: DeadLetterStore) -> tuple[int, list[str], bool]:
        entries, missing = await _select(store, ids, task, queue_name, since_ts, before_ts)
        if not entries:
            return 0, missing, True
        if not yes:
            if fmt == "json":
                raise click.UsageError("purge needs --yes when not interactive")
            if not click.confirm(f"Purge {len(entries)} dead letter(s)? This cannot be undone", default=False):
                return 0, missing, False
        return await store.delete([e.id for e in entries]), missing, True

    n, missing, confirmed = _run(cfg, body)
    if fmt == "json":
        click.echo(json.dumps({"purged": n, "missing": missing, "confirmed": confirmed}))
    else:
        click.echo(f"purged {n} dead letter(s)" if confirmed else "nothing purged")
        for m in missing:
            click.echo(f"saqmigrate: error: no dead letter with id {m!r}", err=True)
    if missing:
        sys.exit(EXIT_PARTIAL)


def _late_option(cfg: _Cfg, name: str, value: Any) -> None:
    """``--redis-url`` / ``--prefix`` given after the subcommand (cli/common.py repeat_group_options)."""
    if name == "redis_url":
        cfg.url = check_url(value, "--redis-url")
    else:
        cfg.prefix = value


repeat_group_options(command, ("redis_url", "prefix"), _late_option)
