"""Classes of blocking code a fresh attack found ported onto the event loop (issue 13), each with a task
written by us: code that runs on *use* of a project object (properties, dunders, descriptors, dataclass
factories), rows made partial by a manager's get_queryset, third-party objects whose attribute reads run
code, names bound more than once (the binding a call sees depends on execution order), CPU work no input
bounds, and time.sleep of a negative constant. Each must not be ported whole; the control tasks next to
them (the same shapes without the hazard) still are, so the rules do not simply refuse everything."""

from __future__ import annotations


import pytest

from saqmigrate.transform.blocking import Prover

from tests.scan.helpers import write_tree

APP = 'from celery import Celery\n\napp = Celery("proj")\n'
MODELS = """from django.db import models


class Light(models.Manager):
    def get_queryset(self):
        return super().get_queryset().defer("body")


class Live(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(live=True)


class SlowMatch(models.Lookup):
    lookup_name = "slowmatch"

    def get_prep_lookup(self):
        Note.objects.count()
        return super().get_prep_lookup()


models.CharField.register_lookup(SlowMatch)


class Note(models.Model):
    title = models.CharField(max_length=10)
    data = models.JSONField(default=dict)
    body = models.TextField(default="")
    live = models.BooleanField(default=True)
    objects = models.Manager()
    light = Light()
    lively = Live()
"""
SHAPES = """import abc
import enum
from dataclasses import dataclass, field

from .models import Note


def count():
    return Note.objects.count()


class Tally:
    def __init__(self, n):
        self.n = n

    @property
    def total(self):
        return Note.objects.count()


class Sized:
    def __len__(self):
        return Note.objects.count()


class Shown:
    def __str__(self):
        return str(Note.objects.count())


class Counter:
    def __get__(self, obj, owner):
        return Note.objects.count()


class Holder:
    notes = Counter()
    limit = 3


@dataclass
class Made:
    n: int = field(default_factory=count)


@dataclass
class Plain:
    items: list = field(default_factory=list)


class Point:
    def __init__(self, x):
        self.x = x

    def slow_key(self, a, b):
        return Note.objects.count()


def title_of(pk):
    return Note.objects.get(pk=pk).title


class Meta(type):
    def __getattr__(cls, name):
        return Note.objects.count()


class Registry(metaclass=Meta):
    pass


class Checker(abc.ABC):
    @classmethod
    def __subclasshook__(cls, other):
        return Note.objects.exists()


class Color(enum.Enum):
    RED = 1

    @property
    def double(self):
        return self.x * 2
"""
CLOCK = """class FakeTime:
    def sleep(self, s):
        return None
"""
TASKS = """import functools
import itertools
import math
import operator
import re
import secrets
import time

from celery import shared_task
from django.conf import settings
from thirdparty import config, SETTINGS

from . import clock
from .models import Note
from .shapes import Checker, Color, Holder, Made, Plain, Point, Registry, Shown, Sized, Tally, title_of

try:
    import fastjson as js
except ImportError:
    import json as js


@shared_task
def property_reads():
    return Tally(1).total


@shared_task
def len_of():
    return len(Sized())


@shared_task
def str_of():
    return str(Shown())


@shared_task
def descriptor_read():
    return Holder.notes


@shared_task
def factory():
    return Made().n


@shared_task
def deferred_by_manager(pk):
    note = Note.light.get(pk=pk)
    return note.body


@shared_task
def third_party_attribute():
    return config.DAYS


@shared_task
def conditional_import(x):
    return js.dumps(x)


@shared_task
def dup():
    return Note.objects.count()


@shared_task
def dup():  # noqa: F811
    return "second"


@shared_task
def cpu_range(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


@shared_task
def cpu_nested(rows):
    return [a + b for a in rows for b in rows]


@shared_task
def cpu_while(n):
    while n > 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
    return n


@shared_task
def cpu_sorted(items):
    return sorted(items)


@shared_task
def cpu_regex(text):
    return bool(re.match(r"^(a+)+$", text))


@shared_task
def cpu_power(x, y):
    return x ** y


@shared_task
def cpu_repeat(n):
    return "ab" * n


@shared_task
def negative_sleep():
    time.sleep(-1)
    return "slept"


@shared_task
def callable_to_operator(pk):
    return operator.call(title_of, pk)


@shared_task
def callable_to_cmp_to_key(items):
    return min(items, key=functools.cmp_to_key(Point(1).slow_key))


@shared_task
def third_party_getattr():
    return getattr(config, "SITE")


@shared_task
def third_party_subscript():
    return SETTINGS["x"]


@shared_task
def third_party_in():
    return "x" in SETTINGS


@shared_task
def third_party_format():
    return f"{config}"


@shared_task
def metaclass_getattr():
    return Registry.anything


@shared_task
def abc_isinstance(x):
    return isinstance(x, Checker)


@shared_task
def value_pow(n):
    return pow(3, n)


@shared_task
def value_factorial(n):
    return math.factorial(n)


@shared_task
def value_permutations(items, n):
    return len(list(itertools.permutations(items, n)))


@shared_task
def value_token(n):
    return secrets.token_hex(n)


@shared_task
def value_ljust(n):
    return "x".ljust(n)


@shared_task
def value_width(x, n):
    return f"{x:>{n}}"


@shared_task
def project_lookup(t):
    return Note.objects.filter(title__slowmatch=t).count()


@shared_task
def param_asyncio(asyncio):
    time.sleep(0.01)
    return asyncio


@shared_task
def local_sync_to_async(x):
    sync_to_async = x
    time.sleep(0.01)
    return sync_to_async


@shared_task
def endless(n):
    for i in itertools.count():
        if i >= n:
            break
    return n


# --- controls: the same shapes without the hazard stay ported ------------------------------------------

@shared_task
def plain_property(x):
    return Point(x).double


@shared_task
def class_constant():
    return Holder.limit


@shared_task
def builtin_factory():
    return Plain().items


@shared_task
def narrowing_manager():
    return Note.lively.count()


@shared_task
def linear_loop(items):
    total = 0
    for x in items:
        total += x
    return [x * 2 for x in items], total, sorted([3, 1, 2])


@shared_task
def sleep_positive(s):
    time.sleep(s)
    return "slept"


@shared_task
def stdlib_attribute():
    return time.timezone


@shared_task
def enum_member():
    return Color.RED.value


@shared_task
def plain_isinstance(x):
    return isinstance(x, Point)


@shared_task
def settings_value():
    return settings.DEBUG, settings.CACHES["default"]


@shared_task
def literal_pow():
    return pow(3, 4), "x".ljust(8), f"{1:>4}"


@shared_task
def django_lookups(t):
    return Note.objects.filter(title__icontains=t, data__owner__name=t).count()


@shared_task
def builtin_key(items):
    return min(items, key=len)
"""
REBOUND = """import time

from celery import shared_task

from . import clock

time = clock.FakeTime()


@shared_task
def rebound_time():
    time.sleep(0.01)
    return "ok"
"""
PROJECT = {
    "proj/__init__.py": "",
    "proj/celery.py": APP,
    "proj/models.py": MODELS,
    "proj/shapes.py": SHAPES,
    "proj/clock.py": CLOCK,
    "proj/tasks.py": TASKS,
    "proj/rebound.py": REBOUND,
    "requirements.txt": "django>=4.2\n",
}

NOT_PORTED = {  # task -> what the reason names
    "property_reads": "Tally.total",
    "len_of": "Sized.__len__",
    "str_of": "Shown.__str__",
    "descriptor_read": "Holder.notes is built by Counter()",
    "factory": "default_factory=count",
    "deferred_by_manager": "Note.light",
    "third_party_attribute": "thirdparty.config is a third-party object",
    "conditional_import": "js is bound more than once",
    "dup": "dup is bound more than once",
    "cpu_range": "range() of a computed size",
    "cpu_nested": "a loop inside a loop",
    "cpu_while": "a while loop with no await",
    "cpu_sorted": "sorting input of any size",
    "cpu_regex": "a regular expression",
    "cpu_power": "a power with a computed exponent",
    "cpu_repeat": "a sequence repeated a computed number of times",
    "callable_to_operator": "passes title_of to operator.call()",
    "callable_to_cmp_to_key": "passes Point(1).slow_key to functools.cmp_to_key()",
    "third_party_getattr": "thirdparty.config is a third-party object",
    "third_party_subscript": "thirdparty.SETTINGS is a third-party object",
    "third_party_in": "thirdparty.SETTINGS is a third-party object",
    "third_party_format": "thirdparty.config is a third-party object",
    "metaclass_getattr": "Registry has the metaclass Meta",
    "abc_isinstance": "Checker derives from abc.ABC",
    "value_pow": "pow() of a computed value",
    "value_factorial": "math.factorial() of a computed value",
    "value_permutations": "itertools.permutations() of a computed value",
    "value_token": "secrets.token_hex() of a computed value",
    "value_ljust": "ljust() to a computed width",
    "value_width": "a format with a computed width",
    "endless": "itertools.count() is endless",
    "param_asyncio": "the body binds asyncio",
    "project_lookup": "the lookup title__slowmatch",
    "local_sync_to_async": "the body binds sync_to_async",
}
PORTED = {
    "plain_property",
    "class_constant",
    "builtin_factory",
    "narrowing_manager",
    "linear_loop",
    "sleep_positive",
    "stdlib_attribute",
    "enum_member",
    "plain_isinstance",
    "settings_value",
    "literal_pow",
    "builtin_key",
    "django_lookups",
    "negative_sleep",
}  # negative_sleep: the writer's _aio.sleep raises ValueError as time.sleep


@pytest.fixture(scope="module")
def prover(tmp_path_factory) -> Prover:
    root = tmp_path_factory.mktemp("attack")
    write_tree(root, PROJECT)
    return Prover(root)


@pytest.mark.parametrize("task", sorted(NOT_PORTED))
def test_the_hazard_is_not_ported_whole(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.tasks", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert NOT_PORTED[task] in plan.reason(), plan.reason()


@pytest.mark.parametrize("task", sorted(PORTED))
def test_the_control_is_still_ported(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.tasks", task, bind=False)
    assert plan.verdict == "ported", plan.reason()


def test_a_module_name_rebound_after_its_import_is_not_the_module(prover: Prover) -> None:
    plan = prover.plan_task("proj.rebound", "rebound_time", bind=False)
    assert plan.verdict == "bridged"
    assert "time is bound more than once in proj.rebound" in plan.reason()


def test_every_name_the_writer_provides_is_reserved() -> None:
    """A body binding a name the port's code uses is refused by the prover (RESERVED): the writer's own
    list must stay inside it, or a new generated name could be captured again."""
    from saqmigrate.transform import blocking, native

    assert set(native._PROVIDED) | set(native._GENERATED) <= blocking.RESERVED
