from django.db import transaction
from django.shortcuts import redirect, render

from .forms import JobForm
from .tasks import send_job_email


def job_create(request):
    form = JobForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            job = form.save()
            transaction.on_commit(lambda: send_job_email.enqueue(job_id=job.pk))
        return redirect("jobs:job_thanks")
    return render(request, "jobs/job_form.html", {"form": form})
