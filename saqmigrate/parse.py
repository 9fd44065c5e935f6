"""Step 2: bytes -> text -> ``ast``, never importing or executing the scanned code.

Handles what real trees contain: PEP 263 encodings, non-UTF-8 bytes, Python 2 files,
syntax newer than the running interpreter (3.12 generics and ``type`` aliases, 3.14's
unparenthesised ``except A, B:``), and generated files too large to be worth parsing.
Newer syntax is handled by a layout-preserving rewrite of the offending construct (line and
column numbers stay true); anything else that does not parse is reported, not guessed.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from saqmigrate.errors import SaqmigrateError

MAX_BYTES = 5 * 1024 * 1024  # larger files are almost always generated code

# Substring tests (bytes ``in`` is a fast two-way search); a regex alternation was 3x slower.
# A file without any of these is never parsed: no Celery app, task, schedule or dispatch can
# be written without one of them (re-exports are followed lazily by the resolver).
TRIGGERS = (
    b"elery",
    b"ELERY",
    b"shared_task",
    b"delay(",
    b"apply_async",
    b"eat_schedule",
    b"EAT_SCHEDULE",
    b"crontab",
    b"send_task",
    b"periodic_task",
    b".task(",
    b".task\n",
    b".task\r",
    b"AsyncResult",
    b"TIME_ZONE",
    # dispatch sites in files that never name Celery (tests calling task.apply(), helpers retrying a task)
    b".apply(",
    b".si(",
    b".s(",
    b".subtask(",
    b".retry(",
    b".chunks(",
    b".starmap(",
    b"task.signature(",
    b"task.map(",
)


class ParseFailure(SaqmigrateError):
    """A file that cannot be indexed; ``str()`` is the one-line message for the report."""


@dataclass
class Parsed:
    tree: ast.Module
    text: str
    recovered: list[str]  # notes about newer syntax rewritten for indexing


# A cheaper first pass (half as many substrings, each covering several triggers): 90% of files
# in a typical tree fail it and never pay for the precise list above.
_STAGE1 = (
    b"elery",
    b"ELERY",
    b"task",
    b"delay(",
    b"apply",
    b"crontab",
    b"chedule",
    b"CHEDULE",
    b"AsyncResult",
    b"TIME_ZONE",
    b".s(",
    b".si(",
    b".retry(",
    b".chunks(",
    b".starmap(",
)


def has_triggers(data: bytes) -> bool:
    return any(t in data for t in _STAGE1) and any(t in data for t in TRIGGERS)


def decode(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "missing encoding" not in (exc.msg or ""):
            raise ParseFailure(f"unknown source encoding: {exc.msg}") from None
        encoding = "utf-8"  # undeclared non-UTF-8 bytes in the first lines: report them below
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        pos = getattr(exc, "start", 0)
        line = data[:pos].count(b"\n") + 1
        declared = _declared_encoding(data)
        if declared is not None:  # the file says what it is: its bytes do not match
            raise ParseFailure(
                f"bytes not valid in {declared}, the encoding its coding line declares (byte {pos}, line "
                f"{line}); fix the bytes or the declaration"
            ) from None
        if data.startswith(b"\xef\xbb\xbf"):
            raise ParseFailure(
                f"bytes not valid in UTF-8, which its byte order mark declares (byte {pos}, line {line}); "
                "re-encode it as UTF-8"
            ) from None
        raise ParseFailure(
            f"not valid {encoding} (byte {pos}, line {line}); add a PEP 263 coding line or re-encode as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def _declared_encoding(data: bytes) -> str | None:
    """The encoding a PEP 263 coding line (line 1 or 2) declares, if there is one."""
    for raw in data.splitlines()[:2]:
        m = _CODING.match(raw)
        if m:
            return m.group(1).decode("ascii", "replace")
        if raw.strip() and not raw.lstrip().startswith(b"#"):
            break  # code on line 1: line 2 cannot declare it
    return None


# --- newer-syntax recovery (layout preserving) ---------------------------------------

_EXCEPT_TUPLE = re.compile(r"^(\s*except\*?\s+)(?!\()([^:#\n]+?,[^:#\n]+?)(\s+as\s+\w+)?(\s*:)", re.M)
_TYPE_ALIAS = re.compile(r"^(\s*)type(\s+)(\w+)(\s*\[[^\]\n]*\])?(\s*=)", re.M)
_GENERIC_DEF = re.compile(r"^(\s*(?:async\s+)?(?:def|class)\s+\w+)(\[[^\]\n]*\])(?=\s*[(:])", re.M)


def _blank(m_text: str) -> str:
    return " " * len(m_text)


def _recover(text: str) -> tuple[str, list[str]]:
    notes = []

    new = _EXCEPT_TUPLE.sub(lambda m: _except_keep_len(m), text)
    if new != text:
        notes.append("Python 3.14 unparenthesised except clause")
        text = new
    # "type X[T] = v" -> "X        = v": same line, the value keeps its column
    new = _TYPE_ALIAS.sub(
        lambda m: f"{m.group(1)}{m.group(3)}{' ' * (4 + len(m.group(2)))}{_blank(m.group(4) or '')}{m.group(5)}", text
    )
    if new != text:
        notes.append("Python 3.12 type alias statement")
        text = new
    new = _GENERIC_DEF.sub(lambda m: m.group(1) + _blank(m.group(2)), text)
    if new != text:
        notes.append("Python 3.12 generic parameters")
        text = new
    return text, notes


def _except_keep_len(m: re.Match) -> str:
    prefix, names, alias, colon = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    # "except A, B as e:" -> "except(A, B)as e:" ... keep length: remove the space after
    # "except" to make room for "(" and put ")" in place of the space before "as"/":".
    if prefix.endswith(" "):
        body = f"({names})"
        if alias.startswith(" "):
            return f"{prefix[:-1]}{body}{alias[1:]}{colon}" if len(alias) > 1 else m.group(0)
        if colon.startswith(" "):
            return f"{prefix[:-1]}{body}{colon[1:]}"
        # no spare column: shift by one; column numbers after this point on this line drift by 1
        return f"{prefix[:-1]}{body}{colon}"
    return m.group(0)


def parse_source(text: str, filename: str = "<unknown>") -> Parsed:
    try:
        return Parsed(ast.parse(text, filename=filename, type_comments=False), text, [])
    except SyntaxError as first:
        fixed, notes = _recover(text)
        if notes:
            try:
                return Parsed(ast.parse(fixed, filename=filename), fixed, notes)
            except SyntaxError:
                pass
        msg = first.msg or "invalid syntax"
        if re.search(r"^\s*print\s+[^(=\s]", text, re.M) or re.search(r"^\s*exec\s+['\"]", text, re.M):
            msg = "Python 2 syntax (" + msg + "); saqmigrate indexes Python 3 code only"
        raise ParseFailure(f"syntax error at line {first.lineno}: {msg}") from None


def parse_bytes(data: bytes, filename: str) -> Parsed:
    if len(data) > MAX_BYTES:
        raise ParseFailure(
            f"skipped: {len(data) // 1024} KiB is larger than the {MAX_BYTES // 1024 // 1024} MiB limit "
            "(generated code?); exclude it in [tool.saqmigrate] or raise max_file_bytes"
        )
    if b"\x00" in data[:8192]:
        raise ParseFailure("binary file (NUL bytes); not Python source")
    return parse_source(decode(data), filename)
