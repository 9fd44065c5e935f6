"""install(app) puts the router in front of the app's own task class instead of replacing it:
Django's DjangoTask (delay_on_commit), a task_cls=, and Flask's ContextTask keep working."""

from __future__ import annotations

from celery import Celery

from saqmigrate.runtime.celery_integration import RoutedTask, install_routed_task_class


def _names(task) -> list[str]:
    task = task._get_current_object() if hasattr(task, "_get_current_object") else task  # a PromiseProxy
    return [c.__name__ for c in type(task).__mro__]


def test_django_default_task_class_is_kept(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "nowhere.settings")
    app = Celery("djp", set_as_current=False)
    install_routed_task_class(app)

    @app.task
    def f(x):
        return x

    assert isinstance(f, RoutedTask) and "DjangoTask" in _names(f)
    assert hasattr(f, "delay_on_commit")  # what DjangoTask adds survives
    assert _names(f).index("RoutedTask") < _names(f).index("DjangoTask")  # the router decides first


def test_task_cls_and_flask_context_task_are_kept() -> None:
    class Audited(RoutedTask.__mro__[1]):  # a project's own celery.Task subclass
        audited = True

    app = Celery("own", task_cls=Audited, set_as_current=False)
    install_routed_task_class(app)
    install_routed_task_class(app)  # idempotent

    class ContextTask(app.Task):  # Flask's documented pattern, written after install(app)
        def __call__(self, *args, **kwargs):
            return ("in context", self.run(*args, **kwargs))

    app.Task = ContextTask

    @app.task
    def g(x):
        return x

    assert isinstance(g, RoutedTask) and g.audited is True
    assert g(2) == ("in context", 2)
    assert _names(g).count("RoutedTask") == 1


def test_a_task_class_built_before_install_is_still_routed_for_later_tasks(caplog) -> None:
    app = Celery("late", set_as_current=False)

    @app.task
    def early():
        return 0

    _ = app.Task  # built (and a task bound) before install
    install_routed_task_class(app)

    @app.task
    def h():
        return 1

    assert isinstance(h, RoutedTask)
    assert "built its Task class before install" in caplog.text


def test_flask_factory_pattern_context_task_assigned_before_install(caplog) -> None:
    """make_celery(app): `class ContextTask(celery.Task)`, `celery.Task = ContextTask`, then the generated
    install(celery) right before `return celery`: later tasks run through ContextTask and the router."""
    app = Celery("factory", set_as_current=False)

    class ContextTask(app.Task):
        def __call__(self, *args, **kwargs):
            return ("ctx", self.run(*args, **kwargs))

    app.Task = ContextTask
    install_routed_task_class(app)

    @app.task
    def k(x):
        return x

    assert isinstance(k, RoutedTask) and k(3) == ("ctx", 3)
    assert "before install" not in caplog.text  # nothing was bound yet: nothing to warn about
