"""Generated code in the project's own style, and "the same code" whatever a formatter did to it.

* ``Style.from_project(root)`` reads the line length (and string normalisation) the project's
  formatter uses: ``[tool.black]``, ``[tool.ruff]`` / ``[tool.ruff.format]`` in ``pyproject.toml``,
  ``ruff.toml`` / ``.ruff.toml``; then flake8's (``[flake8]`` / ``[pycodestyle]`` in ``.flake8``,
  ``setup.cfg``, ``tox.ini``, ``[tool.flake8]``: ``max-line-length``, 79 when the section does not
  set it); default black's 88. The lint length is the smaller of the two.
* ``fit_lines(text, limit)`` is the last pass over a formatted module: a line a formatter cannot
  shorten (a long string literal) gets ``# noqa: E501``, and an import whose pragma comment alone
  takes it past the limit is parenthesized, so pycodestyle (flake8) and ruff both pass it and
  neither finds an unused ``noqa``.
* ``format_many(files, style)`` formats the generated modules with ``ruff format`` (black-compatible,
  fast; black when ruff is missing), so ``black``/``ruff format`` in the project's pre-commit finds
  nothing to change.
* ``same_code(a, b)`` is true when two sources differ only in formatting: the same AST and the same
  comments. ``rewrite --check`` and ``check`` compare generated files this way, so a formatter run
  on them is never drift.
"""

from __future__ import annotations

import ast
import configparser
import io
import re
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LINE_LENGTH = 88


@dataclass(frozen=True)
class Style:
    line_length: int = DEFAULT_LINE_LENGTH
    normalize_strings: bool = True
    lint_length: int | None = None  # flake8's max-line-length when below line_length

    @property
    def limit(self) -> int:
        """The longest line generated code may have: the formatter's and the linter's limit."""
        return min(self.line_length, self.lint_length or self.line_length)

    @classmethod
    def from_project(cls, root: Path) -> Style:
        line_length: int | None = None
        normalize = True
        data = _toml(root / "pyproject.toml")
        tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
        black = tool.get("black") if isinstance(tool.get("black"), dict) else {}
        ruff = tool.get("ruff") if isinstance(tool.get("ruff"), dict) else {}
        for name in ("ruff.toml", ".ruff.toml"):
            if not ruff:
                ruff = _toml(root / name)
        if isinstance(black.get("line-length"), int):
            line_length = black["line-length"]
            normalize = not black.get("skip-string-normalization", False)
        elif isinstance(ruff.get("line-length"), int):
            line_length = ruff["line-length"]
        fmt = ruff.get("format") if isinstance(ruff.get("format"), dict) else {}
        if not black and fmt.get("quote-style") in ("single", "preserve"):
            normalize = False
        flake8 = _flake8_length(root, tool)
        if line_length is None:
            line_length = flake8  # a flake8-only project: its lint length is its style
        if line_length is None or not 20 <= line_length <= 1000:
            line_length = DEFAULT_LINE_LENGTH
        lint = flake8 if flake8 is not None and 20 <= flake8 < line_length else None
        return cls(line_length, normalize, lint)


FLAKE8_DEFAULT = 79  # pycodestyle's max-line-length when a [flake8] section does not set it


def _flake8_length(root: Path, tool: dict) -> int | None:
    """flake8's (or pycodestyle's) max line length, when the project configures either tool."""
    sections = []
    for name in (".flake8", "setup.cfg", "tox.ini"):
        parser = configparser.RawConfigParser()
        try:
            parser.read_string((root / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, configparser.Error):
            continue
        sections += [dict(parser.items(s)) for s in ("flake8", "pycodestyle") if parser.has_section(s)]
    if isinstance(tool.get("flake8"), dict):
        sections.append(tool["flake8"])
    if not sections:
        return None
    for section in sections:
        value = section.get("max-line-length", section.get("max_line_length"))
        if value is None:
            continue
        try:
            return int(str(value).strip())
        except ValueError:
            continue
    return FLAKE8_DEFAULT


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def format_many(files: dict[str, str], style: Style) -> dict[str, str]:
    """Every ``.py`` file formatted in one ``ruff format`` run (black-compatible, ~100x faster than black
    on a 3,000-task registry); black file by file when ruff is not installed or fails. A file either
    tool cannot format is kept as it is (the compile gate then reports it)."""
    py = {rel: text for rel, text in files.items() if rel.endswith(".py")}
    out = dict(files)
    formatted = _ruff_format(py, style) if py else {}
    for rel, text in py.items():
        out[rel] = formatted[rel] if rel in formatted else format_python(text, style)
    return out


def _ruff_format(files: dict[str, str], style: Style) -> dict[str, str]:
    import os
    import subprocess
    import tempfile

    try:
        from ruff.__main__ import find_ruff_bin

        exe = os.fsdecode(find_ruff_bin())
    except Exception:  # noqa: BLE001 - not installed: black does it
        return {}
    with tempfile.TemporaryDirectory(prefix="saqmigrate-fmt-") as tmp:
        paths = {}
        for i, (rel, text) in enumerate(sorted(files.items())):
            path = os.path.join(tmp, f"f{i}.py")
            with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
                fh.write(text)
            paths[rel] = path
        cmd = [
            exe,
            "format",
            "--isolated",
            "--quiet",
            "--line-length",
            str(style.line_length),
            "--target-version",
            "py311",
        ]
        if not style.normalize_strings:
            cmd += ["--config", "format.quote-style='preserve'"]
        try:
            proc = subprocess.run([*cmd, tmp], capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        if proc.returncode != 0:
            return {}
        out = {}
        for rel, path in paths.items():
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                out[rel] = fh.read()
        return out


def format_python(text: str, style: Style) -> str:
    """``text`` formatted by black in ``style``; unchanged when black cannot format it (the compile gate
    then reports the source)."""
    try:
        import black
    except ImportError:  # pragma: no cover - a dependency; keep the unformatted (valid) code
        return text
    mode = black.Mode(
        line_length=style.line_length,
        string_normalization=style.normalize_strings,
        target_versions={black.TargetVersion.PY311},
    )
    try:
        return black.format_str(text, mode=mode)
    except Exception:  # noqa: BLE001 - black.InvalidInput and friends
        return text


_IMPORT = re.compile(
    r"^(?P<indent>\s*)from (?P<module>[\w.]+) import (?P<names>[\w ,]+?)  (?P<pragma># noqa: [A-Z0-9, ]+)$"
)
_NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*)\s*$")


def fit_lines(text: str, limit: int) -> str:
    """Make every line of a formatted module pass pycodestyle's and ruff's E501 at ``limit``.

    A line whose code is longer than ``limit`` is one the formatter could not split (a long string literal:
    a dotted task name): it gets ``# noqa: E501`` (merged into a ``noqa`` it has), and so does a comment
    line with a word too long to wrap. A line that is one string literal with no whitespace is split into
    implicitly concatenated pieces instead (ruff forgives such a line, pycodestyle does not, so a ``noqa``
    there is unused for one of them). A ``from ... import ...  # noqa: E402`` that does not fit is
    parenthesized with the pragma on its first line: ruff does not count a pragma, pycodestyle does, and
    only this form satisfies both. Lines inside strings (docstrings) are left as they are."""
    lines = text.split("\n")
    if all(len(line) <= limit for line in lines):
        return text
    in_string = _string_lines(text)
    out = []
    for no, line in enumerate(lines, 1):
        if len(line) <= limit or no in in_string:
            out.append(line)
            continue
        comment = _trailing_comment(line)
        code = line[: len(line) - len(comment)].rstrip() if comment else line
        if comment and (m := _IMPORT.match(line)):
            names = ", ".join(n.strip() for n in m["names"].split(","))
            out += [
                f"{m['indent']}from {m['module']} import (  {m['pragma']}",
                f"{m['indent']}    {names},",
                f"{m['indent']})",
            ]
            continue
        if not code.strip() and comment:  # a comment line: one word too long to wrap (a dotted name)
            out.append(line if _NOQA.search(comment) else f"{line}  # noqa: E501")
            continue
        if len(code) <= limit:
            out.append(line)
            continue
        pieces = None if comment else _split_string_line(line, limit)
        if pieces:
            out += pieces
            continue
        if not any(ch.isspace() for ch in code.strip()):
            out.append(line)  # one word (a name longer than the line): ruff forgives it, a noqa would be unused
            continue
        noqa = _NOQA.search(comment) if comment else None
        if noqa is None:
            out.append(f"{line}  # noqa: E501")  # after a comment too: flake8 and ruff find it there
        elif "E501" not in noqa["codes"]:
            out.append(
                line[: len(line) - len(comment)]
                + comment[: noqa.end("codes")]
                + ", E501"
                + comment[noqa.end("codes") :]
            )
        else:
            out.append(line)
    return "\n".join(out)


_WORD_STRING = re.compile(r"^(?P<indent>\s*)(?P<q>[\"'])(?P<body>[^\s\"'\\]+)(?P=q)(?P<comma>,?)$")


def _split_string_line(line: str, limit: int) -> list[str] | None:
    """A line that is one plain string literal without whitespace (``"pkg.module.task@file.py:12",`` in a
    call or a tuple), split into implicitly concatenated pieces at ``.``, ``/``, ``@`` or ``:`` (else at ``_``, else
    anywhere), each piece within ``limit``: ruff does not report such a "single word" line and would call a ``noqa`` on it unused,
    pycodestyle does report it. The value (and the AST) is the same; formatters keep the pieces apart while
    they do not fit on one line. None when it is not such a line."""
    m = _WORD_STRING.match(line)
    if m is None:
        return None
    indent, q, body, comma = m["indent"], m["q"], m["body"], m["comma"]
    room = limit - len(indent) - 2
    pieces: list[str] = []
    while len(body) > room - len(comma):  # the last piece carries the comma
        cuts = [i + 1 for i, ch in enumerate(body[:room]) if ch in "./@:"] or [
            i + 1 for i, ch in enumerate(body[:room]) if ch == "_"
        ]  # a name longer than the line: at an underscore, else at the limit
        cut = cuts[-1] if cuts else room
        if cut <= 0 or cut >= len(body):
            return None
        pieces.append(body[:cut])
        body = body[cut:]
    if not pieces:
        return None
    pieces.append(body)
    return [f"{indent}{q}{p}{q}" for p in pieces[:-1]] + [f"{indent}{q}{pieces[-1]}{q}{comma}"]


def _string_lines(text: str) -> set[int]:
    """Line numbers that continue a multi-line string token (where a comment would be text)."""
    out: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                out.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass
    return out


def _trailing_comment(line: str) -> str:
    """The comment a line ends with ("" if none), found by the tokenizer (a ``#`` in a string is not one)."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            if tok.type == tokenize.COMMENT:
                return line[line.rindex(tok.string) :]
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    return ""


def _comments(text: str) -> list[str]:
    """The comments' words, in order: a comment wrapped over other lines (a formatter, a line length, a
    ``noqa`` pragma moved with a parenthesized import) says the same."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                out.extend(tok.string.lstrip("#").split())
    except (tokenize.TokenError, SyntaxError):
        return [text]
    return out


def same_code(a: str | None, b: str | None) -> bool:
    """The same module up to formatting: equal ASTs (docstrings included) and the same comment text (however
    it is wrapped)."""
    if a is None or b is None:
        return a is b
    if a == b:
        return True
    try:
        ta, tb = ast.parse(a), ast.parse(b)
    except (SyntaxError, ValueError):
        return False
    return _dump(ta) == _dump(tb) and _comments(a) == _comments(b)


def _dump(tree: ast.Module) -> str:
    """The AST with docstrings' whitespace normalised (formatters re-indent and strip docstrings)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0].value.value = " ".join(body[0].value.value.split())
    return ast.dump(tree)
