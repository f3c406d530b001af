from django.contrib import admin

from queue_app.models import QueueEntry, Room, Singer


class SingerInline(admin.TabularInline):
    model = Singer
    extra = 0
    fields = ("display_name", "user", "joined_at", "left_at")
    readonly_fields = ("joined_at",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "owner", "is_open", "rotation_mode", "max_waiting_per_singer", "created_at")
    list_filter = ("is_open", "rotation_mode")
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
