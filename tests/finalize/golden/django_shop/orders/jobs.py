from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions


@saq_job(
    "orders.jobs.cleanup",
    TaskOptions(
        retries=3,
        max_retries=2,
        autoretry_for=("requests.exceptions.ConnectionError",),
        module="orders.jobs",
    ),
    queue="default",
)
def cleanup(days=30):
    return f"cleanup {days}"
