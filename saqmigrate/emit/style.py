"""Generated code in the project's own style, and "the same code" whatever a formatter did to it.

* ``Style.from_project(root)`` reads the line length (and string normalisation) the project's
  formatter uses: ``[tool.black]``, ``[tool.ruff]`` / ``[tool.ruff.format]`` in ``pyproject.toml``,
  ``ruff.toml`` / ``.ruff.toml``; default black's 88.
* ``format_many(files, style)`` formats the generated modules with ``ruff format`` (black-compatible,
  fast; black when ruff is missing), so ``black``/``ruff format`` in the project's pre-commit finds
  nothing to change.
* ``same_code(a, b)`` is true when two sources differ only in formatting: the same AST and the same
  comments. ``rewrite --check`` and ``check`` compare generated files this way, so a formatter run
  on them is never drift.
"""

from __future__ import annotations

import ast
import io
import tokenize
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LINE_LENGTH = 88


@dataclass(frozen=True)
class Style:
    line_length: int = DEFAULT_LINE_LENGTH
    normalize_strings: bool = True

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
        if line_length is None or not 20 <= line_length <= 1000:
            line_length = DEFAULT_LINE_LENGTH
        return cls(line_length, normalize)


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


def _comments(text: str) -> list[str]:
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                out.append(" ".join(tok.string.lstrip("#").split()))
    except (tokenize.TokenError, SyntaxError):
        return [text]
    return out


def same_code(a: str | None, b: str | None) -> bool:
    """The same module up to formatting: equal ASTs (docstrings included) and equal comments."""
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
