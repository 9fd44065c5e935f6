from tests.scan.helpers import scan, tasks_by_name, write_tree

CELERY_APP = """
from celery import Celery
app = Celery("proj")
"""


def test_shared_task_and_app_task_names_follow_celery(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP,
            "proj/tasks.py": """
            from celery import shared_task
            from .celery import app

            @shared_task
            def plain(x, y=2):
                return x + y

            @app.task(name="custom.name", bind=True, max_retries=5)
            def bound(self, a, *, b):
                self.retry(countdown=1)

            @shared_task()
            async def coro():
                pass
        """,
        },
    )
    idx = scan(tmp_path)
    t = tasks_by_name(idx)
    assert set(t) == {"proj.tasks.plain", "custom.name", "proj.tasks.coro"}
    plain = t["proj.tasks.plain"]
    assert (plain.kind, plain.file, plain.line, plain.decorator_line) == ("shared_task", "proj/tasks.py", 5, 4)
    assert [(p.name, p.kind, p.has_default, p.default) for p in plain.params] == [
        ("x", "positional", False, None),
        ("y", "positional", True, 2),
    ]
    bound = t["custom.name"]
    assert bound.bind and bound.kind == "app_task" and bound.options["max_retries"] == 5
    assert [p.name for p in bound.params] == ["a", "b"]  # self dropped for bind=True
    assert bound.features["self_retry"] is True
    assert t["proj.tasks.coro"].is_async
    assert "SM105" in t["proj.tasks.coro"].rules


def test_aliases_registrations_and_cross_module_alias(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": CELERY_APP + "task = app.task(bind=True, max_retries=3)\n",
            "proj/utils.py": """
            from celery import shared_task
            shared_task_with_retry = shared_task(bind=True, autoretry_for=(Exception,))
        """,
            "proj/tasks.py": """
            from proj.celery import app, task
            from proj.utils import shared_task_with_retry

            @task
            def via_alias(self, x):
                return x

            @shared_task_with_retry
            def via_imported_alias(self):
                pass

            def plain_fn(q):
                return q

            plain_task = app.task(plain_fn)
            named = app.task(name="x.send")(plain_fn)
        """,
        },
    )
    t = tasks_by_name(scan(tmp_path))
    assert t["proj.tasks.via_alias"].bind and t["proj.tasks.via_alias"].options["max_retries"] == 3
    assert t["proj.tasks.via_alias"].kind == "alias"
    assert t["proj.tasks.via_imported_alias"].options["autoretry_for"] == ["Exception"]  # resolved: the builtin
    assert t["proj.tasks.plain_fn"].kind == "registration"
    assert t["x.send"].kind == "registration" and [p.name for p in t["x.send"].params] == ["q"]


def test_class_tasks_through_own_base_and_task_cls_options(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/base.py": """
            from celery import Task

            class BaseTask(Task):
                autoretry_for = (IOError,)
                max_retries = 7

                def on_failure(self, exc, task_id, args, kwargs, einfo):
                    pass

            class Middle(BaseTask):
                abstract = True

            class Concrete(Middle):
                name = "proj.concrete"

                def run(self, x):
                    return x
        """,
            "proj/celery.py": "from celery import Celery\napp = Celery('proj', task_cls='proj.base:BaseTask')\n",
            "proj/tasks.py": """
            from celery import shared_task

            @shared_task
            def inherits():
                pass
        """,
        },
    )
    t = tasks_by_name(scan(tmp_path))
    assert set(t) == {"proj.concrete", "proj.tasks.inherits"}  # BaseTask/Middle have no run: not tasks
    assert t["proj.concrete"].kind == "class" and [p.name for p in t["proj.concrete"].params] == ["x"]
    assert t["proj.concrete"].options["max_retries"] == 7
    assert t["proj.tasks.inherits"].inherited_options["max_retries"] == 7
    assert "on_failure" in t["proj.tasks.inherits"].hooks


def test_not_tasks_other_libraries_and_lookalikes(tmp_path):
    write_tree(
        tmp_path,
        {
            "other.py": """
            from huey import RedisHuey
            from taskiq import InMemoryBroker
            from airflow.decorators import task
            huey = RedisHuey()
            broker = InMemoryBroker()

            @huey.task()
            def h():
                pass

            @broker.task
            async def k():
                pass

            @task
            def a():
                pass

            def celery_like():
                pass
        """,
        },
    )
    assert scan(tmp_path).tasks == []


def test_nested_and_loop_tasks_are_flagged(tmp_path):
    write_tree(
        tmp_path,
        {
            "tasks.py": """
            from celery import shared_task, Celery
            app = Celery()

            def factory():
                @shared_task
                def inner():
                    pass
                return inner

            for name in ["a", "b"]:
                app.task(name=f"x.{name}")(print)
        """,
        },
    )
    idx = scan(tmp_path)
    inner = [t for t in idx.tasks if t.function == "inner"][0]
    assert inner.nested and "SM101" in inner.rules and inner.migratability == "manual"
    loop = [t for t in idx.tasks if t.in_loop][0]
    assert loop.name is None and {"SM102", "SM103"} <= set(loop.rules)


def test_blocking_calls_and_request_features(tmp_path):
    write_tree(
        tmp_path,
        {
            "tasks.py": """
            import time, requests
            from asgiref.sync import async_to_sync
            from celery import shared_task

            @shared_task(bind=True)
            def t(self, url):
                time.sleep(1)
                requests.get(url)
                async_to_sync(f)()
                self.update_state(state="PROGRESS", meta={"p": 1})
                return self.request.id, self.request.called_directly
        """,
        },
    )
    (task,) = scan(tmp_path).tasks
    assert set(task.features["blocking"]) == {"time.sleep", "requests", "async_to_sync"}
    assert task.features["request_attrs"] == ["called_directly", "id"]
    assert {"SM100", "SM104", "SM108"} <= set(task.rules)
