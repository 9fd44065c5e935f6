from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

from .helpers import rebuild


@saq_job("cms.tasks.refresh_cache", TaskOptions(), queue="celery")
def refresh_cache(key, timeout=300):
    return rebuild(key, timeout)
