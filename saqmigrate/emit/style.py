"""Generated code in the project's own style, and "the same code" whatever a formatter did to it.

* ``Style.from_project(root)`` reads the line length (and string normalisation) the project's
  formatter uses: ``[tool.black]``, ``[tool.ruff]`` / ``[tool.ruff.format]`` in ``pyproject.toml``,
  ``ruff.toml`` / ``.ruff.toml``; default black's 88.
* ``format_python(text, style)`` runs black on a generated module, so ``black``/``ruff format`` in the
  project's pre-commit finds nothing to change.
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


def format_python(text: str, style: Style) -> str:
    """``text`` formatted by black in ``style``; unchanged when black cannot format it (the compile gate
    then reports the source)."""
    try:
        import black
    except ImportError:  # pragma: no cover - a dependency; keep the unformatted (valid) code
        return text
    mode = black.Mode(line_length=style.line_length, string_normalization=style.normalize_strings,
                      target_versions={black.TargetVersion.PY311})
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
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body[0].value.value = " ".join(body[0].value.value.split())
    return ast.dump(tree)
