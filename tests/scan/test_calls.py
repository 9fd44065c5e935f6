from tests.scan.helpers import scan, write_tree

PROJECT = {
    "shop/__init__.py": "",
    "shop/tasks/__init__.py": "from .email import send_email  # re-export\n",
    "shop/tasks/email.py": """
        from celery import shared_task

        @shared_task
        def send_email(to, subject=""):
            pass
    """,
    "shop/views.py": """
        from functools import partial
        from django.db import transaction
        from celery import chain, group, chord, current_app
        from celery.result import AsyncResult
        from shop.tasks import send_email
        import shop.tasks.email as em
        from . import tasks
        from multiprocessing import Pool

        def view(request, kind):
            send_email.delay("a@b", subject="hi")
            em.send_email.apply_async(("a@b",), countdown=10, queue="mail", link=other.s())
            tasks.send_email.s("x") | tasks.send_email.si("y")
            chain(send_email.s(1), send_email.s(2))()
            group(send_email.s(i) for i in range(3))()
            transaction.on_commit(lambda: send_email.delay("later"))
            transaction.on_commit(partial(send_email.delay, "p"))
            current_app.send_task("shop.tasks.email.send_email", args=["z"])
            current_app.send_task(f"reports.{kind}")
            AsyncResult("abc").get()
            Pool().apply_async(print, ("not celery",))
            send_email.apply_async(args=["x"], task_id="fixed", retry_policy={"max_retries": 1})
    """,
}


def test_calls_resolved_across_modules(tmp_path):
    from tests.scan.helpers import write_tree

    write_tree(tmp_path, PROJECT)
    idx = scan(tmp_path)
    calls = [(c.kind, c.line, c.task) for c in idx.calls]
    T = "shop.tasks.email.send_email"
    assert ("delay", 11, T) in calls
    assert ("apply_async", 12, T) in calls
    assert ("pipe", 13, None) in calls and ("s", 13, T) in calls and ("si", 13, T) in calls
    assert ("chain", 14, None) in calls and ("group", 15, None) in calls
    on_commit = [c for c in idx.calls if c.on_commit]
    assert {c.line for c in on_commit} == {16, 17} and all(c.task == T for c in on_commit)
    sends = [c for c in idx.calls if c.kind == "send_task"]
    assert sends[0].task == T and sends[1].dynamic_name == 'f"reports.{kind}"'
    assert any(c.kind == "async_result" for c in idx.calls)
    assert not any(c.line == 21 for c in idx.calls), "multiprocessing Pool.apply_async is not a Celery dispatch"
    by_line = {c.line: c for c in idx.calls if c.kind == "apply_async"}
    assert "SM303" in by_line[12].rules and by_line[12].options["queue"] == "mail"
    assert {"SM305", "SM306"} <= set(by_line[22].rules)
    chain_call = [c for c in idx.calls if c.kind == "chain"][0]
    assert chain_call.migratability == "manual"


def test_self_retry_is_a_call_of_its_task(tmp_path):
    write_tree(
        tmp_path,
        {
            "t.py": """
        from celery import shared_task

        @shared_task(bind=True, max_retries=2)
        def flaky(self):
            try:
                pass
            except IOError as exc:
                raise self.retry(exc=exc, countdown=5)
    """
        },
    )
    idx = scan(tmp_path)
    (c,) = [c for c in idx.calls if c.kind == "retry"]
    assert c.task == "t.flaky" and c.options["countdown"] == 5 and c.line == 8
