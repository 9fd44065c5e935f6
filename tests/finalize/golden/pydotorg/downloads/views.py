from django.http import JsonResponse
from django.views.decorators.http import require_POST

from saqmigrate.runtime.jobs import send_job


@require_POST
def refresh_boxes(request):
    # By name, so the web process does not import the tasks module.
    result = send_job("downloads.tasks.update_download_boxes", queue="celery")
    return JsonResponse({"task_id": result.id}, status=202)
