import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")

# Every @app.task in this project gets proj.base.BaseTask as its base class.
app = Celery("proj", task_cls="proj.base:BaseTask")
from proj.saq_worker.routing import install as _saqmigrate_install  # saqmigrate: dual routing
_saqmigrate_install(app)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
