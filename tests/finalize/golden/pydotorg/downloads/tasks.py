# tasks.py
from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

from .services import ReleaseService


@saq_job("downloads.tasks.update_download_boxes", TaskOptions(), queue="celery")
def update_download_boxes():
    service = ReleaseService()
    service.update_boxes()
