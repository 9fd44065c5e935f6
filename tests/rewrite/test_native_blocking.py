"""Native mode assumes blocking and proves safety (transform/blocking.py): a body is ported only when every
call in it is proven non-blocking, through the project's helpers; every other task keeps its bridge with
the first blocking call and its chain. Each case is one task of a small Django-flavoured project."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.rewrite import apply_changes, compute_changes
from saqmigrate.transform.blocking import Prover

APP = 'from celery import Celery\n\napp = Celery("proj")\n'
MODELS = """from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=10)
    all_objects = models.Manager()


class Post(models.Model):
    title = models.CharField(max_length=10)
    author = models.ForeignKey(Author, related_name="posts", on_delete=models.CASCADE)
"""
HELPERS = """import json
import logging
import os
import re
import threading
from datetime import datetime, timedelta

import requests
from django.core.cache import cache
from django.core.mail import EmailMessage, send_mail
from django.core.management import call_command
from django.db import transaction

from .models import Post

logger = logging.getLogger(__name__)
WORD = re.compile(r"\\w+")
LOCK = threading.Lock()
RECENT = Post.objects.filter(title="x")
LIMITS = {"a": 1}


class Bad(ValueError):
    def __init__(self, msg, code=1):
        super().__init__(msg)
        self.code = code


class Counter:
    def __init__(self):
        self.n = 0

    def add(self, k):
        self.n += k
        return self.n


def words(text):
    return [m.lower() for m in WORD.findall(text)]


def summarize(rows):
    out = {}
    for row in rows:
        out.setdefault(row["k"].strip(), []).append(row)
    logger.info("summary %s", len(out))
    return json.dumps(out, sort_keys=True)


def one_deep(x):
    return two_deep(x) + 1


def two_deep(x):
    return sum(p.pk for p in Post.objects.filter(author_id=x))


def titles(x):
    return [p.title for p in Post.objects.filter(title__startswith=x)]


def chain(n):
    return link1(n)


def link1(n):
    return link2(n)


def link2(n):
    return link3(n)


def link3(n):
    return link4(n)


def link4(n):
    return n


def touch(path):
    with open(path, "a") as fh:
        fh.write("x")


def apply(fn, x):
    return fn(x)


def iterate(qs):
    return [p.title for p in qs]


def when(days):
    return (datetime.now() - timedelta(days=days)).isoformat()


def env():
    return os.environ.get("HOME", "") + os.path.join("a", "b")


def locked():
    with LOCK:
        return 1


def recent():
    return len(RECENT)
"""
TASKS = '''import os
import shutil
import socket
import subprocess
import time
import urllib.request

import requests
from celery import shared_task
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.core.mail import EmailMessage, send_mail
from django.core.management import call_command
from django.db import transaction

from . import helpers
from .helpers import Bad, Counter, words
from .models import Author, Post


@shared_task
def pure(text, n=3):
    """Pure computation, time.sleep, logging, project classes, helpers."""
    ws = words(text)
    if not ws:
        raise Bad("empty")
    time.sleep(0.01)
    c = Counter()
    c.add(len(ws))
    top = max(ws, key=lambda w: (w.count("a"), w))  # linear: sorting input of any size is not ported
    return {"top": top, "s": helpers.summarize([{"k": w} for w in ws]), "when": helpers.when(n),
            "env": helpers.env(), "n": c.n, "data": text.upper()}


@shared_task
def deep_ok(n):
    return helpers.link2(n)


@shared_task
def callable_ok(x):
    return helpers.apply(words, x)


@shared_task
def objects(pk):
    return Post.objects.get(pk=pk).title


@shared_task
def default_manager(pk):
    return Post._default_manager.filter(pk=pk).exists()


@shared_task
def custom_manager(pk):
    return Author.all_objects.count()


@shared_task
def related(pk):
    author = Author(pk=pk)
    return author.posts.count()


@shared_task
def instance_save(title):
    p = Post(title=title)
    p.save()


@shared_task
def helper_one_deep(x):
    return helpers.titles(x)


@shared_task
def iterate_data(x):
    return helpers.iterate(x)


@shared_task
def iterate_queryset(x):
    return helpers.iterate(Post.objects.all())


@shared_task
def helper_two_deep(x):
    return helpers.one_deep(x)


@shared_task
def callable_param(x):
    return helpers.apply(requests.get, x)


@shared_task
def mail(to):
    send_mail("s", "b", "f@x", [to])


@shared_task
def mail_message(to):
    EmailMessage("s", "b", "f@x", [to]).send()


@shared_task
def command():
    call_command("clearsessions")


@shared_task
def sessions():
    SessionStore.clear_expired()


@shared_task
def atomic(pk):
    with transaction.atomic():
        return pk


@shared_task
def cached(key):
    return cache.get(key)


@shared_task
def file_io(path):
    helpers.touch(path)


@shared_task
def os_io(path):
    return os.listdir(path)


@shared_task
def shell(path):
    shutil.rmtree(path)


@shared_task
def proc():
    return subprocess.run(["true"])


@shared_task
def http(url):
    return requests.get(url).text


@shared_task
def urlopen(url):
    return urllib.request.urlopen(url).read()


@shared_task
def sock():
    return socket.create_connection(("x", 1))


@shared_task
def lock():
    return helpers.locked()


@shared_task
def lazy_queryset():
    return helpers.recent()


@shared_task
def too_deep(n):
    return helpers.chain(n)


@shared_task
def dispatch(n):
    pure.delay("x")


@shared_task
def sleep_in_helper(n):
    return helpers.apply(time.sleep, n)


@shared_task
def unknown_name(x):
    return x.foo()
'''
PROJECT = {
    "proj/__init__.py": "",
    "proj/celery.py": APP,
    "proj/models.py": MODELS,
    "proj/helpers.py": HELPERS,
    "proj/tasks.py": TASKS,
}

# ported whole: pure code, and ORM calls with an async counterpart in the task body itself (aget, aexists ...)
SAFE = {"pure", "callable_ok", "deep_ok", "iterate_data", "objects", "default_manager", "custom_manager"}
PARTLY = {"related", "instance_save"}  # constructing a model runs in a segment; the manager call is awaited
BLOCKED = {  # task -> what the reason must say (for PARTLY: the first call that stays blocking)
    "related": "proj.models.Author() (Django ORM",
    "instance_save": "proj.models.Post() (Django ORM",
    "helper_one_deep": "proj.tasks.helper_one_deep → proj.helpers.titles → for ... in "
    "Post.objects.filter(title__startswith=x) (Django ORM",
    "helper_two_deep": "proj.tasks.helper_two_deep → proj.helpers.one_deep → proj.helpers.two_deep → "
    "for ... in Post.objects.filter(author_id=x) (Django ORM",
    "iterate_queryset": "proj.tasks.iterate_queryset → proj.helpers.iterate → for ... in qs (Django ORM",
    "callable_param": "proj.helpers.apply → requests.get() (HTTP client",
    "mail": "send_mail() (Django mail",
    "mail_message": "EmailMessage() (Django mail",
    "command": "call_command() (call_command",
    "sessions": "SessionStore.clear_expired() (Django sessions",
    "atomic": "transaction.atomic() (database transaction",
    "cached": "cache.get() (Django cache",
    "file_io": "proj.helpers.touch → open() (file / OS I/O",
    "os_io": "os.listdir() (file / OS I/O",
    "shell": "shutil.rmtree() (file / OS I/O",
    "proc": "subprocess.run() (subprocess",
    "http": "requests.get() (HTTP client",
    "urlopen": "urllib.request.urlopen() (HTTP client",
    "sock": "socket.create_connection() (socket",
    "lock": "proj.helpers.locked → LOCK (the module-level object proj.helpers.LOCK = threading.Lock()",
    "lazy_queryset": "proj.helpers.recent → RECENT (the module-level object proj.helpers.RECENT",
    "too_deep": "the depth limit",
    "dispatch": "pure.delay() (Celery",
    "sleep_in_helper": "time.sleep in a helper",
    "unknown_name": "x.foo()",
}


def _project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def prover(tmp_path_factory) -> Prover:
    return Prover(_project(tmp_path_factory.mktemp("proj"), PROJECT), max_depth=4)


@pytest.mark.parametrize("task", sorted(SAFE))
def test_proven_safe(prover: Prover, task: str) -> None:
    blocked = prover.check_task("proj.tasks", task, bind=False)
    assert blocked is None, blocked.reason()


@pytest.mark.parametrize("task", sorted(BLOCKED))
def test_blocking_is_assumed(prover: Prover, task: str) -> None:
    blocked = prover.check_task("proj.tasks", task, bind=False)
    assert blocked is not None, f"{task} was proven safe"
    reason = blocked.reason()
    assert reason.startswith(f"proj.tasks.{task}"), reason
    assert BLOCKED[task] in reason, reason


def test_rewrite_reports_every_task_and_ports_with_real_imports(tmp_path: Path) -> None:
    root = _project(tmp_path, PROJECT)
    result = compute_changes(root, Config(), mode="native")
    assert not result.blocking
    ported = {m.split()[1].rstrip(":") for m in result.messages if m.startswith("native proj.")}
    partly = {m.split()[1].rstrip(":") for m in result.messages if m.startswith("SM130 proj.")}
    bridged = {m.split()[1].rstrip(":") for m in result.messages if m.startswith("SM113 proj.")}
    assert ported == {f"proj.tasks.{t}" for t in SAFE}
    assert partly == {f"proj.tasks.{t}" for t in PARTLY}
    assert bridged == {f"proj.tasks.{t}" for t in set(BLOCKED) - PARTLY}
    summary = (
        f"native mode: {len(SAFE)} task(s) ported to async, {len(PARTLY)} partly ported (blocking segments "
        f"in the bridge's threads), {len(BLOCKED) - len(PARTLY)} kept in bridge mode"
    )
    assert summary in result.messages[-1]
    twins = next(c.new for c in result.changes if c.rel == "proj/tasks_saq.py")
    fn = next(n for n in ast.parse(twins).body if isinstance(n, ast.AsyncFunctionDef) and n.name == "pure")
    src = ast.unparse(fn)
    assert "_celery" not in src  # never through the Celery module's namespace
    # names the task module binds by ``from ... import`` are read from it (its copies, as the Celery function reads)
    assert "from proj.tasks import Bad, Counter, helpers, words" in src
    assert "await asyncio.sleep(0.01)" in src and "time.sleep(" not in src
    assert ast.get_docstring(fn).startswith("Pure computation")


def test_ported_module_is_lint_clean_and_formatter_stable(tmp_path: Path) -> None:
    root = _project(tmp_path, PROJECT)
    result = compute_changes(root, Config(), mode="native")
    assert apply_changes(root, result.changes) == []
    rel = "proj/tasks_saq.py"
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,W,F", "--line-length", "88", rel],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    for cmd in (["ruff", "format", "--isolated", "--check"], ["black", "--check", "-q"]):
        fmt = subprocess.run([sys.executable, "-m", *cmd, rel], cwd=root, capture_output=True, text=True)
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr


BOUND = '''from celery import shared_task


@shared_task(bind=True)
def info(self, x, y=2):
    """Report the request."""
    return {"sum": x + y,
              "retries": self.request.retries}  # a continuation line indented oddly


@shared_task
def gen(n):
    yield n


@shared_task
def star(n):
    return n + FROM_STAR
'''


def test_bound_port_keeps_its_docstring_first_and_refusals_name_the_construct(tmp_path: Path) -> None:
    root = _project(
        tmp_path, {"proj/__init__.py": "", "proj/celery.py": APP, "proj/b.py": "from os.path import *\n" + BOUND}
    )
    result = compute_changes(root, Config(), mode="native")
    twins = next(c.new for c in result.changes if c.rel == "proj/b_saq.py")
    fn = next(n for n in ast.parse(twins).body if isinstance(n, ast.AsyncFunctionDef) and n.name == "info")
    assert ast.get_docstring(fn) == "Report the request."
    assert ast.unparse(fn.body[1]) == "self = task_self(ctx)"
    assert '        "retries": self.request.retries,' in twins  # re-indented by the formatter
    reasons = {m.split()[1].rstrip(":"): m for m in result.messages if m.startswith("SM113")}
    assert "generator body" in reasons["proj.b.gen"]
    assert "FROM_STAR" in reasons["proj.b.star"]
