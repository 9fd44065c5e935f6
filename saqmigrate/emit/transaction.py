"""All-or-nothing writes of a set of files (``rewrite --write``).

Three steps:

1. **stage**: every new content goes to a temporary file beside its target
   (``.<name>.saqmigrate-<pid>-<random>.tmp``), flushed to disk; any error removes every temporary
   file and the folders made for them, and nothing in the tree has changed;
2. **commit**: the temporary files replace their targets (``os.replace``) and deletions run, in the
   order given; SIGINT and SIGTERM are held back for these few renames, so an interrupt lands
   before or after them, never between;
3. **roll back** if a rename or deletion fails in step 2: what was already replaced gets its old
   content back, new files are removed.

The caller orders the writes so that a process killed with SIGKILL (which nothing can hold back)
in the middle of step 2 still leaves an importable tree: generated modules first, the edit of the
user's app module (the routing hook that imports them) last. Temporary files left by such a kill
are removed by the next run (``sweep_stale``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from saqmigrate.errors import SaqmigrateError
from saqmigrate.emit import _umask

_TMP = re.compile(r"^\..+\.saqmigrate-(\d+)-[^.]+\.tmp$")


@dataclass
class Write:
    path: Path
    new: str | None  # None: delete
    old: str | None  # the content it replaces (None: a new file), for the rollback


class TransactionError(SaqmigrateError):
    """Nothing was written (or everything written was rolled back); one line per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folders: set[Path]) -> list[Path]:
    """Remove temporary files a killed run left in ``folders`` (only those whose process is gone)."""
    removed = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            m = _TMP.match(name)
            if m and not _pid_alive(int(m.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(folder / name)
                    removed.append(folder / name)
    return removed


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT/SIGTERM back (delivered when the block ends); a no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _why(exc: OSError) -> str:
    return f"cannot write: {exc.strerror or exc}"


def _stage(w: Write, made_dirs: list[Path]) -> tuple[str, int]:
    parent = w.path.parent
    missing = []
    p = parent
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
        made_dirs.append(d)
    try:
        st = os.stat(w.path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise OSError(0, f"{kind} is in the way")
    mode = (st.st_mode & 0o777) if st is not None else (0o666 & ~_umask())
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{w.path.name}.saqmigrate-{os.getpid()}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write(w.new or "")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp, mode


def commit(root: Path, writes: list[Write], *, _fail_at: int | None = None) -> None:
    """Write every ``Write`` or none; raises ``TransactionError`` with one line per problem.

    ``_fail_at`` (tests only) makes the n-th rename of step 2 fail, to exercise the rollback.
    """
    sweep_stale({w.path.parent for w in writes})
    staged: list[tuple[Write, str]] = []
    made_dirs: list[Path] = []
    problems: list[str] = []

    def rel(p: Path) -> str:
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            return str(p)

    def discard() -> None:
        for _, tmp in staged:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for d in reversed(made_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()

    try:
        for w in writes:
            if w.new is None:
                continue
            try:
                tmp, _ = _stage(w, made_dirs)
            except UnicodeError as exc:
                problems.append(f"{rel(w.path)}: cannot encode the output as UTF-8 ({exc.reason})")
                continue
            except OSError as exc:
                problems.append(f"{rel(w.path)}: {_why(exc)}")
                continue
            staged.append((w, tmp))
        if problems:
            discard()
            raise TransactionError(problems)
    except BaseException:
        discard()
        raise

    done: list[Write] = []
    tmp_of = {id(w): tmp for w, tmp in staged}
    with _signals_held():
        try:
            for n, w in enumerate(writes):
                if _fail_at is not None and n == _fail_at:
                    raise OSError(5, "Input/output error (injected)")
                if w.new is None:
                    w.path.unlink(missing_ok=True)
                else:
                    os.replace(tmp_of[id(w)], w.path)
                    del tmp_of[id(w)]  # only once it is in place: a failed replace leaves it to the cleanup below
                done.append(w)
        except OSError as exc:
            failed = rel(w.path)
            rollback_problems = _rollback(done)
            for tmp in tmp_of.values():
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            for d in reversed(made_dirs):
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise TransactionError(
                [f"{failed}: {_why(exc)}; every file written before it was restored"] + rollback_problems
            ) from None


def _rollback(done: list[Write]) -> list[str]:
    problems = []
    for w in reversed(done):
        try:
            if w.old is None:
                w.path.unlink(missing_ok=True)
            else:
                tmp_write = Write(w.path, w.old, None)
                tmp, _ = _stage(tmp_write, [])
                os.replace(tmp, w.path)
        except OSError as exc:
            problems.append(f"{w.path}: could not be restored ({exc.strerror or exc})")
    return problems
