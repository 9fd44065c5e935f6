"""CPU work a fourth attack found ported onto the event loop although it is not linear in the task's input,
each class with a task written by us and controls that still port: endless loops (a two-argument
``iter()``, a loop growing the list it walks), constant-size work over the threshold (``range(10**8)``,
``"x" * 10**9``, ``bytes(10**9)``), value-cost calls (``math.prod``, ``round(x, n)``), quadratic rounds
(copies by unpacking or union, ``pop(0)``/``index``/``remove``/``count`` on a local list, a search in a
comprehension) and a loop calling a project helper that loops over its argument."""

from __future__ import annotations

import pytest

from saqmigrate.transform.blocking import Prover

from tests.scan.helpers import write_tree

APP = 'from celery import Celery\n\napp = Celery("proj")\n'
HELPERS = """def total(values):
    n = 0
    for v in values:
        n += v
    return n


def label(v):
    return str(v)


def indirect(values):
    return total(values)
"""
CPU = """import itertools
import math

from celery import shared_task

from .helpers import indirect, label, total

DEFAULTS = (1, 2)


@shared_task
def two_arg_iter(items):
    out = []
    for x in iter(int, 1):
        out.append(x)
    return out


@shared_task
def grows_own_list(items):
    for x in items:
        items.append(x)
    return items


@shared_task
def extends_own_list(items):
    acc = list(items)
    for x in acc:
        acc.extend([x])
    return acc


@shared_task
def inserts_own_list(items):
    for x in items:
        items.insert(len(items), x)
    return items


@shared_task
def iadds_own_list(items):
    for x in items:
        items += [x]
    return items


@shared_task
def comp_grows_own_list(items):
    return [items.append(x) for x in items]


@shared_task
def constant_sum_range():
    return sum(range(10**8))


@shared_task
def constant_sum_range_literal():
    return sum(range(100_000_000))


@shared_task
def constant_huge_range():
    return sum(range(2**100))


@shared_task
def constant_loop_range():
    n = 0
    for i in range(100_000_000):
        n += i
    return n


@shared_task
def constant_comp_range():
    return [i for i in range(10**8)]


@shared_task
def constant_list_repeat():
    return len([0] * 2 * 10**8)


@shared_task
def constant_str_repeat():
    return len("x" * 1_000_000_000)


@shared_task
def constant_bytes():
    return len(bytes(1_000_000_000))


@shared_task
def constant_repeat_iter():
    return len(list(itertools.repeat(0, 100_000_000)))


@shared_task
def huge_power():
    return 10**100_000_000 % 7


@shared_task
def huge_shift():
    return (1 << 1_000_000_000) % 7


@shared_task
def computed_nested_repeat(n):
    return len([0] * 2 * n)


@shared_task
def math_prod(items):
    return math.prod(items) % 7


@shared_task
def round_computed(x, n):
    return round(x, n)


@shared_task
def dict_unpack_copy(items):
    acc = {}
    for k in items:
        acc = {**acc, k: 1}
    return acc


@shared_task
def tuple_unpack_copy(items):
    acc = ()
    for x in items:
        acc = (*acc, x)
    return acc


@shared_task
def list_unpack_copy(items):
    acc = []
    for x in items:
        acc = [*acc, x]
    return acc


@shared_task
def set_union_copy(items):
    acc = set()
    for x in items:
        acc = acc | {x}
    return acc


@shared_task
def pop_front(items):
    queue = list(items)
    out = []
    for _ in items:
        out.append(queue.pop(0))
    return out


@shared_task
def index_each(items):
    seen = list(items)
    out = []
    for x in items:
        out.append(seen.index(x))
    return out


@shared_task
def remove_each(items):
    rest = [x for x in items]
    for x in items:
        rest.remove(x)
    return rest


@shared_task
def count_each(items):
    seen = []
    for x in items:
        seen.append(x)
        if seen.count(x) > 1:
            return x
    return None


@shared_task
def comp_in_list(items):
    seen = list(items)
    return [x for x in items if x in seen]


@shared_task
def comp_index(items):
    seen = list(items)
    return [seen.index(x) for x in items]


@shared_task
def comp_count(items):
    seen = list(items)
    return {x: seen.count(x) for x in items}


@shared_task
def helper_in_loop(items):
    out = []
    for x in items:
        out.append(total(items))
    return out


@shared_task
def helper_in_comp(items):
    return [total(items) for x in items]


@shared_task
def indirect_helper_in_loop(items):
    out = []
    for x in items:
        out.append(indirect(items))
    return out


@shared_task
def linear(items, x, text):
    total_ = 0
    out = []
    seen = set()
    allowed = ["a", "b"]
    queue = list(items)
    for i in range(len(items)):
        total_ += i
    for y in items:
        total_ += y
        out.append(label(y))
        if y in seen or y in allowed:
            continue
        seen.add(y)
        queue.pop()
    acc = set()
    cache = {}
    flags = 0
    for y in items:
        acc |= {y}
        cache.pop(y, None)
        flags = flags | y
        out.append(total(y))
        out.append(total(DEFAULTS))
        out.append(text.count(str(y)))
    return (
        total_,
        out,
        [y for y in items if y in seen],
        [y for y in items if y in allowed],
        [None] * 3,
        "-" * 40,
        [0] * 2 * 8,
        round(x, 2),
        round(x),
        round(x, -3),
        sum(range(3)),
        list(range(2**10)),
        total(items),
        math.prod([2, 3]),
        bytes(16),
        2**64,
        queue,
        acc,
        flags,
        {**cache, "k": 1},
        [total(row) for row in items],
    )
"""
CPU_NOT_PORTED = {
    "two_arg_iter": "iter(callable, sentinel) is endless",
    "grows_own_list": "grows items, the list it iterates",
    "extends_own_list": "grows acc, the list it iterates",
    "inserts_own_list": "grows items, the list it iterates",
    "iadds_own_list": "grows items, the list it iterates",
    "comp_grows_own_list": "grows items, the list it iterates",
    "constant_sum_range": "range() of 100000000 elements",
    "constant_sum_range_literal": "range() of 100000000 elements",
    "constant_huge_range": "range() of more than sys.maxsize elements",
    "constant_loop_range": "range() of 100000000 elements",
    "constant_comp_range": "range() of 100000000 elements",
    "constant_list_repeat": "a sequence repeated to 200000000 elements",
    "constant_str_repeat": "a sequence repeated to 1000000000 elements",
    "constant_bytes": "bytes() of a constant over",
    "constant_repeat_iter": "itertools.repeat() of a constant over",
    "huge_power": "a constant too large to fold",
    "huge_shift": "a constant too large to fold",
    "computed_nested_repeat": "repetition by a computed count",
    "math_prod": "math.prod() of a computed value",
    "round_computed": "round() to a computed number of digits",
    "dict_unpack_copy": "acc is copied each round",
    "tuple_unpack_copy": "acc is copied each round",
    "list_unpack_copy": "acc is copied each round",
    "set_union_copy": "acc is copied each round",
    "pop_front": "queue.pop(0) shifts a list each round",
    "index_each": "seen.index(x) searches a list each round",
    "remove_each": "rest.remove(x) searches a list each round",
    "count_each": "seen.count(x) searches a list each round",
    "comp_in_list": "x in seen searches a list each round",
    "comp_index": "seen.index(x) searches a list each round",
    "comp_count": "seen.count(x) searches a list each round",
    "helper_in_loop": "proj.helpers.total(), which loops over its argument",
    "helper_in_comp": "proj.helpers.total(), which loops over its argument",
    "indirect_helper_in_loop": "proj.helpers.indirect(), which loops over its argument",
}


@pytest.fixture(scope="module")
def cpu_prover(tmp_path_factory) -> Prover:
    root = tmp_path_factory.mktemp("attack4cpu")
    files = {"proj/__init__.py": "", "proj/celery.py": APP, "proj/helpers.py": HELPERS, "proj/cpu.py": CPU}
    write_tree(root, files)
    return Prover(root)


@pytest.mark.parametrize("task", sorted(CPU_NOT_PORTED))
def test_cpu_work_not_linear_in_input_is_not_ported(cpu_prover: Prover, task: str) -> None:
    plan = cpu_prover.plan_task("proj.cpu", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert CPU_NOT_PORTED[task] in plan.reason(), plan.reason()


def test_linear_cpu_work_is_still_ported(cpu_prover: Prover) -> None:
    plan = cpu_prover.plan_task("proj.cpu", "linear", bind=False)
    assert plan.verdict == "ported", plan.reason()


METHOD_HELPERS = """class Agg:
    def total(self, values):
        s = 0
        for v in values:
            s += v
        return s

    @staticmethod
    def stat(values):
        return sum(1 for v in values if v)

    def one(self, v):
        return v + 1
"""
METHOD_TASKS = """from celery import shared_task

from proj.helpers import Agg


@shared_task
def inst_method(items):
    agg = Agg()
    out = []
    for x in items:
        out.append(agg.total(items))
    return out


@shared_task
def static_method(items):
    return [Agg.stat(items) for x in items]


@shared_task
def control(items):
    agg = Agg()
    return [agg.total(x) for x in items], [agg.one(x) for x in items]
"""


@pytest.mark.parametrize(
    ("task", "helper"), [("inst_method", "proj.helpers.Agg.total"), ("static_method", "proj.helpers.Agg.stat")]
)
def test_a_loop_calling_a_method_that_loops_over_its_argument_is_not_ported(tmp_path, task, helper) -> None:
    """A project *method* (through an instance, or a static method through its class) that loops over what
    the round hands it is a loop inside a loop, like a module-level helper; given the round's own element
    it is linear (the control)."""
    write_tree(tmp_path, {"proj/__init__.py": "", "proj/helpers.py": METHOD_HELPERS, "proj/tasks.py": METHOD_TASKS})
    prover = Prover(tmp_path)
    plan = prover.plan_task("proj.tasks", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert f"a loop calling {helper}(), which loops over its argument values" in plan.reason(), plan.reason()
    assert prover.plan_task("proj.tasks", "control", bind=False).verdict == "ported"
