"""The Jobs page: every job with its progress, Retry and Cancel (HTMX).

The rows are kept up to date by /ws/jobs/html/ (jobs/consumers.py), which pushes the same
`_job.html` partial; without JavaScript the page and its buttons work as plain HTML.
"""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from common.decorators import staff_required
from common.errors import ApplicationError
from jobs import selectors, services
from jobs.models import Job

LIST_LIMIT = 100


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Job.Status.choices])


def _jobs_context(request) -> dict:
    form = JobFilterForm(request.GET)
    form.is_valid()
    status = getattr(form, "cleaned_data", {}).get("status") or None
    return {"filter_form": form, "status": status}


@require_GET
@staff_required
def job_list(request):
    since = timezone.now()  # before the read: the socket resends what changed after it, on every (re)connect
    context = _jobs_context(request)
    jobs = selectors.job_search(status=context["status"])
    context |= {
        "jobs": list(jobs[:LIST_LIMIT]),
        "total": jobs.count(),
        "limit": LIST_LIMIT,
        "since": since,
        "clusters": selectors.cluster_health(),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "jobs/partials/_job_list.html", context)
    return render(request, "jobs/list.html", context)


def _render_row(request, job_id, *, error: str = "", status: int = 200):
    try:
        job = selectors.job_row(job_id=job_id)
    except Job.DoesNotExist:
        if request.htmx:
            # Gone with its song: the empty answer removes the row.
            return HttpResponse("", status=404)
        raise Http404("No such job.") from None
    return render(request, "jobs/partials/_job.html", {"job": job, "error": error}, status=status)


@require_GET
@staff_required
def job_row(request, job_id):
    if not request.htmx:
        return redirect("jobs:list")
    return _render_row(request, job_id)


def _job_action(request, job_id, action, *, done: str):
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        if request.htmx:
            return HttpResponse("", status=404)
        raise Http404("No such job.")
    try:
        action(job)
    except ApplicationError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("jobs:list")
        return _render_row(request, job_id, error=exc.message, status=exc.status_code)
    if not request.htmx:
        messages.success(request, done)
        return redirect("jobs:list")
    return _render_row(request, job_id)


@require_POST
@staff_required
def job_retry(request, job_id):
    return _job_action(
        request, job_id, lambda job: services.job_retry(job=job, user=request.user), done="The job will run again."
    )


@require_POST
@staff_required
def job_cancel(request, job_id):
    return _job_action(
        request, job_id, lambda job: services.job_cancel(job=job, user=request.user), done="The job is being cancelled."
    )
