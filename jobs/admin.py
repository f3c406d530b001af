from django.contrib import admin

from jobs.models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("cluster", "host", "pid", "beat_at")
    list_filter = ("cluster",)
    readonly_fields = ("cluster", "host", "pid", "beat_at")
