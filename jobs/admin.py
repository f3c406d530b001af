"""Job admin: read-only rows with their log; Retry and Cancel go through jobs.services."""

from django.contrib import admin, messages

from common.errors import ApplicationError
from jobs import services
from jobs.models import Job, JobLog, WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("cluster", "host", "pid", "beat_at")
    list_filter = ("cluster",)
    readonly_fields = ("cluster", "host", "pid", "beat_at")


class JobLogInline(admin.TabularInline):
    model = JobLog
    fields = ("at", "event", "stage", "message")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "short_id", "song", "kind", "status", "stage", "progress_display", "error_code",
        "attempts", "manual_retries", "created_at", "finished_at",
    )
    list_display_links = ("short_id",)
    list_filter = ("status", "kind", "stage")
    search_fields = ("song__title", "song__artist", "error_code", "error_message")
    list_select_related = ("song",)
    date_hierarchy = "created_at"
    inlines = [JobLogInline]
    actions = ["retry", "cancel"]
    fieldsets = [
        (None, {"fields": ("song", "kind", "status", "stage", "start_stage", "progress", "message")}),
        ("Error", {"fields": ("error_code", "error_message", "attempts", "manual_retries", "next_attempt_at")}),
        ("Worker", {"fields": ("cancel_requested", "worker", "heartbeat_at", "task_id", "priority", "stage_seconds")}),
        ("Times", {"fields": ("id", "created_by", "created_at", "updated_at", "started_at", "finished_at")}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The state machine lives in jobs.services: nothing here is edited by hand.
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    @admin.display(description="job", ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.pk)[:8]

    @admin.display(description="progress", ordering="progress")
    def progress_display(self, job: Job) -> str:
        return f"{job.progress:.0f} %"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A running job belongs to its worker (the same rule as deleting its song).
        if obj is not None and obj.status == Job.Status.RUNNING:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _each(self, request, queryset, action, *, done: str) -> None:
        succeeded = 0
        for job in queryset.select_related("song"):
            try:
                action(job)
            except ApplicationError as exc:
                self.message_user(request, f"{job}: {exc.message}", level=messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, done.format(count=succeeded, s="" if succeeded == 1 else "s"), messages.SUCCESS)

    @admin.action(description="Retry selected jobs")
    def retry(self, request, queryset):
        self._each(request, queryset, lambda job: services.job_retry(job=job, user=request.user),
                   done="{count} job{s} will run again.")

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request, queryset):
        self._each(request, queryset, lambda job: services.job_cancel(job=job, user=request.user),
                   done="Cancelled {count} job{s} (a running one stops at its next check).")
