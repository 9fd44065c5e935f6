"""What every project command does first: check the folder, read ``[tool.saqmigrate]``.

Errors are one line on stderr naming the path or the fix, and exit code 2 (usage error).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any, Callable, NoReturn

import click

from saqmigrate.config import Config, ConfigError, load_config

EXIT_OK = 0
EXIT_FINDINGS = 1  # a check failed, rewrite --check found changes, scan --fail-on matched
EXIT_USAGE = 2  # bad path, config or flag value, unwritable output, service unreachable


def die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"saqmigrate: error: {message}", err=True)
    sys.exit(code)


def project_config(path: Path, config_path: Path | None = None) -> Config:
    """The project's configuration, after checking that ``path`` is a folder."""
    if not path.exists():
        die(f"{path}: no such directory")
    if not path.is_dir():
        die(f"{path}: not a directory (give the project folder)")
    try:
        return load_config(path, config_path)
    except ConfigError as exc:
        die(str(exc))


# --- options every command spells the same way ---------------------------------------------------

#: Spellings kept for compatibility: `check --format human` and `--format table` (demo, dlq, route)
#: mean the text report.
FORMAT_ALIASES = {"human": "text", "table": "text"}


def format_option(*formats: str, default: str = "text", aliases: tuple[str, ...] = (),
                  help: str = "Output format.") -> Callable[[Any], Any]:  # noqa: A002 - click's name
    """``--format`` with ``text`` as the human report and ``json`` for scripts, like ruff and black;
    ``aliases`` (from FORMAT_ALIASES) are accepted and passed to the command as their canonical name."""

    def canonical(ctx: click.Context, param: click.Parameter, value: str) -> str:
        return FORMAT_ALIASES.get(value, value)

    names = [*formats, *aliases]
    extra = f" ({', '.join(f'{a} = {FORMAT_ALIASES[a]}' for a in aliases)})" if aliases else ""
    return click.option("--format", "fmt", type=click.Choice(names), default=default, show_default=True,
                        callback=canonical, help=help + extra)


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


def console(*, stderr: bool = False, **kwargs: Any) -> Any:
    """A rich Console that follows --color (rich itself honours NO_COLOR and FORCE_COLOR)."""
    from rich.console import Console

    choice = color_choice()
    stream = sys.stderr if stderr else sys.stdout
    if "width" not in kwargs and "file" not in kwargs and not getattr(stream, "isatty", lambda: False)() \
            and not os.environ.get("COLUMNS"):
        kwargs["width"] = 160  # piped into a CI log: wide lines, not paths cut at 80 columns
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
