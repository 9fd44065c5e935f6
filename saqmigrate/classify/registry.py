"""One registered detection function per classifier rule.

A rule is its TOML file (``saqmigrate/data/rules/SMxxx.toml``: summary, rationale, example and the
``message`` template a finding prints) plus one function registered here with ``@rule``::

    @rule("SM101", on="task")
    def task_defined_in_function(t: Task, cl: Classifier) -> Hit | None:
        return hit() if t.nested else None

The function decides *whether* the rule fires and returns the values of the template's named
placeholders (``hit(names="a, b")``); the words of the message live in the TOML file only. The
classifier (``saqmigrate.classify.Classifier``) runs every detector of a stage in registration order
(the order of ``classify/rules.py``), so adding a classifier rule touches the TOML file and the
detection function and nothing else (CONTRIBUTING.md, "Add a rule").

Stages and what a detector receives (``cl`` is the running ``Classifier``; ``cl.index``,
``cl.config`` and the stage's extras such as ``cl.qualname_count`` or ``cl.tasks_by_name``):

- ``task``: ``(task, cl)``; a finding at the task's line, about the task (its verdict);
- ``schedule``: ``(schedule, cl)``; at the beat entry, about it;
- ``call``: ``(call, cl)``; at the dispatch's line and column, about it;
- ``setting``: ``(setting, cl)``; at the setting, about no item;
- ``project``: ``(index, cl)``; wherever each ``Hit`` says (``at=``), about ``item=`` if given.

A detector returns ``None`` (the rule does not fire), one ``Hit`` or a list of them.
``stop=True`` on a detector means: when it fires, the later detectors of that stage (and the
stage's translation step) do not run for this item (a canvas call is only a canvas call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

STAGES = ("task", "schedule", "call", "setting", "project")

SAME_ITEM = object()  # Hit.item default: the item the stage is about


@dataclass
class Hit:
    """One finding of a rule: the template's values, and where it is when that is not the item's place."""

    values: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None  # the key in the TOML's [messages] table, for rules with several messages
    file: str | None = None
    line: int | None = None
    column: int | None = None
    subject: str | None = None
    item: Any = SAME_ITEM


def hit(
    variant: str | None = None,
    *,
    at: tuple[str, int] | None = None,
    column: int | None = None,
    subject: str | None = None,
    item: Any = SAME_ITEM,
    **values: Any,
) -> Hit:
    """A finding with the message template's ``values``; ``at=(file, line)`` places it elsewhere than
    the item (``project`` detectors always say where)."""
    file, line = at if at is not None else (None, None)
    return Hit(values, variant, file, line, column, subject, item)


@dataclass(frozen=True)
class Detector:
    code: str
    stage: str
    func: Callable[..., Hit | list[Hit] | None]
    stop: bool = False

    def run(self, item: Any, cl: Any) -> list[Hit]:
        found = self.func(item, cl)
        if found is None:
            return []
        return [found] if isinstance(found, Hit) else list(found)


DETECTORS: list[Detector] = []


def rule(code: str, *, on: str, stop: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the detector of rule ``code`` at stage ``on`` (see STAGES)."""
    if on not in STAGES:
        raise ValueError(f"@rule({code!r}): stage must be one of {', '.join(STAGES)}, got {on!r}")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if any(d.code == code for d in DETECTORS):
            raise ValueError(f"@rule({code!r}) is registered twice ({func.__module__}.{func.__qualname__})")
        DETECTORS.append(Detector(code, on, func, stop))
        return func

    return register


def detectors(stage: str) -> list[Detector]:
    """The registered detectors of ``stage``, in registration order (classify/rules.py is imported first)."""
    from saqmigrate.classify import rules as _rules  # noqa: F401 - registers the built-in detectors

    return [d for d in DETECTORS if d.stage == stage]


def registered_codes() -> dict[str, Detector]:
    """Every rule code with a classifier detector."""
    from saqmigrate.classify import rules as _rules  # noqa: F401

    return {d.code: d for d in DETECTORS}
