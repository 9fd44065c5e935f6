"""An attribute of a project module or class replaced at run time from other code (issue 13, docs/native.md):
``helpers.shout = slow`` in ``AppConfig.ready()``, ``Fmt.up = staticmethod(slow)`` after the class body,
``setattr(helpers, "whisper", slow)``, ``import proj.helpers as h; h.echo = slow``, ``del helpers.hum``, a
``setattr`` with a computed name. The prover proves the function the source defines, so a task calling one
of them must stay bridged, with a reason naming where it was replaced; the same project without the writes
(the control) ports every task. The scan finds the writes in files it parses and in files it skips (no
Celery trigger word), keeps them in its per-file cache, and re-plans cached verdicts when one appears or goes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.scan import run_scan
from saqmigrate.transform import blocking
from saqmigrate.transform.blocking import Prover

from tests.scan.helpers import write_tree
from saqmigrate.transform.native import native_prover

HELPERS = """import time


def shout(x):
    return x.upper()


def whisper(x):
    return x.lower()


def echo(x):
    return x


def hum(x):
    return x


def quiet(x):
    return x


def _slow_up(x):
    time.sleep(1)
    return x


class Fmt:
    @staticmethod
    def up(x):
        return x.upper()


class Box:
    def __init__(self, v):
        self.v = v

    def show(self):
        return self.v


class Shown:
    def __init__(self, v):
        self.v = v


class Tag:
    @classmethod
    def make(cls, x):
        return x


class Plain:
    size = 3
"""
OTHER = """def a(x):
    return x
"""
TASKS = """from celery import shared_task

import proj.helpers as h
from proj import helpers, other
from proj.helpers import Box, Fmt, Plain, Shown, Tag, whisper


@shared_task
def t_ready(x):
    return helpers.shout(x)


@shared_task
def t_setattr(x):
    return whisper(x)


@shared_task
def t_alias(x):
    return h.echo(x)


@shared_task
def t_del(x):
    return helpers.hum(x)


@shared_task
def t_static(x):
    return Fmt.up(x)


@shared_task
def t_method(x):
    return Box(x).show()


@shared_task
def t_dunder(x):
    s = Shown(x)
    return x


@shared_task
def t_classmethod(x):
    return Tag.make(x)


@shared_task
def t_computed(x):
    return other.a(x)


@shared_task
def t_class_attribute(x):
    return Plain.size + len(x)


@shared_task
def t_quiet(x):
    return helpers.quiet(x)
"""
APPS = """from django.apps import AppConfig


class ProjConfig(AppConfig):
    name = "proj"
"""
READY = """
    def ready(self):
        from . import helpers
        from .patches import slow

        helpers.shout = slow
"""
PATCHES = """import time

import proj.helpers as h
from proj import helpers, other
from proj.helpers import Box, Plain, Shown, Tag


def slow(x):
    time.sleep(1)
    return x


setattr(helpers, "whisper", slow)
del helpers.hum
Box.show = slow
setattr(Tag, "make", classmethod(lambda cls, x: slow(x)))
Shown.__str__ = lambda self: slow("x")
Plain.size = property(lambda self: slow(3))


def install(name, helpers=None):
    h.echo = slow
    setattr(other, name, slow)
    helpers.quiet = slow  # a parameter named helpers, not the module


class Local:
    def __init__(self):
        self.quiet = slow
"""
TEST_PATCH = """from proj import helpers


def test_quiet():
    helpers.quiet = lambda x: x
"""

#: task -> what its reason must name (each form of the hazard)
REPLACED = {
    "t_ready": "proj.helpers.shout replaced at proj/apps.py:11 by helpers.shout = ...",
    "t_setattr": "proj.helpers.whisper replaced at proj/patches.py:13 by setattr(helpers, 'whisper')",
    "t_alias": "proj.helpers.echo replaced at proj/patches.py:22 by h.echo = ...",
    "t_del": "proj.helpers.hum deleted at proj/patches.py:14 by del helpers.hum",
    "t_static": "proj.helpers.Fmt.up replaced at proj/helpers.py:58 by Fmt.up = ...",
    "t_method": "proj.helpers.Box.show replaced at proj/patches.py:15 by Box.show = ...",
    "t_dunder": "proj.helpers.Shown.__str__ replaced at proj/patches.py:17 by Shown.__str__ = ...",
    "t_classmethod": "proj.helpers.Tag.make replaced at proj/patches.py:16 by setattr(Tag, 'make')",
    "t_computed": "proj.other: any attribute may be replaced at proj/patches.py:23 by setattr(other, <computed name>)",
    "t_class_attribute": "proj.helpers.Plain.size replaced at proj/patches.py:18 by Plain.size = ...",
}
UNTOUCHED = {"t_quiet"}  # only a test file, a parameter and an instance attribute write `quiet`


def _control() -> dict[str, str]:
    return {
        "proj/__init__.py": "",
        "proj/helpers.py": HELPERS,
        "proj/other.py": OTHER,
        "proj/tasks.py": TASKS,
        "proj/apps.py": APPS,
    }


def _rebinding() -> dict[str, str]:
    return {
        **_control(),
        "proj/helpers.py": HELPERS + "\n\nFmt.up = staticmethod(_slow_up)\n",
        "proj/apps.py": APPS + READY,
        "proj/patches.py": PATCHES,
        "proj/tests/test_patch.py": TEST_PATCH,
    }


def test_the_fixture_lines_are_the_ones_named() -> None:
    files = _rebinding()
    assert files["proj/apps.py"].splitlines()[10].strip() == "helpers.shout = slow"
    assert files["proj/helpers.py"].splitlines()[57] == "Fmt.up = staticmethod(_slow_up)"
    assert files["proj/patches.py"].splitlines()[22].strip() == "setattr(other, name, slow)"


@pytest.fixture(scope="module")
def control(tmp_path_factory) -> Path:
    return write_tree(tmp_path_factory.mktemp("control"), _control())


@pytest.fixture(scope="module")
def rebinding(tmp_path_factory) -> Path:
    return write_tree(tmp_path_factory.mktemp("rebinding"), _rebinding())


@pytest.mark.parametrize("task", sorted([*REPLACED, *UNTOUCHED]))
def test_the_control_ports_every_task(control: Path, task: str) -> None:
    plan = Prover(control).plan_task("proj.tasks", task, bind=False)
    assert plan.verdict == "ported", plan.reason()


@pytest.mark.parametrize("task", sorted(REPLACED))
def test_a_replaced_attribute_keeps_the_task_bridged_naming_where(rebinding: Path, task: str) -> None:
    plan = Prover(rebinding).plan_task("proj.tasks", task, bind=False)
    assert plan.verdict == "bridged", plan.summary()
    assert REPLACED[task] in plan.reason(), plan.reason()


def test_writes_in_tests_to_parameters_and_to_instances_do_not_count(rebinding: Path) -> None:
    plan = Prover(rebinding).plan_task("proj.tasks", "t_quiet", bind=False)
    assert plan.verdict == "ported", plan.reason()


def test_the_scan_and_the_rewrite_prover_see_the_writes(rebinding: Path) -> None:
    index, _ = run_scan(rebinding, Config(), use_cache=False)
    rows = {r["task"].removeprefix("proj.tasks."): r for r in index.native["tasks"]}
    assert {t for t, r in rows.items() if r["verdict"] == "ported"} == UNTOUCHED
    for task, where in REPLACED.items():
        assert rows[task]["verdict"] == "bridged"
        assert where in rows[task]["reason"], rows[task]["reason"]
    prover = native_prover(rebinding, [rebinding], django=False, index=index)
    for task, where in REPLACED.items():
        assert where in prover.plan_task("proj.tasks", task, bind=False).reason()


def test_a_skipped_file_is_read_for_writes_only_when_its_text_may_hold_one(tmp_path: Path) -> None:
    """apps.py has no Celery trigger word: the scan skips it, but reads its writes (parsed once, cached)."""
    root = write_tree(tmp_path / "p", _rebinding())
    run_scan(root, Config(), use_cache=True)
    from saqmigrate.cache import FileCache

    cache = FileCache(root / ".saqmigrate_cache" / "scan.json")
    apps = cache.entries["proj/apps.py"]
    assert apps["status"] == "skip" and [w["attr"] for w in apps["attr_writes"]] == ["shout"]
    assert "attr_writes" not in cache.entries["proj/other.py"]
    assert "attr_writes" not in cache.entries["proj/tests/test_patch.py"]


def test_a_cached_scan_sees_a_write_appear_and_go_in_another_file(tmp_path: Path, monkeypatch) -> None:
    root = write_tree(tmp_path / "p", _control())
    index, _ = run_scan(root, Config())
    assert {r["task"]: r["verdict"] for r in index.native["tasks"]}["proj.tasks.t_ready"] == "ported"
    planned: list[str] = []
    real = blocking.Prover.plan_task

    def counting(self, module, function, **kw):
        planned.append(function)
        return real(self, module, function, **kw)

    monkeypatch.setattr(blocking.Prover, "plan_task", counting)
    index, _ = run_scan(root, Config())
    assert planned == []  # warm: every verdict from the cache
    apps = root / "proj/apps.py"  # a file no verdict read, without a write until now
    apps.write_text(APPS + READY.replace("from .patches import slow", "import time\n\n        slow = time.sleep"))
    index, stats = run_scan(root, Config())
    assert stats.read == 1  # apps.py only: tasks.py, helpers.py ... come from the cache
    row = {r["task"]: r for r in index.native["tasks"]}["proj.tasks.t_ready"]
    assert row["verdict"] == "bridged"
    assert "proj.helpers.shout replaced at proj/apps.py:" in row["reason"]
    apps.write_text(APPS)  # the write goes: the verdict comes back
    index, _ = run_scan(root, Config())
    assert {r["task"]: r["verdict"] for r in index.native["tasks"]}["proj.tasks.t_ready"] == "ported"


def test_resolution_follows_the_provers_names(tmp_path: Path) -> None:
    """The target is resolved as the prover resolves names: a class re-exported by a package is the class
    where it is defined; a library's name stays the library's; a module-level object is not followed."""
    root = write_tree(
        tmp_path / "p",
        {
            "proj/__init__.py": "",
            "proj/shapes/__init__.py": "from .impl import Fmt\n",
            "proj/shapes/impl.py": "class Fmt:\n    @staticmethod\n    def up(x):\n        return x\n",
            "proj/tasks.py": (
                "from celery import shared_task\n\nfrom proj.shapes.impl import Fmt\n\n\n"
                "@shared_task\ndef t(x):\n    return Fmt.up(x)\n"
            ),
            "proj/patch.py": (
                "import json\nfrom proj.shapes import Fmt\n\nobj = object()\n\n"
                "json.dumps = None\nobj.up = None\nFmt.up = staticmethod(print)\n"
            ),
        },
    )
    replaced = blocking.replaced_attributes(blocking.project_writes(root), [root])
    assert sorted(replaced) == [("json", "dumps"), ("proj.shapes.impl:Fmt", "up")]
    assert (
        "proj.shapes.impl.Fmt.up replaced at proj/patch.py:8"
        in Prover(root).plan_task("proj.tasks", "t", bind=False).reason()
    )


LIBRARY_TASKS = """import json

from celery import shared_task

from proj.models import Note


@shared_task
def t_json(x):
    return json.dumps(x)


@shared_task
def t_all():
    return [n.title for n in Note.objects.all()]


@shared_task
def t_count():
    return Note.objects.count()
"""
MODELS = """from django.db import models


class Note(models.Model):
    title = models.CharField(max_length=10)
"""
LIBRARY_PATCHES = """import json
import time

from django.db.models.manager import BaseManager


def slow(*a):
    time.sleep(1)


def install():
    json.dumps = slow
    BaseManager.all = slow
"""


def test_a_library_function_the_prover_trusts_replaced_by_the_project(tmp_path: Path) -> None:
    """The allowlist and the Django ports trust a library's own function: replaced by the project (kitsune
    replaces ``BaseManager.all`` in an ``AppConfig.ready()``), a call of it is not proven."""
    files = {"proj/__init__.py": "", "proj/models.py": MODELS, "proj/tasks.py": LIBRARY_TASKS}
    control = Prover(write_tree(tmp_path / "control", files))
    for task in ("t_json", "t_all", "t_count"):
        assert control.plan_task("proj.tasks", task, bind=False).verdict == "ported", task
    prover = Prover(write_tree(tmp_path / "patched", {**files, "proj/patches.py": LIBRARY_PATCHES}))
    plan = prover.plan_task("proj.tasks", "t_json", bind=False)
    assert (
        plan.verdict == "bridged" and "json.dumps replaced at proj/patches.py:12 by json.dumps = ..." in plan.reason()
    )
    plan = prover.plan_task("proj.tasks", "t_all", bind=False)
    assert plan.verdict != "ported"
    assert "django.db.models.manager.BaseManager.all replaced at proj/patches.py:13" in plan.reason()
    assert prover.plan_task("proj.tasks", "t_count", bind=False).verdict == "ported"  # count() is Django's own
    internal = LIBRARY_PATCHES.replace("BaseManager.all = slow", "BaseManager.get_queryset = slow")
    prover = Prover(write_tree(tmp_path / "internal", {**files, "proj/patches.py": internal}))
    plan = prover.plan_task("proj.tasks", "t_count", bind=False)  # every query is built through it
    assert plan.verdict == "bridged" and "BaseManager.get_queryset replaced" in plan.reason()


@pytest.mark.parametrize(
    ("text", "may"),
    [
        ("import h\nh.x = 1\n", True),
        ("import h\na = h.x = 1\n", True),  # chained
        ("import h\nif c: h.x = 1\n", True),
        ("import h\nx = 1; h.x += 1\n", True),
        ("from a import (\n    b,\n    h,\n)\n\n\ndef f():\n    h.y: int = 2\n", True),
        ("import h\ndel h.x\n", True),
        ("import h\nsetattr(h, 'a', 1)\n", True),
        ("class F:\n    pass\n\n\nF.up = 1\n", True),
        ("import h\nh.x == 1\n", False),
        ("import h\nf(h.x, key=1)\n", False),
        ("import h\ngetattr(h, 'a')\n", False),
        ("import h\nx.y = 1\n", False),  # x is not a name an import or a class binds
        ("import h\nself.x = 1\n", False),
    ],
)
def test_the_text_look_picks_the_files_that_maywrite_tree(text: str, may: bool) -> None:
    from saqmigrate.index.extract import may_write_attributes

    assert may_write_attributes(text) is may
    assert may_write_attributes(text.encode()) is may


def test_a_package_attribute_replaced_is_not_the_submodule(tmp_path: Path) -> None:
    files = {
        **_control(),
        "proj/patches.py": "import proj\n\n\ndef install(fake):\n    proj.helpers = fake\n",
    }
    plan = Prover(write_tree(tmp_path / "p", files)).plan_task("proj.tasks", "t_quiet", bind=False)
    assert plan.verdict == "bridged" and "proj.helpers replaced at proj/patches.py:5" in plan.reason()


def test_warm_scans_do_not_resolve_the_writes_again_until_a_module_it_read_changes(tmp_path: Path, monkeypatch) -> None:
    root = write_tree(tmp_path / "p", _rebinding())
    run_scan(root, Config())
    resolved: list[int] = []
    real = blocking.replaced_attributes

    def counting(writes, roots, loader=None):
        resolved.append(len(writes))
        return real(writes, roots, loader)

    monkeypatch.setattr(blocking, "replaced_attributes", counting)
    index, _ = run_scan(root, Config())
    assert resolved == []  # <cache dir>/native_writes.json
    rows = {r["task"].removeprefix("proj.tasks."): r for r in index.native["tasks"]}
    assert REPLACED["t_method"] in rows["t_method"]["reason"]
    other = root / "proj/other.py"  # a module the resolution read (setattr(other, name, ...))
    other.write_text(OTHER + "\n\ndef b(x):\n    return x\n")
    index, _ = run_scan(root, Config())
    assert len(resolved) == 1
    rows = {r["task"].removeprefix("proj.tasks."): r for r in index.native["tasks"]}
    assert REPLACED["t_computed"] in rows["t_computed"]["reason"]


def test_a_project_without_a_twinned_task_parses_no_skipped_file_for_writes(tmp_path: Path) -> None:
    files = {**_rebinding(), "proj/tasks.py": "VALUE = 1\n"}  # no task: no verdict to prove
    root = write_tree(tmp_path / "p", files)
    run_scan(root, Config(), use_cache=True)
    from saqmigrate.cache import FileCache

    apps = FileCache(root / ".saqmigrate_cache" / "scan.json").entries["proj/apps.py"]
    assert apps["status"] == "skip" and apps["may_write"] and "attr_writes" not in apps


DIAMOND = """class Base:
    @staticmethod
    def up(x):
        return x


class Left(Base):
    pass


class Right(Base):
    @staticmethod
    def up(x):
        return x


class Both(Left, Right):
    pass
"""


@pytest.mark.parametrize(
    ("patched", "verdict"),
    [("Right", "bridged"), ("Base", "ported")],
)
def test_a_replaced_method_is_looked_up_in_pythons_mro(tmp_path: Path, patched: str, verdict: str) -> None:
    """``Both(Left, Right)``: Python finds ``up`` on Right (Both, Left, Right, Base), so a replacement of
    ``Right.up`` is what ``Both.up`` runs, and one of ``Base.up`` is never reached. A depth-first search
    (Left, then Base) finds Base's first: it bridged the second task and missed nothing only by luck."""
    root = write_tree(
        tmp_path / "p",
        {
            "proj/__init__.py": "",
            "proj/shapes.py": DIAMOND,
            "proj/tasks.py": (
                "from celery import shared_task\n\nfrom proj.shapes import Both\n\n\n"
                "@shared_task\ndef t(x):\n    return Both.up(x)\n\n\n@shared_task\ndef t_read():\n    return Both.up\n"
            ),
            "proj/patch.py": f"import time\n\nfrom proj.shapes import {patched}\n\n{patched}.up = time.sleep\n",
        },
    )
    prover = Prover(root)
    for task in ("t", "t_read"):  # a call, and a read of the attribute
        plan = prover.plan_task("proj.tasks", task, bind=False)
        assert plan.verdict == verdict, plan.summary()
        if verdict == "bridged":
            assert "proj.shapes.Right.up replaced at proj/patch.py:5" in plan.reason()


def test_a_descriptor_attribute_is_looked_up_in_pythons_mro(tmp_path: Path) -> None:
    """A class attribute built by a call runs its ``__get__`` on every read only when it is the binding
    Python finds: Right's descriptor shadows Base's constant for ``Both``, and a constant on Right
    shadows Base's descriptor."""
    shapes = (
        "import functools\n\n\nclass Base:\n    size = {base}\n\n\nclass Left(Base):\n    pass\n\n\n"
        "class Right(Base):\n    size = {right}\n\n\nclass Both(Left, Right):\n    pass\n"
    )
    task = "from celery import shared_task\n\nfrom proj.shapes import Both\n\n\n@shared_task\ndef t():\n    return Both.size\n"
    verdicts = {}
    for name, base, right in (
        ("hazard", "1", "functools.cached_property(len)"),
        ("control", "functools.cached_property(len)", "1"),
    ):
        root = write_tree(
            tmp_path / name,
            {"proj/__init__.py": "", "proj/shapes.py": shapes.format(base=base, right=right), "proj/tasks.py": task},
        )
        verdicts[name] = Prover(root).plan_task("proj.tasks", "t", bind=False)
    assert verdicts["hazard"].verdict != "ported"
    assert "Right.size is built by functools.cached_property()" in verdicts["hazard"].reason()
    assert verdicts["control"].verdict == "ported", verdicts["control"].summary()


def test_a_container_another_module_fills_is_not_plain_data(tmp_path: Path) -> None:
    """``helpers.CACHE["books"] = Book.objects.all()`` in another module (or ``ITEMS.append(...)`` with
    ``from helpers import ITEMS``): an element read from the container is whatever that code put there, so
    a task reading it is not proven; a container nobody fills stays plain data (the control)."""
    root = write_tree(
        tmp_path / "p",
        {
            "proj/__init__.py": "",
            "proj/helpers.py": 'CACHE = {}\nITEMS = []\nPLAIN = {"a": 1}\n',
            "proj/fill.py": (
                "from proj import helpers\nfrom proj.helpers import ITEMS\n\n\ndef warm(qs):\n"
                '    helpers.CACHE["books"] = qs\n    ITEMS.append(qs)\n'
            ),
            "proj/tasks.py": (
                "from celery import shared_task\n\nfrom proj import helpers\nfrom proj.helpers import ITEMS, PLAIN\n\n\n"
                '@shared_task\ndef read_cache():\n    return len(helpers.CACHE["books"])\n\n\n'
                "@shared_task\ndef read_items():\n    return [str(x) for x in ITEMS]\n\n\n"
                '@shared_task\ndef read_plain():\n    return PLAIN["a"]\n'
            ),
        },
    )
    prover = Prover(root)
    cache = prover.plan_task("proj.tasks", "read_cache", bind=False)
    assert cache.verdict != "ported"
    assert "proj.helpers.CACHE filled at proj/fill.py:6 by helpers.CACHE[...]" in cache.reason(), cache.reason()
    items = prover.plan_task("proj.tasks", "read_items", bind=False)
    assert items.verdict != "ported"
    assert "proj.helpers.ITEMS filled at proj/fill.py:7 by ITEMS[...]" in items.reason(), items.reason()
    assert prover.plan_task("proj.tasks", "read_plain", bind=False).verdict == "ported"


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        ("import os\nimport os.path\n", "ported"),  # both bind the os package: one binding
        ("import os.path\nimport os\n", "ported"),
        ("import os\nfrom proj import os\n", "bridged"),  # a second, different binding (the control)
        ("import os\nos = None\n", "bridged"),
    ],
)
def test_plain_imports_of_one_package_are_one_binding(tmp_path: Path, header: str, verdict: str) -> None:
    root = write_tree(
        tmp_path / "p",
        {
            "proj/__init__.py": "",
            "proj/tasks.py": header
            + "\nfrom celery import shared_task\n\n\n@shared_task\ndef join(a, b):\n    return os.path.join(a, b)\n",
        },
    )
    plan = Prover(root).plan_task("proj.tasks", "join", bind=False)
    assert plan.verdict == verdict, plan.summary()
    if verdict == "bridged":
        assert "os is bound more than once" in plan.reason(), plan.reason()
