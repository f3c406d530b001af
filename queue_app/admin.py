from django.contrib import admin

from queue_app.models import QueueEntry, Room, Singer, SongRequest


class SingerInline(admin.TabularInline):
    model = Singer
    extra = 0
    fields = ("display_name", "user", "joined_at", "left_at")
    readonly_fields = ("joined_at",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = (
        "name", "code", "owner", "is_open", "rotation_mode", "max_waiting_per_singer", "requests", "created_at",
    )
    list_filter = ("is_open", "rotation_mode", "requests")
    search_fields = ("name", "code", "owner__username")
    # The code is the room's address; the password is a hash (set it through the API).
    readonly_fields = ("code", "password", "version", "paused", "position", "position_at", "created_at")
    inlines = [SingerInline]


@admin.register(QueueEntry)
class QueueEntryAdmin(admin.ModelAdmin):
    list_display = ("id", "room", "singer", "song", "status", "pinned_position", "added_at", "started_at")
    list_filter = ("status",)
    search_fields = ("room__code", "singer__display_name", "song__title")
    raw_id_fields = ("song", "singer", "room")


@admin.register(SongRequest)
class SongRequestAdmin(admin.ModelAdmin):
    """Requests are answered on the host's console or through the API (which import the
    video and queue it); here they are only looked at."""

    list_display = ("title", "room", "singer", "status", "duration", "decided_by", "created_at")
    list_filter = ("status",)
    search_fields = ("title", "channel", "video_id", "room__code", "singer__display_name")
    readonly_fields = [field.name for field in SongRequest._meta.fields]

    def has_add_permission(self, request):
        return False
