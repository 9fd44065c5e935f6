"""Celery application for python.org background jobs."""

import os

from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

from core.effects import record

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pydotorg.settings.base")


@saq_job("pydotorg.celery.debug_task", TaskOptions(ttl=-1), queue="celery", bind=True)
def debug_task(self):
    record("pydotorg.debug_task", request_id=self.request.id)
    return "ok"
