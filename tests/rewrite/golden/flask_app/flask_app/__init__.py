from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask


def celery_init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    from flask_app.saq_worker import routing as _saqmigrate_routing

    _saqmigrate_routing.install(celery_app)
    return celery_app


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(
        GREETING="Hello",
        CELERY=dict(
            broker_url="redis://localhost:6379/0",
            result_backend="redis://localhost:6379/0",
            task_ignore_result=True,
        ),
    )
    app.config.from_prefixed_env()
    celery_app = celery_init_app(app)
    celery_app.conf.beat_schedule = {
        "add-every-minute": {
            "task": "flask_app.tasks.add",
            "schedule": 60.0,
            "args": (2, 3),
        },
        "greet-hourly": {
            "task": "flask_app.tasks.greet",
            "schedule": crontab(minute=0),
            "args": ("team",),
        },
        "nightly-process": {
            "task": "flask_app.tasks.process",
            "schedule": crontab(minute=0, hour=1),
            "kwargs": {"total": 20},
        },
    }

    from . import views

    app.register_blueprint(views.bp)
    return app
