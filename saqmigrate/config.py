"""``[tool.saqmigrate]`` in the scanned project's ``pyproject.toml``.

Keys (all optional; documented in docs/configuration.md):
  include = ["src/**"]            only these paths (globs relative to the root)
  exclude = ["migrations/**"]     never these
  disable = ["SM109"]             rule codes that never produce findings
  baseline = ".saqmigrate-baseline.json"
  [tool.saqmigrate.accept]        "entry name" = "reason" for accepted schedule differences
  [tool.saqmigrate.window]        start = "2026-11-01", days = 60
  window_start = "2026-11-01"     the same, as `saqmigrate route status` documents it
  window_days = 60                (either form; both at once must agree)
  flag_store_env = "SAQMIGRATE_REDIS_URL"
  [tool.saqmigrate.analysis]      thresholds of `route compare` / `route autopilot` (cockpit/analysis.py):
                                  max_failure_rate_diff_pp, max_p95_ratio, min_runs, p95_floor_seconds, baseline
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from saqmigrate.errors import SaqmigrateError


class ConfigError(SaqmigrateError, ValueError):
    pass


@dataclass
class Config:
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    baseline: str = ".saqmigrate-baseline.json"
    accept: dict[str, str] = field(default_factory=dict)
    window: dict[str, Any] = field(default_factory=dict)
    window_start: Any = None  # top-level form read by runtime/window.py; validated by check/window.py
    window_days: Any = None
    flag_store_env: str = "SAQMIGRATE_REDIS_URL"
    analysis: dict[str, Any] = field(default_factory=dict)  # [tool.saqmigrate.analysis], checked by analysis.Thresholds
    source: str | None = None  # the pyproject.toml it came from


def confined_path(value: str, base: Path, what: str) -> str:
    """``value`` if it names a file inside ``base`` (the project), else ConfigError.

    Refuses absolute paths, ``..`` that leaves the project, and symlinks pointing out of it:
    a path from a config file is written to (``baseline --update``), so it must not be
    able to overwrite a file elsewhere."""
    if not value.strip() or "\x00" in value:
        raise ConfigError(f"{what} must be a file name inside the project, got {value!r}")
    p = Path(value)
    if p.is_absolute() or p.drive or p.anchor:
        raise ConfigError(f"{what} = {value!r} is outside the project: give a path relative to {base}")
    base_r = base.resolve()
    try:
        target = (base_r / p).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ConfigError(f"{what} = {value!r} cannot be resolved ({exc})") from None
    if target == base_r or base_r not in target.parents:
        raise ConfigError(
            f"{what} = {value!r} is outside the project ({base_r}): give a path inside it, "
            'e.g. ".saqmigrate-baseline.json"'
        )
    return value


def find_pyproject(root: Path) -> Path | None:
    root = root.resolve()
    for d in [root, *root.parents]:
        p = d / "pyproject.toml"
        if p.is_file():
            return p
        if (d / ".git").exists():
            break
    return None


def load_config(root: Path, explicit: Path | None = None) -> Config:
    path = explicit or find_pyproject(root)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r}); "
            "TOML files must be UTF-8: re-save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(
            f"{path}: 'tool' must be a table ([tool.saqmigrate] ...), got {type(tool).__name__} {str(tool)[:40]!r}"
        )
    section = tool.get("saqmigrate", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.saqmigrate] must be a table")
    known = {f for f in Config.__dataclass_fields__ if f != "source"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) in [tool.saqmigrate]: {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    cfg = Config(source=str(path))
    for key in ("include", "exclude", "disable"):
        value = section.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: [tool.saqmigrate] {key} must be a list of strings")
        setattr(cfg, key, value)
    if cfg.disable:
        from saqmigrate.rules import all_rules

        unknown = sorted(set(cfg.disable) - set(all_rules()))
        if unknown:
            raise ConfigError(
                f"{path}: [tool.saqmigrate] disable names unknown rule code(s) {', '.join(unknown)} "
                "(the codes are listed in docs/rules/index.md)"
            )
    # a config found above the scanned root is relative to its own folder: only apply it
    # when it sits at the root itself, so scanning a subfolder is not excluded by accident
    if path.parent.resolve() != root.resolve():
        cfg.include, cfg.exclude = [], []
    for key in ("baseline", "flag_store_env"):
        if key in section:
            if not isinstance(section[key], str):
                raise ConfigError(f"{path}: [tool.saqmigrate] {key} must be a string")
            setattr(cfg, key, section[key])
    # the ratchet reads and `baseline` writes it relative to the scanned root (check/ratchet.py)
    cfg.baseline = confined_path(cfg.baseline, root, f"{path}: [tool.saqmigrate] baseline")
    for key in ("window_start", "window_days"):
        if key in section:
            setattr(cfg, key, section[key])
    for key in ("accept", "window"):
        if key in section:
            if not isinstance(section[key], dict):
                raise ConfigError(f"{path}: [tool.saqmigrate.{key}] must be a table")
            setattr(cfg, key, dict(section[key]))
    if "analysis" in section:
        from saqmigrate.cockpit.analysis import AnalysisConfigError, Thresholds

        if not isinstance(section["analysis"], dict):
            raise ConfigError(f"{path}: [tool.saqmigrate.analysis] must be a table")
        try:
            Thresholds.from_config(section["analysis"], f"{path}: [tool.saqmigrate.analysis]")
        except AnalysisConfigError as exc:
            raise ConfigError(str(exc)) from None
        cfg.analysis = dict(section["analysis"])
    return cfg
