from saqmigrate.runtime.jobs import chain, group
from django.core.management.base import BaseCommand

from cms.tasks import refresh_cache
from events.tasks import import_events


class Command(BaseCommand):
    help = "Import ICS calendars through the task queue"

    def add_arguments(self, parser):
        parser.add_argument("calendar_ids", nargs="+", type=int)
        parser.add_argument("--parallel", action="store_true")

    def handle(self, *args, calendar_ids, parallel=False, **options):
        if parallel:
            job = group(import_events.step(calendar_id=cid) for cid in calendar_ids)
            job.enqueue()
        else:
            for cid in calendar_ids:
                chain(import_events.step(calendar_id=cid), refresh_cache.step(key="events")).enqueue()
        self.stdout.write(f"queued {len(calendar_ids)} calendars")
