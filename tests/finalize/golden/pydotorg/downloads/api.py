"""Async views (Django 4.1+): the dispatch runs inside an ``async def``."""

from django.http import JsonResponse

from .tasks import update_download_boxes


async def refresh_boxes_async(request):
    result = await update_download_boxes.aenqueue()
    return JsonResponse({"task_id": result.id}, status=202)
