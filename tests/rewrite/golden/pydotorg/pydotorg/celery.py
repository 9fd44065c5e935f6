"""Celery application for python.org background jobs."""

import os

from celery import Celery

from core.effects import record

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pydotorg.settings.base")

app = Celery("pydotorg")
from pydotorg.saq_worker import routing as _saqmigrate_routing  # noqa: E402

_saqmigrate_routing.install(app)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(bind=True, ignore_result=True)
def debug_task(self):
    record("pydotorg.debug_task", request_id=self.request.id)
    return "ok"
