"""The migration window: a start date and a length (60 days by default).

Configured in ``pyproject.toml``::

    [tool.saqmigrate]
    window_start = "2026-06-01"
    window_days = 60

Routing never changes when the window ends; ``route status`` shows the days left and
``saqmigrate check`` reports an expired window.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from saqmigrate.errors import SaqmigrateError

DEFAULT_DAYS = 60


class WindowError(SaqmigrateError, ValueError):
    pass


@dataclass(frozen=True)
class Window:
    start: _dt.date
    days: int = DEFAULT_DAYS

    @property
    def end(self) -> _dt.date:
        return self.start + _dt.timedelta(days=self.days)

    def days_left(self, today: _dt.date | None = None) -> int:
        today = today or _dt.date.today()
        return (self.end - today).days

    def day_number(self, today: _dt.date | None = None) -> int:
        """1 on the start date."""
        today = today or _dt.date.today()
        return (today - self.start).days + 1

    def expired(self, today: _dt.date | None = None) -> bool:
        return self.days_left(today) <= 0

    def to_json(self, today: _dt.date | None = None) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "end": self.end.isoformat(),
            "day": self.day_number(today),
            "days_left": self.days_left(today),
            "expired": self.expired(today),
        }

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], source: str = "[tool.saqmigrate]") -> Window | None:
        """Either ``window_start``/``window_days`` or the ``[tool.saqmigrate.window]`` table
        (``start``/``days``), the form docs/configuration.md shows."""
        table = cfg.get("window")
        if isinstance(table, Mapping) and cfg.get("window_start") in (None, ""):
            cfg = {"window_start": table.get("start"), "window_days": table.get("days", DEFAULT_DAYS)}
            source = f"{source}.window"
        start = cfg.get("window_start")
        if start in (None, ""):
            return None
        try:
            start_d = start if isinstance(start, _dt.date) else _dt.date.fromisoformat(str(start))
        except ValueError:
            raise WindowError(f"{source}: window_start must be a date like 2026-06-01, got {start!r}") from None
        days = cfg.get("window_days", DEFAULT_DAYS)
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            raise WindowError(f"{source}: window_days must be a positive whole number of days, got {days!r}")
        try:
            start_d + _dt.timedelta(days=days)
        except OverflowError:
            raise WindowError(
                f"{source}: window_days = {days} runs past the year 9999; use a number of days such as 60"
            ) from None
        return cls(start_d, days)


def load_window(pyproject: str | Path = "pyproject.toml") -> Window | None:
    """The window from ``[tool.saqmigrate]`` of a pyproject.toml; None if not configured."""
    import tomllib

    path = Path(pyproject)
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise WindowError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise WindowError(f"{path}: not UTF-8; TOML files must be UTF-8") from None
    except OSError as exc:
        raise WindowError(f"{path}: cannot read: {exc.strerror or exc}") from None
    tool = data.get("tool", {})
    section = tool.get("saqmigrate", {}) if isinstance(tool, dict) else None
    if not isinstance(section, dict):
        raise WindowError(f"{path}: [tool.saqmigrate] must be a table")
    return Window.from_config(section, f"{path} [tool.saqmigrate]")
