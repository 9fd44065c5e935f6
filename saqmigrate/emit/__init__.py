"""Step 7: render an index (and its findings) for people and machines; write files atomically."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from saqmigrate.errors import SaqmigrateError


class OutputError(SaqmigrateError, OSError):
    """An output file saqmigrate cannot write (exit 2)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    Either the old content or the complete new content is on disk, never half of it. A new
    file gets the usual permissions (0666 minus the umask, as ``open()`` would give it, not
    mkstemp's 0600); an existing file keeps its own. Text that came from file names which are
    not valid UTF-8 is written back byte for byte (``surrogateescape``).
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # /dev/null, /dev/stdout, a FIFO: write through it; replacing it would swap a device for a file
        try:
            with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist")
    try:
        mode = os.stat(path).st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        if isinstance(exc, UnicodeError):
            raise OutputError(f"{path}: cannot encode the output as UTF-8 ({exc.reason})") from None
        raise
