from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions


@saq_job("orders.tasks.reports.nightly", TaskOptions(), queue="reports")
def nightly():
    return "nightly"


@saq_job("orders.tasks.reports.audit", TaskOptions(), queue="audit")
def audit():
    return "audit"
