"""Classes a fifth attack found ported onto the event loop (2026-11-30, openwisp-monitoring + 48 tasks of
ours): methods builtins and the stdlib call *by name* on an object they are given (``keys``/``items`` of
the mapping protocol: ``dict(x)``, ``{**x}``, ``f(**x)``, ``d.update(x)``, ``json.dumps`` of a dict
subclass, ``pprint``, ``dataclasses.asdict``), and ``__class_getitem__`` on ``Cls[...]``. Each hazard has
a control with the same shape whose methods are plain, which still ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from saqmigrate.transform.blocking import Prover

from tests.scan.helpers import write_tree

HELPERS = """import time


class KeysMap:
    def __init__(self, d):
        self.data = dict(d)

    def keys(self):
        time.sleep(0.3)
        return self.data.keys()

    def __getitem__(self, k):
        return self.data[k]


class PlainKeysMap:
    def __init__(self, d):
        self.size = len(d)

    def keys(self):
        return ["a", "b"]

    def __getitem__(self, k):
        return k * 2


class ItemsDict(dict):
    def items(self):
        time.sleep(0.3)
        return super().items()


class PlainDict(dict):
    pass


class Slot:
    def __class_getitem__(cls, item):
        time.sleep(0.3)
        return cls


class PlainSlot:
    pass
"""
TASKS = """import copy
import json
import pprint

from celery import shared_task

from proj.helpers import ItemsDict, KeysMap, PlainDict, PlainKeysMap, PlainSlot, Slot


def kw_only(**kw):
    return kw


@shared_task
def dict_of(data):
    return dict(KeysMap(data))


@shared_task
def unpack(data):
    m = KeysMap(data)
    return {**m}


@shared_task
def format_kwargs(data):
    return "{a}".format(**KeysMap(data))


@shared_task
def update(data):
    d = {}
    d.update(KeysMap(data))
    return d


@shared_task
def call_kwargs(data):
    return kw_only(**KeysMap(data))


@shared_task
def dumps(data):
    return json.dumps(ItemsDict(data))


@shared_task
def deepcopy(data):
    return len(copy.deepcopy(ItemsDict(data)))


@shared_task
def pformat(data):
    return pprint.pformat(ItemsDict(data))


@shared_task
def class_getitem():
    Slot[int]
    return 6


@shared_task
def control(data):
    m = PlainKeysMap(data)
    d = {}
    d.update(m)
    return dict(m), {**m}, json.dumps(PlainDict(data)), pprint.pformat(PlainDict(data)), d, PlainSlot
"""
NOT_PORTED = {
    "dict_of": "KeysMap.keys",
    "unpack": "KeysMap.keys",
    "format_kwargs": "KeysMap.keys",
    "update": "KeysMap.keys",
    "call_kwargs": "KeysMap.keys",
    "dumps": "ItemsDict.items",
    "deepcopy": "ItemsDict.items",
    "pformat": "ItemsDict.items",
    "class_getitem": "Slot.__class_getitem__ runs on Slot[int]",
}


@pytest.fixture(scope="module")
def prover(tmp_path_factory) -> Prover:
    root: Path = tmp_path_factory.mktemp("attack5")
    write_tree(root, {"proj/__init__.py": "", "proj/helpers.py": HELPERS, "proj/tasks.py": TASKS})
    return Prover(root)


@pytest.mark.parametrize("task", sorted(NOT_PORTED))
def test_a_method_called_by_name_or_on_the_class_is_proven(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.tasks", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert NOT_PORTED[task] in plan.reason(), plan.reason()


def test_the_same_shapes_with_plain_methods_still_port(prover: Prover) -> None:
    plan = prover.plan_task("proj.tasks", "control", bind=False)
    assert plan.verdict == "ported", plan.reason()


FORMATS = """import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task
def percent_template(tpl):
    return len(tpl % (1,))


@shared_task
def percent_bytes_template(tpl):
    return len(tpl.encode() % (1,))


@shared_task
def percent_dict_template(tpl, a):
    return tpl % {"a": a}


@shared_task
def percent_bytes_width(n):
    return b"%*d" % (n, 1)


@shared_task
def log_template(tpl):
    logger.warning(tpl, 1)


@shared_task
def log_width(n):
    logger.warning("%*d", n, 1)


@shared_task
def log_level_template(tpl):
    logger.log(logging.INFO, tpl, 1)


@shared_task
def logging_module_width(n):
    logging.warning("%*d", n, 1)


@shared_task
def control(a, b, msg, i):
    logger.warning("x %s %d", a, b)
    logger.warning(msg)
    logging.info("%s", a)
    return "%s-%d" % (a, b), i % 2, b"%d" % (b,)
"""
FORMAT_NOT_PORTED = {
    "percent_template": "a % format template from a value",
    "percent_bytes_template": "a % format template from a value",
    "percent_dict_template": "a % format template from a value",
    "percent_bytes_width": "a format with a computed width (%*)",
    "log_template": "a log message template from a value",
    "log_width": "a log message with a computed width (%*)",
    "log_level_template": "a log message template from a value",
    "logging_module_width": "a log message with a computed width (%*)",
}


@pytest.fixture(scope="module")
def format_prover(tmp_path_factory) -> Prover:
    root: Path = tmp_path_factory.mktemp("attack6")
    write_tree(root, {"proj/__init__.py": "", "proj/fmt.py": FORMATS})
    return Prover(root)


@pytest.mark.parametrize("task", sorted(FORMAT_NOT_PORTED))
def test_a_percent_format_whose_cost_is_a_value_is_not_ported(format_prover: Prover, task: str) -> None:
    """A sixth attack (Kanomble/celery_blast + 58 tasks): ``tpl % (1,)`` with ``tpl = "%300000000d"`` held
    the loop 550 ms, ``logger.warning(tpl, 1)`` 157 ms (the message is rendered at the call)."""
    plan = format_prover.plan_task("proj.fmt", task, bind=False)
    assert plan.verdict != "ported", plan.summary()
    assert FORMAT_NOT_PORTED[task] in plan.reason(), plan.reason()


def test_percent_formats_of_literal_templates_still_port(format_prover: Prover) -> None:
    plan = format_prover.plan_task("proj.fmt", "control", bind=False)
    assert plan.verdict == "ported", plan.reason()
