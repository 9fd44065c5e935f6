import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

# Every @app.task in this project gets proj.base.BaseTask as its base class.
app = Celery("proj", task_cls="proj.base:BaseTask")
from proj.saq_worker import routing as _saqmigrate_routing  # noqa: E402

_saqmigrate_routing.install(app)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
