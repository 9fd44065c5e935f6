"""The runtime pieces import in a slim production install (no click, libcst, rich, litestar)."""

from __future__ import annotations

import subprocess
import sys

CODE = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'click', 'libcst', 'rich', 'litestar', 'litestar_saq'}:
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
import saqmigrate.runtime.serializer, saqmigrate.runtime.dlq, saqmigrate.runtime.metrics
import saqmigrate.runtime.hooks, saqmigrate.runtime.litestar
bad = [m for m in sys.modules if m.startswith(('saqmigrate.index', 'saqmigrate.classify', 'saqmigrate.transform',
                                               'saqmigrate.cli', 'saqmigrate.translate', 'saqmigrate.plan'))]
assert not bad, bad
print('ok')
"""


def test_runtime_ops_modules_import_without_cli_or_analyzer_deps():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
