"""The runtime records outcomes without importing the cockpit; the cockpit and its commands work in the
core install (no libcst, rich, litestar)."""

from __future__ import annotations

import subprocess
import sys

RUNTIME = r"""
import sys
import saqmigrate.runtime.outcomes, saqmigrate.runtime.celery_integration, saqmigrate.runtime.worker
import saqmigrate.runtime.metrics, saqmigrate.runtime.router
bad = [m for m in sys.modules if m.startswith(('saqmigrate.cockpit', 'rich', 'libcst'))]  # not click: Celery imports it
assert not bad, bad
print('ok')
"""

CORE = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'libcst', 'rich', 'litestar', 'litestar_saq', 'black'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import saqmigrate.cockpit.analysis, saqmigrate.cockpit.autopilot, saqmigrate.cockpit.dashboard
import saqmigrate.cockpit.server, saqmigrate.cli.commands.dashboard, saqmigrate.cli.commands.route
print('ok')
"""


def test_the_runtime_never_imports_the_cockpit():
    out = subprocess.run([sys.executable, "-c", RUNTIME], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_cockpit_runs_in_the_core_install():
    out = subprocess.run([sys.executable, "-c", CORE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
