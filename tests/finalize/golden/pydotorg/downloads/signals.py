from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Release
from .tasks import update_download_boxes


@receiver(post_save, sender=Release)
def purge_download_boxes(sender, instance, **kwargs):
    if instance.is_published:
        update_download_boxes.enqueue()
