"""What every command shares: the error handling, the project folder and ``[tool.saqmigrate]``,
and the options every command spells the same way.

Errors are :class:`saqmigrate.errors.SaqmigrateError`: one line on stderr naming the path or the fix
(``saqmigrate: error: ...``) and the error's exit code (2, usage error, unless it says otherwise),
reported in one place, :class:`SaqmigrateGroup`.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import IO, Any, Callable, NoReturn

import click

from saqmigrate.config import Config, load_config
from saqmigrate.errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, SaqmigrateError

__all__ = [
    "EXIT_OK",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "SaqmigrateError",
    "SaqmigrateGroup",
    "die",
    "project_config",
    "config_option",
    "format_option",
    "quiet_option",
    "verbose_option",
    "summary_line",
    "console",
    "use_color",
    "color_choice",
    "echo_diff",
]


def die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Stop the command with one error line and ``code`` (reported by :class:`SaqmigrateGroup`)."""
    raise SaqmigrateError(message, code)


def warn(message: str) -> None:
    """One warning line on stderr, with the prefix every command uses (``saqmigrate: warning: ...``)."""
    click.echo(f"saqmigrate: warning: {message}", err=True)


def report_error(exc: SaqmigrateError) -> int:
    """Print ``exc`` as the one error line every command uses; return its exit code."""
    click.echo(f"saqmigrate: error: {exc}", err=True)
    return exc.exit_code


def redis_error_line(exc: BaseException) -> str:
    """A redis-py error as one line for a person (the URL it names is redacted)."""
    from saqmigrate.runtime.urls import redact

    text = redact(str(exc).splitlines()[0] if str(exc) else "")
    kind = type(exc).__name__
    if kind == "ResponseError" or "ResponseError" in [c.__name__ for c in type(exc).__mro__]:
        what = f"Redis answered with an error: {text}"
    else:
        what = f"Redis failed ({kind}): {text}" if text else f"Redis failed ({kind})"
    return f"{what}; check the Redis URL (--redis-url, SAQ_REDIS_URL / REDIS_URL) and that the server is up"


class SaqmigrateGroup(click.Group):
    """A click group whose commands' :class:`SaqmigrateError` end as one line on stderr and the error's
    exit code: the one place errors are reported (the root group; ``route`` and ``dlq`` are groups of
    this class too, so invoking them on their own behaves the same)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SaqmigrateError as exc:
            ctx.exit(report_error(exc))
        except Exception as exc:
            if not type(exc).__module__.startswith("redis."):
                raise
            # a Redis that is down or answers with an error, where a command did not say more: one line
            ctx.exit(report_error(SaqmigrateError(redis_error_line(exc))))


def repeat_group_options(group: click.Group, names: tuple[str, ...], apply: Callable[[Any, str, Any], None]) -> None:
    """Accept the group options ``names`` after every subcommand too (``route show --redis-url X``,
    ``dlq list --redis-url X``), as they are accepted before it: users put options where ruff and
    black take them. The subcommand's copy is parsed after the group's callback made ``ctx.obj``, so
    ``apply(ctx.obj, name, value)`` updates it; a value given after the subcommand wins. Declared once:
    call this after the group's subcommands are defined."""
    originals = [p for p in group.params if isinstance(p, click.Option) and p.name in names]
    for sub in group.commands.values():
        taken = {o for p in sub.params for o in getattr(p, "opts", [])}
        for option in originals:
            if any(o in taken for o in option.opts):
                continue

            def callback(ctx: click.Context, param: click.Parameter, value: Any, name: str = str(option.name)) -> None:
                if value is not None:
                    apply(ctx.obj, name, value)

            sub.params.append(
                click.Option(
                    option.opts,
                    type=option.type,
                    default=None,
                    expose_value=False,
                    callback=callback,
                    help=f"{option.help} (also before the subcommand)" if option.help else None,
                )
            )


def project_config(path: Path, config_path: Path | None = None) -> Config:
    """The project's configuration, after checking that ``path`` is a folder."""
    if not path.exists():
        die(f"{path}: no such directory")
    if not path.is_dir():
        die(f"{path}: not a directory (give the project folder)")
    return load_config(path, config_path)  # ConfigError is a SaqmigrateError: one line, exit 2


# --- options every command spells the same way ---------------------------------------------------


def config_option(
    help: str = "pyproject.toml to read [tool.saqmigrate] from (default: PATH's).",
) -> Callable[[Any], Any]:  # noqa: A002
    """``--config FILE``, passed to the command as ``config_path`` (a Path or None), for every command
    that reads ``[tool.saqmigrate]`` of a project (give it to :func:`project_config`)."""
    return click.option(
        "--config", "config_path", type=click.Path(path_type=Path, exists=True, dir_okay=False), help=help
    )


#: Spellings kept for compatibility: `check --format human` and `--format table` (demo, dlq, route)
#: mean the text report.
FORMAT_ALIASES = {"human": "text", "table": "text"}


def format_option(
    *formats: str, default: str = "text", aliases: tuple[str, ...] = (), help: str = "Output format."
) -> Callable[[Any], Any]:  # noqa: A002 - click's name
    """``--format`` with ``text`` as the human report and ``json`` for scripts, like ruff and black;
    ``aliases`` (from FORMAT_ALIASES) are accepted and passed to the command as their canonical name."""

    def canonical(ctx: click.Context, param: click.Parameter, value: str) -> str:
        return FORMAT_ALIASES.get(value, value)

    names = [*formats, *aliases]
    extra = f" ({', '.join(f'{a} = {FORMAT_ALIASES[a]}' for a in aliases)})" if aliases else ""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(names),
        default=default,
        show_default=True,
        callback=canonical,
        help=help + extra,
    )


def _exclusive(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    """-q and -v exclude each other: one error line, exit 2 (whichever is processed second notices)."""
    other = {"quiet": "verbose", "verbose": "quiet"}.get(param.name or "")
    if value and other and ctx.params.get(other):
        raise SaqmigrateError("-q/--quiet and -v/--verbose exclude each other: give one")
    return value


QUIET_HELP = "Print only errors and the final one-line summary (exit codes unchanged)."


def quiet_option(help: str = QUIET_HELP) -> Callable[[Any], Any]:  # noqa: A002 - click's name
    """``-q/--quiet``, passed as ``quiet``: the command prints its error lines and its final one-line
    summary, nothing else; the exit code does not change. Machine formats (``--format json`` ...) and
    reports written with ``-o`` are the same with or without it."""
    return click.option("--quiet", "-q", "quiet", is_flag=True, callback=_exclusive, help=help)


def verbose_option(help: str) -> Callable[[Any], Any]:  # noqa: A002 - click's name
    """``-v/--verbose``, passed as ``verbose``, only on commands where it adds per-item detail (``help``
    says which); given with ``--quiet`` it is a usage error."""
    return click.option("--verbose", "-v", "verbose", is_flag=True, callback=_exclusive, help=help)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def summary_line(render: Callable[[Any], None]) -> str:
    """The last line ``render(console)`` prints, for ``--quiet``: reports rendered with rich end with
    their one-line summary, so quiet output is that line, worded and coloured (per --color) the same."""
    from io import StringIO

    buf = StringIO()
    colour = {"color_system": "standard"} if use_color() else {}  # auto on a terminal: as the full report
    render(console(file=buf, width=100_000, **colour))
    lines = [line for line in buf.getvalue().splitlines() if _ANSI.sub("", line).strip()]
    return lines[-1].rstrip() if lines else ""


# --- colour: `saqmigrate --color auto|always|never`, NO_COLOR ------------------------------------


def color_choice() -> bool | None:
    """True (always), False (never) or None (auto: a terminal, unless NO_COLOR is set), as the root
    group's --color set it."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        return ctx.find_root().meta.get("saqmigrate.color")
    return False if os.environ.get("NO_COLOR") else None


def use_color(stream: IO[str] | None = None) -> bool:
    """Whether to colour ``stream`` (default stdout) now."""
    choice = color_choice()
    if choice is not None:
        return choice
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


# Reports that go to a pipe, a CI log or a file (-o) are as wide as their content: rich would otherwise
# fit tables to 80 columns by cutting paths ("pkg/very_long…"), file:line and whole columns. Like ruff's
# output, a long line stays one line that grep and an editor's "go to file:line" can use.
NON_TTY_WIDTH = 10_000


def console(*, stderr: bool = False, **kwargs: Any) -> Any:
    """A rich Console that follows --color (rich itself honours NO_COLOR and FORCE_COLOR); not on a
    terminal (a pipe, a file given as ``file=``), never narrower than its content, whatever ``COLUMNS`` says."""
    from rich.console import Console

    choice = color_choice()
    stream = kwargs.get("file") or (sys.stderr if stderr else sys.stdout)
    if "width" not in kwargs and not getattr(stream, "isatty", lambda: False)():
        kwargs["width"] = NON_TTY_WIDTH  # COLUMNS too (CI runners set 80): a pipe is not a terminal to fit
    if choice is False:
        kwargs.setdefault("color_system", None)
    elif choice is True:  # colours even when piped (CI logs); terminal-only behaviour stays off
        kwargs.setdefault("color_system", "standard")
        kwargs.setdefault("no_color", False)  # the flag wins over NO_COLOR
    return Console(stderr=stderr, **kwargs)


def echo_diff(changes: Any, color: bool | None) -> None:
    """Print the unified diff of each change (rewrite/finalize --diff), coloured like git when asked."""
    import click

    use = use_color(sys.stdout) if color is None else color
    for c in changes:
        for line in c.diff().splitlines():
            if use and line.startswith("+") and not line.startswith("+++"):
                line = click.style(line, fg="green")
            elif use and line.startswith("-") and not line.startswith("---"):
                line = click.style(line, fg="red")
            elif use and line.startswith("@@"):
                line = click.style(line, fg="cyan")
            click.echo(line, color=use)
