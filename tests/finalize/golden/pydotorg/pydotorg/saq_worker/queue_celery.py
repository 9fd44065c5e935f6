"""SAQ worker settings for the queue 'celery'.

Start a worker: saq pydotorg.saq_worker.queue_celery.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize

from __future__ import annotations

from saq import CronJob
from saqmigrate.runtime.worker import cron_function, setup_django, worker_settings

# a Django project: configure it before the task modules import models
setup_django("pydotorg.settings.base")

from blogs import tasks as _t0  # noqa: E402
from cms import tasks as _t1  # noqa: E402
from downloads import tasks as _t2  # noqa: E402
from events import tasks as _t3  # noqa: E402
from jobs import tasks as _t4  # noqa: E402
from pydotorg import celery as _t5  # noqa: E402

# Registered under their Celery names: every dispatch and Celery-era name
# keeps working.
FUNCTIONS = [
    ("blogs.tasks.update_blog_feeds", _t0.update_blog_feeds.saq),
    ("cms.tasks.refresh_cache", _t1.refresh_cache.saq),
    ("downloads.tasks.update_download_boxes", _t2.update_download_boxes.saq),
    ("events.tasks.import_all_calendars", _t3.import_all_calendars.saq),
    ("events.tasks.import_events", _t3.import_events.saq),
    ("jobs.tasks.expire_jobs", _t4.expire_jobs.saq),
    ("jobs.tasks.send_job_email", _t4.send_job_email.saq),
    ("pydotorg.celery.debug_task", _t5.debug_task.saq),
]

# One CronJob per beat entry (each with its own unique key beat:<entry>); the cron
# strings are proven to fire at the same instants as Celery's schedule unless noted.
CRON_JOBS = [
    # expire-jobs-daily (pydotorg/settings/base.py): crontab(minute=15, hour=0)
    CronJob(
        cron_function(
            "expire-jobs-daily", _t4.expire_jobs.saq, cron_tz="UTC", shared=False
        ),
        cron="15 0 * * *",
        retries=1,
        timeout=3600,
        ttl=86400,
    ),
    # import-events-nightly (pydotorg/settings/base.py): crontab(minute=0, hour=3)
    CronJob(
        cron_function(
            "import-events-nightly",
            _t3.import_all_calendars.saq,
            cron_tz="UTC",
            shared=False,
        ),
        cron="0 3 * * *",
        retries=6,
        timeout=3600,
        ttl=86400,
    ),
    # refresh-homepage-cache (pydotorg/settings/base.py): timedelta(seconds=300)
    CronJob(
        cron_function(
            "refresh-homepage-cache",
            _t1.refresh_cache.saq,
            {"key": "homepage", "timeout": 300},
            cron_tz="UTC",
            shared=False,
        ),
        cron="*/5 * * * *",
        retries=1,
        timeout=3600,
        ttl=86400,
    ),
    # update-blog-feeds (pydotorg/settings/base.py): timedelta(seconds=1800)
    CronJob(
        cron_function(
            "update-blog-feeds", _t0.update_blog_feeds.saq, cron_tz="UTC", shared=False
        ),
        cron="*/30 * * * *",
        retries=1,
        timeout=120,
        ttl=-1,
    ),
    # update-boxes (pydotorg/settings/base.py): crontab(hour='*/6')
    CronJob(
        cron_function(
            "update-boxes", _t2.update_download_boxes.saq, cron_tz="UTC", shared=False
        ),
        cron="* */6 * * *",
        retries=1,
        timeout=3600,
        ttl=86400,
    ),
]

settings = worker_settings(
    "celery",
    FUNCTIONS,
    CRON_JOBS,
    cron_tz="UTC",
)
