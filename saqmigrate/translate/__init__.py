"""Pure Celery -> SAQ semantics: no I/O, no libcst, exhaustively tested."""

from saqmigrate.translate.base import Note  # noqa: F401
