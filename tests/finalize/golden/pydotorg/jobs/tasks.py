import datetime as dt

from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

from core.effects import record

from .helpers import expired, send_mail


@saq_job("jobs.tasks.expire_jobs", TaskOptions(), queue="celery")
def expire_jobs(postings=None, today=None):
    """Mark job postings older than the expiry window as expired."""
    today = dt.date.fromisoformat(today) if today else None
    rows = [{"id": p["id"], "posted": dt.date.fromisoformat(p["posted"])} for p in postings or []]
    ids = [p["id"] for p in expired(rows, today=today)]
    record("jobs.expire_jobs", expired=ids)
    return ids


@saq_job("jobs.tasks.send_job_email", TaskOptions(rate_limit="30/m"), queue="celery")
def send_job_email(job_id, template="jobs/submitted.txt"):
    return send_mail(
        to="jobs@python.org",
        subject=f"Job #{job_id} submitted",
        body=f"{template}:{job_id}",
    )
