from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions


@saq_job("shop.reports.tasks.nightly_report", TaskOptions(), queue="celery")
def nightly_report():
    return "report"


@saq_job("shop.reports.tasks.cleanup", TaskOptions(ttl=-1), queue="celery")
def cleanup():
    return 0


@saq_job("shop.reports.tasks.sync_stock", TaskOptions(), queue="celery")
def sync_stock():
    return "synced"
