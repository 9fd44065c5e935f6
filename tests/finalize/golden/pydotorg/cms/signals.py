from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Page
from .tasks import refresh_cache


@receiver(post_save, sender=Page)
def refresh_page_cache(sender, instance, **kwargs):
    refresh_cache.enqueue(key=instance.cache_key, timeout=600)
