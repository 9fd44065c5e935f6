"""SAQ worker settings for the queue 'mail'.

Start a worker: saq shop.saq_worker.queue_mail.settings

Written by saqmigrate finalize: this file is the project's own now.
"""

# Written by saqmigrate finalize

from __future__ import annotations

from saqmigrate.runtime.worker import setup_django, worker_settings

# a Django project: configure it before the task modules import models
setup_django("shop.settings")

from orders import tasks as _t0  # noqa: E402

# Registered under their Celery names: every dispatch and Celery-era name
# keeps working.
FUNCTIONS = [
    ("orders.tasks.send_receipt", _t0.send_receipt.saq),
]

settings = worker_settings(
    "mail",
    FUNCTIONS,
    cron_tz="UTC",
)
