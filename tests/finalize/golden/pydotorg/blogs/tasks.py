from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions

from .helpers import FEEDS, fetch_feed, parse_entries, store_entries


@saq_job(
    "blogs.tasks.update_blog_feeds",
    TaskOptions(timeout=120, heartbeat=0, ttl=-1),
    queue="celery",
)
def update_blog_feeds(feeds=None):
    total = 0
    for url in feeds or FEEDS:
        total += store_entries(url, parse_entries(fetch_feed(url)))
    return total
