import logging

from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

from .helpers import CALENDARS, FeedUnavailable, import_calendar

logger = logging.getLogger(__name__)


@saq_job(
    "events.tasks.import_events",
    TaskOptions(retries=4, retry_delay=60, default_retry_delay=60),
    queue="celery",
    bind=True,
)
def import_events(self, calendar_id, ics_text=None):
    """Import one calendar; retry with a growing delay when the feed is down."""
    try:
        return import_calendar(calendar_id, text=ics_text)
    except FeedUnavailable as exc:
        logger.warning("calendar %s unavailable, retry %s", calendar_id, self.request.retries)
        raise self.retry(exc=exc, countdown=2 ** self.request.retries)


@saq_job(
    "events.tasks.import_all_calendars",
    TaskOptions(
        retries=6,
        retry_delay=1,
        retry_backoff=600,
        max_retries=5,
        autoretry_for=("events.helpers.FeedUnavailable",),
        retry_jitter=False,
        module="events.tasks",
    ),
    queue="celery",
)
def import_all_calendars():
    for calendar_id in sorted(CALENDARS):
        import_events.enqueue(calendar_id=calendar_id)
    return len(CALENDARS)
