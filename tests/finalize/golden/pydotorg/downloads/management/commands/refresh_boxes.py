from django.core.management.base import BaseCommand

from downloads.tasks import update_download_boxes


class Command(BaseCommand):
    help = "Rebuild the download boxes in the background"

    def handle(self, *args, **options):
        result = update_download_boxes.enqueue()
        self.stdout.write(f"queued {result.id}")
