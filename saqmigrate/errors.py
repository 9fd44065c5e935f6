"""The one error type a person sees, and the exit codes, defined once.

Every error saqmigrate raises for a person (a bad path, configuration or flag value, a service that
does not answer, a file it cannot write) is a :class:`SaqmigrateError`: one line naming the file or
the fix, and the exit code the command ends with. The CLI handles it in one place
(``saqmigrate.cli.common.SaqmigrateGroup``, used by the entry point): ``saqmigrate: error: <message>``
on stderr, exit ``exit_code``. Subclasses keep their historical builtin base too
(``class ConfigError(SaqmigrateError, ValueError)``) so code catching ``ValueError`` still does.

Exit codes, as in ruff and black (docs/cli.md): 0 ok; 1 findings (a check failed, ``--diff``/``--check``
with changes pending, ``scan --fail-on`` matched, ``verify`` found a difference, a ``dlq`` batch
partly failed); 2 usage or environment (bad path, config or flag value, unwritable output, service
unreachable); 130 interrupted.

Imports nothing but the standard library: the runtime (what a production app imports) may use it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class SaqmigrateError(Exception):
    """An error for a person: ``message`` is one line naming the file or the fix; the CLI exits with
    ``exit_code`` (default :data:`EXIT_USAGE`)."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str = "", exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if self.message else super().__str__()
