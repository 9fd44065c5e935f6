"""The errors a person sees are SaqmigrateErrors (one line, exit 2 through the CLI's one handler) and keep
their historical builtin base, so code catching ``ValueError``/``RuntimeError`` still does. Exceptions that
are internal control flow (turned into findings by the analyzer) are not: one escaping is a bug, reported
by ``check``/``verify`` as an internal error instead of a clean user error."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from saqmigrate.cli.common import SaqmigrateGroup
from saqmigrate.cockpit.actions import ActionError
from saqmigrate.cockpit.analysis import AnalysisConfigError
from saqmigrate.cockpit.ramp import RampError
from saqmigrate.errors import EXIT_USAGE, SaqmigrateError
from saqmigrate.index.values import Unresolved
from saqmigrate.runtime.dlq import DeadLetterError
from saqmigrate.runtime.flags import ConflictError, FlagError, StoreUnavailable
from saqmigrate.runtime.jobs import JobOptionError
from saqmigrate.runtime.registry import RegistryError
from saqmigrate.runtime.router import EnqueueTimeout, RouterError, SaqUnavailable
from saqmigrate.runtime.task_class import TaskClassError
from saqmigrate.runtime.window import WindowError
from saqmigrate.translate.cron import CrontabError
from saqmigrate.translate.routing import RouteUnknown

PERSON_FACING = [
    (FlagError, ValueError),
    (ConflictError, RuntimeError),
    (StoreUnavailable, RuntimeError),
    (RegistryError, ValueError),
    (WindowError, ValueError),
    (JobOptionError, ValueError),
    (DeadLetterError, RuntimeError),
    (RouterError, RuntimeError),
    (TaskClassError, RuntimeError),
    (ActionError, ValueError),
    (AnalysisConfigError, ValueError),
    (RampError, ValueError),
]


@pytest.mark.parametrize(("cls", "builtin"), PERSON_FACING, ids=[c.__name__ for c, _ in PERSON_FACING])
def test_person_facing_errors_are_saqmigrate_errors_with_their_old_base(cls: type, builtin: type) -> None:
    exc = cls("pyproject.toml: window_start is not a date (give 2027-01-31)")
    assert isinstance(exc, SaqmigrateError) and isinstance(exc, builtin)
    assert exc.exit_code == EXIT_USAGE
    assert str(exc) == "pyproject.toml: window_start is not a date (give 2027-01-31)"
    assert exc.args == ("pyproject.toml: window_start is not a date (give 2027-01-31)",)


def test_router_errors_keep_their_keyword_fields_and_timeout_base() -> None:
    exc = EnqueueTimeout("no reply from SAQ's Redis in 5 s", task="proj.add", key="k1", queue="celery")
    assert isinstance(exc, SaqmigrateError) and isinstance(exc, TimeoutError) and isinstance(exc, RouterError)
    assert (exc.task, exc.key, exc.queue, str(exc)) == ("proj.add", "k1", "celery", "no reply from SAQ's Redis in 5 s")
    assert isinstance(SaqUnavailable("down", task="t", key="k", queue="q"), SaqmigrateError)


@pytest.mark.parametrize("cls", [Unresolved, RouteUnknown, CrontabError])
def test_analyzer_control_flow_exceptions_are_not_user_errors(cls: type) -> None:
    assert not issubclass(cls, SaqmigrateError)


def test_cli_reports_a_runtime_error_once() -> None:
    @click.group(cls=SaqmigrateGroup)
    def root() -> None:
        pass

    @root.command()
    def down() -> None:
        raise StoreUnavailable("flag store Redis at redis://127.0.0.1:1 does not answer (ConnectionError)")

    res = CliRunner().invoke(root, ["down"])
    assert res.exit_code == EXIT_USAGE
    assert res.output == (
        "saqmigrate: error: flag store Redis at redis://127.0.0.1:1 does not answer (ConnectionError)\n"
    )


def test_runtime_errors_import_without_the_cli_extras() -> None:
    """saqmigrate.errors is standard library only: the runtime modules that subclass it still import with
    click, libcst and rich missing, and pull in no analyzer or CLI module."""
    code = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'click', 'libcst', 'rich', 'litestar', 'litestar_saq'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import saqmigrate.errors
assert [m for m in sys.modules if m.startswith('saqmigrate')] == ['saqmigrate', 'saqmigrate.errors'], sys.modules
import saqmigrate.runtime.flags, saqmigrate.runtime.router, saqmigrate.runtime.jobs, saqmigrate.runtime.window
import saqmigrate.runtime.task_class, saqmigrate.runtime.registry, saqmigrate.runtime.dlq
bad = [m for m in sys.modules if m.startswith(('saqmigrate.cli', 'saqmigrate.index', 'saqmigrate.translate',
                                               'saqmigrate.transform', 'saqmigrate.classify', 'saqmigrate.cockpit'))]
assert not bad, bad
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
