"""What every project command does first: check the folder, read ``[tool.saqmigrate]``.

Errors are one line on stderr naming the path or the fix, and exit code 2 (usage error).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

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
