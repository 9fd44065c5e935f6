"""Shared types for the pure translation layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """A translation finding: a stable rule code (rules/SMxxx.toml) and a message for people.

    The classifier turns a Note into an index ``Finding`` by adding file, line and the
    rule's severity.
    """

    code: str
    message: str
