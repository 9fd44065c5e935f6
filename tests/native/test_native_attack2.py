"""Classes of blocking code a third attack found ported onto the event loop, each with a task written by
us and a control that still ports: class attributes resolved in Python's real MRO (diamonds, cooperative
super(), properties shadowing Django fields, instance attributes shadowing methods, ``self.__class__``
reassigned, Enum members' properties); module-level values (PEP 562 ``__getattr__``, containers holding
project objects or querysets, lazy Django settings); the port reading a name the task module imported
(its import-time copy); an annotated assignment in a blocking segment."""

from __future__ import annotations

import pytest

from saqmigrate.transform.blocking import Prover

from tests.scan.helpers import write_tree

APP = 'from celery import Celery\n\napp = Celery("proj")\n'
MODELS = """from django.db import models


class Titled(models.Model):
    title = models.CharField(max_length=10)

    class Meta:
        abstract = True


class Shadow(Titled):
    @property
    def title(self):
        return Book.objects.count()


class TitleMixin:
    @property
    def title(self):
        return Book.objects.count()


class Shadow2(TitleMixin, Titled):
    pass


class Plain(Titled):
    pass


class Book(models.Model):
    title = models.CharField(max_length=10)


class BookProxy(Book):
    class Meta:
        proxy = True

    @property
    def title(self):
        return Book.objects.count()
"""
SHAPES = """import enum
import time


class Base:
    def m(self):
        return 1


class Left(Base):
    pass


class Right(Base):
    def m(self):
        time.sleep(0.2)
        return 2


class Diamond(Left, Right):
    pass


class Single(Left):
    pass


class CoopLeft(Base):
    def m(self):
        return super().m() + 10


class CoopDiamond(CoopLeft, Right):
    pass


class CoopSingle(CoopLeft):
    pass


def slow():
    time.sleep(0.2)


class Strategy:
    def __init__(self):
        self.run = slow

    def run(self):
        return 1


class Steady:
    def __init__(self):
        self.n = 1

    def run(self):
        return self.n


class SlowLen:
    def __len__(self):
        time.sleep(0.2)
        return 1


class Chameleon:
    def __init__(self):
        self.__class__ = SlowLen


class Level(enum.Enum):
    LOW = 1
    HIGH = 2

    @property
    def weight(self):
        time.sleep(0.2)
        return self.value


class Color(enum.Enum):
    RED = enum.auto()
    BLUE = enum.auto()

    @property
    def label(self):
        return "color"
"""
TASKS = """from celery import shared_task

from .models import Book, BookProxy, Plain, Shadow, Shadow2
from .shapes import Chameleon, Color, CoopDiamond, CoopSingle, Diamond, Level, Single, Steady, Strategy


@shared_task
def abstract_shadow(pk):
    return Shadow.objects.get(pk=pk).title


@shared_task
def mixin_shadow(pk):
    return Shadow2.objects.get(pk=pk).title


@shared_task
def proxy_shadow(pk):
    return BookProxy.objects.get(pk=pk).title


@shared_task
def abstract_field(pk):
    return Plain.objects.get(pk=pk).title, Book.objects.get(pk=pk).title


@shared_task
def diamond():
    return Diamond().m()


@shared_task
def single():
    return Single().m()


@shared_task
def coop_diamond():
    return CoopDiamond().m()


@shared_task
def coop_single():
    return CoopSingle().m()


@shared_task
def instance_shadows_method():
    return Strategy().run()


@shared_task
def instance_attribute():
    return Steady().run()


@shared_task
def chameleon():
    return len(Chameleon())


@shared_task
def enum_property():
    return Level.HIGH.weight


@shared_task
def enum_plain():
    return Color.RED.label, Color.BLUE.value
"""
LAZYMOD = """import time

KNOWN = 1


def __getattr__(name):
    time.sleep(0.2)
    return 42
"""
HELPERS = """import time

from .models import Book


class Sized:
    def __len__(self):
        time.sleep(0.2)
        return 3


ITEMS = [Sized()]
CACHE = {}
LIMITS = {"a": 1, "b": [1, 2]}


def warm():
    CACHE["books"] = Book.objects.all()


warm()
"""
SETTINGS = """from django.urls import reverse_lazy
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _
import os


def _slow():
    return "site"


SITE_NAME = SimpleLazyObject(_slow)
LOGIN_URL = reverse_lazy("login")
LANGUAGES = [("en", _("English"))]
DEBUG = os.environ.get("DEBUG", "") == "1"
PAGE = 10
"""
MODULE_TASKS = """from celery import shared_task
from django.conf import settings

from . import helpers, lazymod


@shared_task
def module_getattr():
    return lazymod.SETTING


@shared_task
def module_known():
    return lazymod.KNOWN


@shared_task
def container_object():
    return len(helpers.ITEMS[0])


@shared_task
def container_filled():
    return len(helpers.CACHE["books"])


@shared_task
def container_literal():
    return helpers.LIMITS["a"], len(helpers.LIMITS["b"])


@shared_task
def settings_lazy():
    return str(settings.SITE_NAME)


@shared_task
def settings_reverse_lazy():
    return f"{settings.LOGIN_URL}"


@shared_task
def settings_gettext_lazy():
    return [str(name) for code, name in settings.LANGUAGES]


@shared_task
def settings_plain():
    return settings.PAGE + 1, settings.DEBUG
"""
PROJECT = {
    "proj/__init__.py": "",
    "proj/lazymod.py": LAZYMOD,
    "proj/helpers.py": HELPERS,
    "proj/settings.py": SETTINGS,
    "proj/module_tasks.py": MODULE_TASKS,
    "proj/celery.py": APP,
    "proj/models.py": MODELS,
    "proj/shapes.py": SHAPES,
    "proj/tasks.py": TASKS,
    "requirements.txt": "django>=4.2\n",
}

NOT_PORTED = {  # task -> what the reason names
    "abstract_shadow": "Shadow.title",
    "mixin_shadow": "Shadow2.title",
    "proxy_shadow": "BookProxy.title",
    "diamond": "time.sleep",
    "coop_diamond": "CoopDiamond has several bases",
    "instance_shadows_method": "run is an instance attribute set at proj/shapes.py:",
    "chameleon": "self.__class__ is reassigned",
    "enum_property": "Level.weight",
}
PORTED = {"abstract_field", "single", "coop_single", "instance_attribute", "enum_plain"}
MODULE_NOT_PORTED = {
    "module_getattr": "proj.lazymod.SETTING is not defined there: the module's __getattr__ runs",
    "container_object": "proj.helpers.ITEMS = [Sized()]",
    "container_filled": "CACHE is filled at proj/helpers.py:",
    "settings_lazy": "settings.SITE_NAME = SimpleLazyObject(_slow)",
    "settings_reverse_lazy": "settings.LOGIN_URL = reverse_lazy('login')",
    "settings_gettext_lazy": "settings.LANGUAGES",
}
MODULE_PORTED = {"module_known", "container_literal", "settings_plain"}


@pytest.fixture(scope="module")
def prover(tmp_path_factory) -> Prover:
    root = tmp_path_factory.mktemp("attack2")
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


@pytest.mark.parametrize("task", sorted(MODULE_NOT_PORTED))
def test_module_level_hazard_is_not_ported_whole(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.module_tasks", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert MODULE_NOT_PORTED[task] in plan.reason(), plan.reason()


@pytest.mark.parametrize("task", sorted(MODULE_PORTED))
def test_module_level_control_is_still_ported(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.module_tasks", task, bind=False)
    assert plan.verdict == "ported", plan.reason()


CONF = """LIMIT = 10
MODE = "a"


def set_limit(v):
    global LIMIT
    LIMIT = v


def reload_mode():
    globals()["MODE"] = "b"
"""
COPIES = """from celery import shared_task

from .conf import LIMIT, MODE, reload_mode, set_limit


@shared_task
def limit():
    return LIMIT, MODE


@shared_task
def rebind():
    set_limit(99)
    reload_mode()
    return "done"
"""


def test_the_port_reads_the_task_modules_copy_of_an_imported_name(tmp_path) -> None:
    """Attack 3 #15: ``from .conf import LIMIT`` is a copy taken when the task module ran; conf rebinding its
    LIMIT later (``global``, ``globals()[...]``) does not change what the Celery function reads, so the port
    reads the task module's binding, not ``conf.LIMIT``."""
    import subprocess
    import sys

    from saqmigrate.config import Config
    from saqmigrate.rewrite import apply_changes, compute_changes

    files = {**{k: v for k, v in PROJECT.items() if k in ("proj/__init__.py", "proj/celery.py")}}
    files.update({"proj/conf.py": CONF, "proj/copies.py": COPIES, "requirements.txt": ""})
    write_tree(tmp_path, files)
    result = compute_changes(tmp_path, Config(), mode="native")
    assert apply_changes(tmp_path, result.changes) == []
    assert any(m.startswith("native proj.copies.limit: ported") for m in result.messages), result.messages
    twin = (tmp_path / "proj/copies_saq.py").read_text()
    assert "from proj.copies import LIMIT, MODE" in twin and "from proj.conf import" not in twin
    run = (
        "import asyncio, proj.copies as c, proj.copies_saq as t\n"
        "c.rebind()\n"
        "fn = getattr(t.limit, '__wrapped__', None) or getattr(t.limit, 'function', None) or t.limit\n"
        "print(c.limit(), asyncio.run(fn({})))\n"
    )
    out = subprocess.run([sys.executable, "-c", run], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(10,", "'a')", "(10,", "'a')"], out.stdout


SEGMENTS = """from celery import shared_task

from .models import Book


@shared_task
def annotated(pk):
    b = Book.objects.get(pk=pk)
    n: int = len(str(b))
    label: str
    return n


@shared_task
def joined(pk):
    b = Book.objects.get(pk=pk); n = len(str(b))  # noqa: E702
    return n


@shared_task
def plain_segment(pk):
    b = Book.objects.get(pk=pk)
    n = len(str(b))
    return n
"""


def test_an_annotated_assignment_in_a_segment_ports_and_scan_agrees_with_rewrite(tmp_path) -> None:
    """Attack 3 #17: ``n: int = ...`` in a blocking segment made the port fail to compile (an annotated name
    cannot be nonlocal): the rewrite kept the bridge while the scan said partly ported. The segment now assigns
    without the annotation; and whatever the porter refuses, the scan says bridged with the same reason."""
    from saqmigrate.config import Config
    from saqmigrate.rewrite import compute_changes
    from saqmigrate.scan import run_scan

    files = {k: v for k, v in PROJECT.items() if k in ("proj/__init__.py", "proj/celery.py", "proj/models.py")}
    files.update({"proj/segments.py": SEGMENTS, "requirements.txt": "django>=4.2\n"})
    write_tree(tmp_path, files)
    index, _ = run_scan(tmp_path, Config(), use_cache=False)
    scan = {r["task"].rsplit(".", 1)[-1]: (r["verdict"], r["reason"]) for r in index.native["tasks"]}
    result = compute_changes(tmp_path, Config(), mode="native", index=index)
    rewrite = {}
    for m in result.messages:
        head, _, rest = m.partition(": ")
        name = head.split()[-1].rsplit(".", 1)[-1] if head.startswith(("native ", "SM130 ", "SM113 ")) else ""
        if name:
            rewrite[name] = (
                "ported" if rest.startswith("ported") else "partly" if head.startswith("SM130") else "bridged",
                rest.removeprefix("kept in bridge mode: ") if head.startswith("SM113") else "",
            )
    assert scan["annotated"][0] == "partly" == rewrite["annotated"][0], (scan, rewrite)
    assert scan["plain_segment"][0] == "partly" == rewrite["plain_segment"][0], (scan, rewrite)
    assert scan["joined"] == rewrite["joined"], (scan, rewrite)
    assert scan["joined"][0] == "bridged" and ";" in scan["joined"][1], scan
    twin = next(c.new for c in result.changes if c.rel.endswith("segments_saq.py")) or ""
    compile(twin, "segments_saq.py", "exec")
    assert "n = len(str(b))" in twin and "n: int" not in twin.split("def annotated")[0]


CPU = """import bisect
import collections
import functools
import json
import operator
import struct

from celery import shared_task


@shared_task
def sum_lists(rows):
    return len(sum(rows, []))


@shared_task
def concat_list(items):
    acc = []
    for x in items:
        acc = acc + [x]
    return acc


@shared_task
def reduce_add(rows):
    return functools.reduce(operator.add, rows)


@shared_task
def search_list(items):
    seen = []
    for x in items:
        if x not in seen:
            seen.append(x)
    return seen


@shared_task
def concat_bytes(chunks):
    b = b""
    for c in chunks:
        b += c.encode()
    return b


@shared_task
def insert_front(items):
    acc = []
    for x in items:
        acc.insert(0, x)
    return acc


@shared_task
def insort(items):
    acc = []
    for x in items:
        bisect.insort(acc, x)
    return acc


@shared_task
def product(items):
    p = 1
    for x in items:
        p *= x
    return p


@shared_task
def width_format(x, n):
    return format(x, f">{n}")


@shared_task
def width_str_format(x, n):
    return "{:>{}}".format(x, n)


@shared_task
def width_percent(n):
    return "%*d" % (n, 1)


@shared_task
def dumps_indent(data, n):
    return json.dumps(data, indent=n)


@shared_task
def pack_computed(n):
    return struct.pack(f"{n}x")


@shared_task
def shift(n):
    return 1 << n


@shared_task
def mul_operator(n):
    return operator.mul("ab", n)


@shared_task
def counter_elements(n):
    return len(list(collections.Counter(a=n).elements()))


@shared_task
def template(tpl, name):
    return len(tpl.format(name=name))


@shared_task
def join_sep(sep, items):
    return len(sep.join(items))


@shared_task
def replace_value(s, new):
    return len(s.replace("a", new))


@shared_task
def linear(items, data):
    total = 0
    out = []
    seen = set()
    for x in items:
        total += x
        out.append(x)
        if x in seen:
            continue
        seen.add(x)
    return total, out, json.dumps(data, indent=2), format(1, ">4"), sum(items), 1 << 4, ", ".join(out)
"""
CPU_NOT_PORTED = {
    "sum_lists": "sum() with a sequence start",
    "concat_list": "acc is copied each round",
    "reduce_add": "functools.reduce(operator.add",
    "search_list": "searches a list each round",
    "concat_bytes": "b is copied each round",
    "insert_front": "acc.insert(0, x) shifts a list",
    "insort": "bisect.insort(acc, x) shifts a list",
    "product": "p grows each round",
    "width_format": "a format with a computed spec",
    "width_str_format": "a width taken from an argument",
    "width_percent": "a format with a computed width (%*)",
    "dumps_indent": "json.dumps() with a computed indent",
    "pack_computed": "struct.pack() of a computed format",
    "shift": "a shift by a computed amount",
    "mul_operator": "operator.mul() of a computed value",
    "counter_elements": "Counter.elements()",
    "template": "a format template from a value",
    "join_sep": "join() with a computed separator",
    "replace_value": "replace() with a computed replacement",
}


@pytest.fixture(scope="module")
def cpu_prover(tmp_path_factory) -> Prover:
    root = tmp_path_factory.mktemp("attack2cpu")
    write_tree(root, {"proj/__init__.py": "", "proj/celery.py": APP, "proj/cpu.py": CPU})
    return Prover(root)


@pytest.mark.parametrize("task", sorted(CPU_NOT_PORTED))
def test_cpu_work_not_linear_in_input_is_not_ported(cpu_prover: Prover, task: str) -> None:
    plan = cpu_prover.plan_task("proj.cpu", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert CPU_NOT_PORTED[task] in plan.reason(), plan.reason()


def test_linear_cpu_work_is_still_ported(cpu_prover: Prover) -> None:
    plan = cpu_prover.plan_task("proj.cpu", "linear", bind=False)
    assert plan.verdict == "ported", plan.reason()
