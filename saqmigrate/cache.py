"""Per-file results cached by content hash (and by size+mtime, so a warm scan reads nothing).

One JSON file per scanned root under ``.saqmigrate_cache/`` (or ``--cache-dir``), written
atomically. A cache that cannot be read is ignored; one that cannot be written is skipped
with a warning — a cache never changes a result.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from saqmigrate import __version__
from saqmigrate.index.extract import FACTS_VERSION

CACHE_FORMAT = f"{__version__}/{FACTS_VERSION}"


class FileCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        self.translations: dict[str, dict] = {}  # schedule translation + proof results by input
        self.dirty = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") == CACHE_FORMAT:
                    self.entries = data.get("files", {})
                    self.translations = data.get("translations", {})
            except (OSError, ValueError):
                self.entries = {}

    def lookup_stat(self, rel: str, size: int, mtime_ns: int) -> dict | None:
        e = self.entries.get(rel)
        if e and e.get("size") == size and e.get("mtime_ns") == mtime_ns:
            return e
        return None

    def lookup_hash(self, rel: str, digest: str) -> dict | None:
        e = self.entries.get(rel)
        if e and e.get("sha") == digest:
            return e
        return None

    def store(self, rel: str, entry: dict) -> None:
        self.entries[rel] = entry
        self.dirty = True

    def translation(self, key: str) -> dict | None:
        return self.translations.get(key)

    def store_translation(self, key: str, value: dict) -> None:
        self.translations[key] = value
        self.dirty = True

    def prune(self, keep: set[str]) -> None:
        for rel in list(self.entries):
            if rel not in keep:
                del self.entries[rel]
                self.dirty = True

    def save(self) -> str | None:
        if self.path is None or not self.dirty:
            return None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            gi = self.path.parent / ".gitignore"
            if not gi.exists():
                gi.write_text("*\n", encoding="utf-8")
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
            # json.dumps (the C encoder) then one write: json.dump() streams through the pure-Python
            # encoder and was 5x slower on a 20k-file cache
            text = json.dumps(
                {"format": CACHE_FORMAT, "files": self.entries, "translations": self.translations},
                separators=(",", ":"),
            )
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except OSError as exc:
            return f"cache not written ({self.path}): {exc.strerror or exc}"
        except (TypeError, ValueError) as exc:  # a fact JSON cannot hold: a defect, but never the scan's end
            return f"cache not written ({self.path}): {exc} (please report it)"
        self.dirty = False
        return None
