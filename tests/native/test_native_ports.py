"""Native mode's real ports (transform/blocking.py plan_task, transform/native.py): Django's async ORM in the
task body, requests -> httpx where exact, and sync_to_async segments around what stays blocking. Each case is
one task; the plan's verdict and reason are checked, then the code the rewrite writes."""

from __future__ import annotations

import ast
import asyncio
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from saqmigrate.config import Config
from saqmigrate.rewrite import apply_changes, compute_changes
from saqmigrate.transform.blocking import Prover

APP = 'from celery import Celery\n\napp = Celery("proj")\n'
MODELS = """from django.db import models

from .fields import Secret
from thirdparty.models import TimeStamped


class Published(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(published=True)


class Clever(models.Manager):
    def get_queryset(self):
        log_access()
        return super().get_queryset()


def log_access():
    return None


class Author(models.Model):
    name = models.CharField(max_length=10)
    objects = models.Manager()
    clever = Clever()


class Post(models.Model):
    title = models.CharField(max_length=10)
    stock = models.IntegerField(default=0)
    published = models.BooleanField(default=True)
    secret = Secret()
    author = models.ForeignKey(Author, related_name="posts", on_delete=models.CASCADE)
    tags = models.ManyToManyField("Tag")

    objects = models.Manager()
    live = Published()


class Tag(models.Model):
    label = models.SlugField()


class Stamped(TimeStamped):
    note = models.TextField()
"""
FIELDS = """from django.db import models


class Secret(models.TextField):
    def get_prep_value(self, value):
        return value
"""
HELPERS = """from .models import Post


def published():
    return Post.objects.filter(published=True)


def maybe(flag):
    return Post.objects.all() if flag else []
"""
TASKS = """import time

import requests
from celery import shared_task
from django.core.mail import send_mail
from django.db import transaction

from . import helpers
from .models import Author, Post, Stamped


@shared_task
def count_all():
    return Post.objects.count()


@shared_task
def first_title(prefix):
    p = Post.objects.filter(title__startswith=prefix).order_by("title").first()
    return p.title if p else None


@shared_task
def create(title, author_id):
    p = Post.objects.create(title=title, author_id=author_id)
    return [p.pk, p.title]


@shared_task
def rename(pk, title):
    post = Post.live.get(pk=pk)
    post.title = title
    post.stock += 1
    post.save()
    return post.title


@shared_task
def titles(author_id):
    out = []
    for p in Post.objects.filter(author_id=author_id):
        out.append(p.title)
    return out


@shared_task
def related_titles(author_id):
    return sorted(p.title for p in []) + [p.title for p in Author.objects.get(pk=author_id).posts.all()]


@shared_task
def flat_titles():
    return list(Post.objects.values_list("title", flat=True))


@shared_task
def bump(pk):
    return Post.objects.filter(pk=pk, author__name__startswith="A").update(stock=3)


@shared_task
def drop(pk):
    Post.objects.filter(pk=pk).delete()


@shared_task
def ensure(title):
    obj, created = Post.objects.get_or_create(title=title, defaults={"author_id": 1})
    return [obj.pk, created]


@shared_task
def tag_it(pk, tag_id):
    post = Post.objects.get(pk=pk)
    post.tags.add(tag_id)
    return post.tags.count()


@shared_task
def from_helper():
    return [p.title for p in helpers.published()]


@shared_task
def nap_and_count(seconds):
    time.sleep(seconds)
    return Post.objects.count()


@shared_task
def mail_after_get(pk, to):
    post = Post.objects.get(pk=pk)
    send_mail("New", post.title, "shop@example.com", [to])
    return post.title


@shared_task
def atomic_then_count(pk):
    with transaction.atomic():
        p = Post.objects.select_for_update().get(pk=pk)
        p.stock -= 1
        p.save()
    return [p.stock, Post.objects.count()]


@shared_task
def returns_early(pk, to):
    n = Post.objects.filter(pk=pk).count()
    if n:
        return send_mail("s", "b", "f@x", [to])
    return n


@shared_task
def in_loop(to):
    sent = 0
    for p in Post.objects.filter(published=True):
        send_mail("s", p.title, "f@x", [to])
        sent += 1
    return sent


@shared_task
def fk_read(pk):
    return Post.objects.get(pk=pk).author.name


@shared_task
def str_instance(pk):
    return str(Post.objects.get(pk=pk))


@shared_task
def len_queryset():
    return len(Post.objects.all())


@shared_task
def bool_queryset():
    qs = Post.objects.all()
    if qs:
        return 1
    return 0


@shared_task
def deferred(pk):
    return Post.objects.only("id").get(pk=pk).title


@shared_task
def in_genexp():
    return sum(p.stock for p in Post.objects.all())


@shared_task
def indexed():
    return Post.objects.all()[0].title


@shared_task
def custom_field_lookup():
    return Post.objects.filter(secret="x").count()


@shared_task
def unproven_manager():
    return Author.clever.count()


@shared_task
def third_party_base():
    return Stamped.objects.count()


@shared_task
def sometimes_queryset(flag):
    return [p.title for p in helpers.maybe(flag)]


@shared_task
def helper_iterates():
    return [p.title for p in helpers.published()[:1]] + [len(helpers.published())]


@shared_task
def construct_then_save(title):
    p = Post(title=title, author_id=1)
    p.save()
    return p.title


@shared_task
def ping(url):
    r = requests.get(url, timeout=5)
    return [r.status_code, r.headers.get("content-type"), len(r.content)]


@shared_task
def hook(url):
    requests.post(url, json={"event": "done"}, headers={"X-Token": "t"})


@shared_task
def ping_text(url):
    r = requests.get(url, timeout=5)
    return r.text


@shared_task
def ping_params(url):
    r = requests.get(url, params={"q": None})
    return r.status_code


@shared_task
def ping_in_try(url):
    try:
        r = requests.get(url)
    except requests.RequestException:
        return None
    return r.status_code


@shared_task(autoretry_for=(requests.RequestException,))
def ping_retry(url):
    r = requests.get(url)
    return r.status_code
"""
PROJECT = {
    "proj/__init__.py": "",
    "proj/celery.py": APP,
    "proj/models.py": MODELS,
    "proj/fields.py": FIELDS,
    "proj/helpers.py": HELPERS,
    "proj/tasks.py": TASKS,
    "requirements.txt": "django>=4.2\nhttpx\n",
}

PORTED = {  # task -> the rewrites the report names
    "count_all": "count() -> await acount() x1",
    "first_title": "first() -> await afirst() x1",
    "create": "create() -> await acreate() x1",
    "rename": "get() -> await aget() x1, save() -> await asave() x1",
    "titles": "for over a queryset -> async for x1",
    "related_titles": "comprehension over a queryset -> async for x1, get() -> await aget() x1",
    "flat_titles": "list(queryset) -> [row async for row in queryset] x1",
    "bump": "update() -> await aupdate() x1",
    "drop": "delete() -> await adelete() x1",
    "ensure": "get_or_create() -> await aget_or_create() x1",
    "tag_it": "get() -> await aget() x1, add() -> await aadd() x1, count() -> await acount() x1",
    "from_helper": "comprehension over a queryset -> async for x1",
    "nap_and_count": "time.sleep -> await asyncio.sleep x1, count() -> await acount() x1",
    "ping": "requests.get -> httpx.AsyncClient x1",
    "hook": "requests.post -> httpx.AsyncClient x1",
}
PARTLY = {  # task -> (segments, the first call that stays blocking)
    "mail_after_get": (1, "django.core.mail.send_mail() (Django mail"),
    "atomic_then_count": (1, "django.db.transaction.atomic() (database transaction"),
    "returns_early": (1, "django.core.mail.send_mail() (Django mail"),
    "in_loop": (1, "django.core.mail.send_mail() (Django mail"),
    "construct_then_save": (1, "proj.models.Post() (Django ORM"),
}
BRIDGED = {  # task -> what the reason says
    "fk_read": "Post.author is a relation",
    "str_instance": "a model instance used where Django may query",
    "len_queryset": "a queryset used where it may be evaluated",
    "bool_queryset": "a queryset used where it may be evaluated",
    "deferred": "may be deferred (only()/defer())",
    "in_genexp": "iterating a queryset runs a query",
    "indexed": "indexing a queryset runs a query",
    "custom_field_lookup": "the lookup secret is not on a field class of Django's",
    "unproven_manager": "Clever.get_queryset() does more than narrow super().get_queryset()",
    "third_party_base": "Stamped derives from thirdparty.models.TimeStamped",
    "sometimes_queryset": "proj.helpers.maybe → Post.objects.all() (a queryset used where it may be evaluated",
    "helper_iterates": "a queryset used where it may be evaluated",
    "ping_text": "requests.get() (HTTP client (sync); not ported to httpx: its response is read by blocking code",
    "ping_params": "params= has no exact httpx equivalent",
    "ping_in_try": "inside try: httpx raises other exception classes",
    "ping_retry": "autoretry_for=requests.RequestException",
}


def _project(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def prover(tmp_path_factory) -> Prover:
    return Prover(_project(tmp_path_factory.mktemp("proj"), PROJECT), http_client=True)


RETRY = {"ping_retry": ("requests.RequestException",)}


@pytest.mark.parametrize("task", sorted(PORTED))
def test_ported_whole(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.tasks", task, bind=False, retry_on=RETRY.get(task, ()))
    assert plan.verdict == "ported", plan.reason()
    assert plan.summary() == PORTED[task]


@pytest.mark.parametrize("task", sorted(PARTLY))
def test_ported_partly(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.tasks", task, bind=False)
    segments, reason = PARTLY[task]
    assert plan.verdict == "partly", plan.reason()
    assert plan.segments == segments
    assert reason in plan.blocked.reason()


@pytest.mark.parametrize("task", sorted(BRIDGED))
def test_bridged(prover: Prover, task: str) -> None:
    plan = prover.plan_task("proj.tasks", task, bind=False, retry_on=RETRY.get(task, ()))
    assert plan.verdict == "bridged", plan.summary()
    assert BRIDGED[task] in plan.reason(), plan.reason()


def test_a_segment_is_refused_without_asgiref(tmp_path: Path) -> None:
    prover = Prover(_project(tmp_path, PROJECT), segments=False)
    plan = prover.plan_task("proj.tasks", "mail_after_get", bind=False)
    assert plan.verdict == "bridged" and "needs asgiref" in plan.reason()


def test_requests_stays_blocking_without_httpx(tmp_path: Path) -> None:
    prover = Prover(_project(tmp_path, PROJECT), http_client=False)
    plan = prover.plan_task("proj.tasks", "ping", bind=False)
    assert plan.verdict == "bridged" and "the project does not declare httpx" in plan.reason()


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> tuple[Path, str, list[str]]:
    root = _project(tmp_path_factory.mktemp("rewrite"), PROJECT)
    result = compute_changes(root, Config(), mode="native")
    assert not result.blocking, result.errors
    assert apply_changes(root, result.changes) == []
    return root, (root / "proj/tasks_saq.py").read_text(), result.messages


def _fn(code: str, name: str) -> str:
    fn = next(n for n in ast.parse(code).body if isinstance(n, ast.AsyncFunctionDef) and n.name == name)
    return ast.unparse(fn)


def test_the_rewrite_reports_each_verdict(twins) -> None:
    _, _, messages = twins
    ported = {m.split()[1].rstrip(":").removeprefix("proj.tasks.") for m in messages if m.startswith("native proj")}
    partly = {m.split()[1].rstrip(":").removeprefix("proj.tasks.") for m in messages if m.startswith("SM130 proj")}
    bridged = {m.split()[1].rstrip(":").removeprefix("proj.tasks.") for m in messages if m.startswith("SM113 proj")}
    assert ported == set(PORTED) and partly == set(PARTLY) and bridged == set(BRIDGED)
    line = next(m for m in messages if m.startswith("SM130 proj.tasks.mail_after_get"))
    assert (
        "1 blocking segment(s) in the bridge's threads; get() -> await aget() x1; first blocking call: "
        "proj.tasks.mail_after_get → django.core.mail.send_mail()" in line
    )


def test_orm_ports_are_written_with_the_async_methods(twins) -> None:
    _, code, _ = twins
    assert "return (await Post.live.aget(pk=pk)).title" not in code  # a statement per rewrite, as written
    assert "post = await Post.live.aget(pk=pk)" in _fn(code, "rename")
    assert "await post.asave()" in _fn(code, "rename")
    assert "async for p in Post.objects.filter(author_id=author_id)" in _fn(code, "titles")
    assert "[p.title async for p in (await Author.objects.aget(pk=author_id)).posts.all()]" in _fn(
        code, "related_titles"
    )
    assert "[_row async for _row in Post.objects.values_list('title', flat=True)]" in _fn(code, "flat_titles")
    assert "obj, created = await Post.objects.aget_or_create(" in _fn(code, "ensure")
    assert "await post.tags.aadd(tag_id)" in _fn(code, "tag_it")
    assert "await _aio.sleep(seconds)" in _fn(code, "nap_and_count")  # computed: checked like time.sleep


def test_segments_keep_order_and_share_variables(twins) -> None:
    _, code, _ = twins
    src = _fn(code, "atomic_then_count")
    assert "p: object" in src and "nonlocal p" in src
    assert (
        src.index("with transaction.atomic():")
        < src.index("await _aio.run_segment(_blocking_1)")
        < src.index("return [p.stock, await Post.objects.acount()]")
    )
    early = _fn(code, "returns_early")  # a segment that returns runs to the end of the body
    assert (
        "return await _aio.run_segment(_blocking_1)" in early
        and "n = await Post.objects.filter(pk=pk).acount()" in early
    )
    loop = _fn(code, "in_loop")  # one segment per iteration, inside the async for; the counter stays on the loop
    assert "async for p in Post.objects.filter(published=True):" in loop and "nonlocal" not in loop
    assert (
        loop.index("send_mail('s', p.title, 'f@x', [to])")
        < loop.index("await _aio.run_segment(_blocking_1)")
        < loop.index("sent += 1")
    )


def test_http_ports_match_requests_defaults(twins) -> None:
    _, code, _ = twins
    ping = _fn(code, "ping")
    assert (
        "async with await asyncio.to_thread(_httpx.AsyncClient, headers={'User-Agent': "
        "_requests.utils.default_user_agent()}, follow_redirects=True, max_redirects=30, timeout=5) as "
        "_http_client:" in ping
    )  # built in a thread: its SSL context loads the CA bundle
    assert "r = await _http_client.get(_requests.Request('GET', url).prepare().url)" in ping
    hook = _fn(code, "hook")
    assert "timeout=None" in hook  # requests waits forever; httpx's default is 5 s
    assert "content=_requests.compat.json.dumps({'event': 'done'}, allow_nan=False).encode('utf-8')" in hook
    assert "headers={'X-Token': 't', 'Content-Type': 'application/json'}" in hook


def test_http_imports_happen_when_the_worker_starts(twins) -> None:
    _, code, _ = twins
    head = code[: code.index("@saq_task")]
    for line in (
        "import httpx as _httpx",
        "import requests as _requests",
        "import httpcore  # noqa",
        "import anyio._backends._asyncio  # noqa",
    ):
        assert line in head
    assert "import httpx" not in _fn(code, "ping")


def test_generated_module_is_lint_clean_and_formatter_stable(twins) -> None:
    root, _, _ = twins
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


FILES = '''import json
import time

from celery import shared_task


@shared_task
def journal(path, entries, pause):
    """A file written in a segment, a sleep on the loop, names flowing both ways."""
    count = len(entries)
    with open(path, "a", encoding="utf-8") as fh:
        for e in entries:
            fh.write(json.dumps(e) + "\\n")
        size = fh.tell()
    time.sleep(pause)
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    return {"count": count, "size": size, "lines": len(lines), "first": json.loads(lines[0])}
'''


def test_a_partly_ported_body_runs_like_the_celery_function(tmp_path: Path) -> None:
    """The generated port is run: segments in the bridge's threads, the sleep on the loop, same result and file."""
    root = _project(
        tmp_path / "p",
        {
            "filesproj/__init__.py": "",
            "filesproj/celery.py": APP.replace("proj", "fp"),
            "filesproj/files.py": FILES,
            "requirements.txt": "asgiref\n",
        },
    )
    result = compute_changes(root, Config(), mode="native")
    assert any(
        m.startswith("SM130 filesproj.files.journal: partly ported (2 blocking segment(s)") for m in result.messages
    ), result.messages
    assert apply_changes(root, result.changes) == []
    sys.path.insert(0, str(root))
    try:
        celery_fn = importlib.import_module("filesproj.files").journal
        saq_fn = importlib.import_module("filesproj.files_saq").journal
        expected = celery_fn(path=str(tmp_path / "a.txt"), entries=[{"a": 1}, {"b": 2}], pause=0.01)
        got = asyncio.run(
            saq_fn.__wrapped__({}, path=str(tmp_path / "b.txt"), entries=[{"a": 1}, {"b": 2}], pause=0.01)
            if hasattr(saq_fn, "__wrapped__")
            else saq_fn({}, path=str(tmp_path / "b.txt"), entries=[{"a": 1}, {"b": 2}], pause=0.01)
        )
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("filesproj")]:
            del sys.modules[name]
    assert got == expected
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()


MANUAL = """from celery import shared_task
from django.db import connection, transaction

from .models import Post


@shared_task
def by_hand(pk):
    transaction.set_autocommit(False)
    n = Post.objects.count()
    Post.objects.filter(pk=pk).update(stock=n)
    transaction.commit()


@shared_task
def cursor(pk):
    n = Post.objects.count()
    with connection.cursor() as c:
        c.execute("select 1")
    return n


@shared_task
def local_import(pk):
    from django.db import transaction as tx

    n = Post.objects.count()
    sp = tx.savepoint()
    return [n, sp]
"""


@pytest.mark.parametrize("task", ["by_hand", "cursor", "local_import"])
def test_a_body_driving_the_connection_stays_bridged(tmp_path: Path, task: str) -> None:
    """Split into segments, the body's statements would run on the connections of different threads (and the
    async ORM's on asgiref's): a transaction or session state opened by hand would not reach the next one."""
    prover = Prover(_project(tmp_path, {**PROJECT, "proj/manual.py": MANUAL}))
    plan = prover.plan_task("proj.manual", task, bind=False)
    assert plan.verdict == "bridged" and "manages the database connection or a transaction by hand" in plan.reason()


OVERRIDES = """from celery import shared_task
from django.db import models
from django.contrib.auth.models import AbstractUser


class SoftQuerySet(models.QuerySet):
    def delete(self):
        return self.update(gone=True)


class CleverQuerySet(models.QuerySet):
    def filter(self, *args, **kwargs):
        return super().filter(*args, **kwargs)


class Soft(models.Manager):
    def get_queryset(self):
        return SoftQuerySet(self.model, using=self._db).filter(gone=False)


class Note(models.Model):
    text = models.TextField()
    gone = models.BooleanField(default=False)
    objects = Soft()
    clever = CleverQuerySet.as_manager()
    plain = SoftQuerySet.as_manager()

    def save(self):
        super().save()


class Member(AbstractUser):
    nickname = models.CharField(max_length=10)


@shared_task
def soft_delete(pk):
    return Note.objects.filter(pk=pk).delete()


@shared_task
def clever():
    return Note.clever.count()


@shared_task
def as_manager():
    return Note.plain.count()


@shared_task
def narrow_save(pk):
    note = Note.objects.get(pk=pk)
    note.save()


@shared_task
def member_email(pk):
    return Member.objects.get(pk=pk).email
"""


@pytest.mark.parametrize(
    "task,verdict,why",
    [
        ("soft_delete", "ported", "delete() -> await adelete() x1"),  # adelete calls the override, in the thread
        ("clever", "bridged", "the queryset class CleverQuerySet defines filter()"),
        ("as_manager", "ported", "count() -> await acount() x1"),
        ("narrow_save", "partly", "Note.save() is overridden without the keywords Model.asave() passes it"),
        ("member_email", "ported", "get() -> await aget() x1"),  # AbstractUser's fields and UserManager are known
    ],
)
def test_custom_querysets_overrides_and_django_user_bases(tmp_path: Path, task: str, verdict: str, why: str) -> None:
    prover = Prover(_project(tmp_path, {**PROJECT, "proj/notes.py": OVERRIDES}))
    plan = prover.plan_task("proj.notes", task, bind=False)
    assert plan.verdict == verdict, plan.reason()
    assert why in (plan.summary() if verdict == "ported" else plan.reason())


FILLED = """from celery import shared_task

from .models import Post


@shared_task
def fill_dict(pk):
    n = Post.objects.count()
    found = {}
    found["post"] = Post.objects.get(pk=pk)
    return [n, found["post"].author.name]


@shared_task
def fill_list(author_id):
    posts = []
    for p in Post.objects.filter(author_id=author_id):
        posts.append(p)
    return [p.author.name for p in posts]


@shared_task
def read_only(pk):
    n = Post.objects.count()
    label = f"post {pk}"
    print(Post.objects.get(pk=pk).author.name, label)
    return [n, label.upper()]
"""


@pytest.mark.parametrize("task,loop_after", [("fill_dict", False), ("fill_list", False), ("read_only", True)])
def test_a_container_a_segment_may_fill_is_not_read_on_the_loop(tmp_path: Path, task: str, loop_after: bool) -> None:
    """found["post"] = <instance> in a segment: found was built as {} but may now hold a model instance, whose
    relation read on the loop would be a query. Only containers a segment may store into are tainted."""
    prover = Prover(_project(tmp_path, {**PROJECT, "proj/filled.py": FILLED}))
    plan = prover.plan_task("proj.filled", task, bind=False)
    assert plan.verdict == "partly", plan.reason()
    assert (plan.units[-1].kind == "loop") is loop_after, [u.kind for u in plan.units]


WRITER = """import time

from celery import shared_task
from django.core.mail import send_mail

from .models import Post
from .limits import PAUSE

DEFAULT = 7


@shared_task
def sleep_computed(delay):
    time.sleep(delay)
    return "slept"


@shared_task
def sleep_literal():
    time.sleep(0.01)
    time.sleep(1e20)
    return "slept"


@shared_task
def handler_segment(pk, to):
    log = []
    try:
        log.append(Post.objects.filter(pk=pk).count())
        raise ValueError("x")
    except ValueError as exc:
        send_mail("s", "caught " + str(exc), "f@x", [to])
        log.append("caught " + str(exc))
    return log


@shared_task
def default_constant(x=DEFAULT, pause=PAUSE):
    time.sleep(pause)
    return x
"""


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, str, list[str]]:
    root = _project(
        tmp_path_factory.mktemp("writer"), {**PROJECT, "proj/writer.py": WRITER, "proj/limits.py": "PAUSE = 0.01\n"}
    )
    result = compute_changes(root, Config(), mode="native")
    assert not result.blocking, result.errors
    assert apply_changes(root, result.changes) == []
    return root, (root / "proj/writer_saq.py").read_text(), result.messages


def test_time_sleep_keeps_asyncio_sleep_only_for_literals_it_accepts(written) -> None:
    """Attack 13b #9: time.sleep(1e20), inf, nan, a negative value raise at once under Celery; a computed
    delay goes through saqmigrate.runtime.aio.sleep, which raises the same (tests/native/test_native_aio.py)."""
    _, code, messages = written
    assert any(m.startswith("native proj.writer.sleep_computed: ported") for m in messages), messages
    assert "await _aio.sleep(delay)" in _fn(code, "sleep_computed")
    literal = _fn(code, "sleep_literal")
    assert "await asyncio.sleep(0.01)" in literal and "await _aio.sleep(1e+20)" in literal.replace("1e20", "1e+20")
    assert "from saqmigrate.runtime import aio as _aio" in code[: code.index("@saq_task")]


def test_a_segment_in_an_except_handler_gets_the_exception_as_a_default(written) -> None:
    """Attack 13b #11: ruff F821/F841 on ``except E as exc`` whose handler is a segment reading exc."""
    _, code, messages = written
    assert any(m.startswith("SM130 proj.writer.handler_segment: partly ported") for m in messages), messages
    assert "def _blocking_1(exc=exc):" in _fn(code, "handler_segment")


def test_a_default_value_is_imported_from_its_module(written) -> None:
    """Attack 13b #12: ``x=DEFAULT`` was written ``x=_celery.DEFAULT``, through the Celery module."""
    _, code, _ = written
    assert "async def default_constant(ctx, *, x=DEFAULT, pause=PAUSE):" in code
    head = code[: code.index("@saq_task")]
    assert "from proj.writer import DEFAULT" in head and "from proj.limits import PAUSE" in head
    assert "_celery" not in code


def test_the_written_module_is_lint_clean_and_runs_like_celery(written) -> None:
    root, _, _ = written
    lint = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "E,W,F",
            "--line-length",
            "88",
            "proj/writer_saq.py",
        ],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    for cmd in (["ruff", "format", "--isolated", "--check"], ["black", "--check", "-q"]):
        fmt = subprocess.run(
            [sys.executable, "-m", *cmd, "proj/writer_saq.py"], cwd=root, capture_output=True, text=True
        )
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr
