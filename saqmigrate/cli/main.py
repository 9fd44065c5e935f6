"""``saqmigrate`` entry point: a lazy click group over ``cli/commands/*.py``."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from saqmigrate import __version__
from saqmigrate.cli import commands as _commands_pkg

# Exit codes are stable and documented in docs/cli.md (0 ok, 1 findings, 2 usage/environment);
# cli/common.py holds them.


def _command_modules() -> dict[str, str]:
    names = {}
    for info in pkgutil.iter_modules(_commands_pkg.__path__):
        if info.name.startswith("_"):
            continue
        names[info.name.replace("_", "-")] = f"{_commands_pkg.__name__}.{info.name}"
    return names


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_command_modules())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = _command_modules().get(cmd_name)
        if module is None:
            return None
        return importlib.import_module(module).command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="saqmigrate")
def cli() -> None:
    """Move a Celery app to SAQ: scan, rewrite, route, check."""


def main(argv: list[str] | None = None) -> None:
    """Click's standalone mode turns Ctrl-C into "Aborted!" and exit 1, which CI reads as "findings";
    an interrupt exits 130 here, like any shell tool."""
    try:
        rv = cli.main(args=argv, prog_name="saqmigrate", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, EOFError):
            sys.exit(1)
        click.echo("saqmigrate: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("saqmigrate: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
