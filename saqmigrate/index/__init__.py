"""The static model of a Celery project (pure, JSON-serialisable dataclasses)."""

from saqmigrate.index.model import (  # noqa: F401
    App,
    Call,
    Finding,
    Param,
    ProjectIndex,
    Schedule,
    Setting,
    Task,
    FileError,
    SCHEMA,
)
