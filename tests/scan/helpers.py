"""Build small projects on disk and scan them (no import of the scanned code ever happens)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from saqmigrate.config import Config
from saqmigrate.scan import run_scan


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def scan(root: Path, **kw):
    index, stats = run_scan(root, kw.pop("config", Config()), use_cache=kw.pop("use_cache", False), **kw)
    return index


def tasks_by_name(index):
    return {t.name: t for t in index.tasks}
