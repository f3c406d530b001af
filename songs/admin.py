"""Song admin: filters, search, its jobs, an audio preview, and actions through the services.

The admin never writes a Song itself: edits, deletes and actions call songs.services
(and jobs.services for reprocess), and a refusal becomes an error message, not a 500.
"""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from jobs import services as job_services
from jobs.models import Job
from jobs.pipeline import stage_names
from karaoke_site.errors import ApplicationError
from songs import services
from songs.models import Song


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Live"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class JobInline(admin.TabularInline):
    """The song's jobs, read-only: jobs change only through their own actions."""

    model = Job
    fk_name = "song"
    fields = ("kind", "status", "stage", "progress", "error_code", "attempts", "manual_retries", "created_at", "finished_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _each(modeladmin, request, queryset, action, *, done: str) -> None:
    """Run `action` on every song, counting successes and reporting each refusal."""
    succeeded = 0
    for song in queryset:
        try:
            action(song)
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{song}: {exc.message}", level=messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        modeladmin.message_user(request, done.format(count=succeeded, s="" if succeeded == 1 else "s"), messages.SUCCESS)


@admin.register(Song)
class SongAdmin(admin.ModelAdmin):
    list_display = ("__str__", "title", "artist", "status", "source", "duration_display", "created_at", "is_deleted")
    list_display_links = ("__str__",)
    list_filter = ("status", "source", DeletedFilter)
    search_fields = ("title", "artist", "album", "source_id", "source_url")
    date_hierarchy = "created_at"
    list_select_related = ("added_by",)
    inlines = [JobInline]
    actions = ["reprocess", "soft_delete", "restore"]
    fieldsets = [
        (None, {"fields": ("title", "artist", "album", "audio_preview")}),
        ("State", {"fields": ("status", "error", "duration_display", "deleted_at", "merged_into")}),
        ("Source", {"fields": ("source", "source_id", "source_url", "content_hash", "added_by")}),
        ("Files", {"fields": ("id", "files", "created_at", "updated_at"), "classes": ("collapse",)}),
    ]
    readonly_fields = (
        "id", "audio_preview", "status", "error", "duration_display", "deleted_at", "merged_into",
        "source", "source_id", "source_url", "content_hash", "added_by", "files", "created_at", "updated_at",
    )

    # --- computed fields ---------------------------------------------------------

    @admin.display(description="duration", ordering="duration")
    def duration_display(self, song: Song) -> str:
        if song.duration is None:
            return "—"
        minutes, seconds = divmod(int(song.duration), 60)
        return f"{minutes}:{seconds:02d}"

    @admin.display(description="deleted", boolean=True, ordering="deleted_at")
    def is_deleted(self, song: Song) -> bool:
        return song.is_deleted

    @admin.display(description="audio")
    def audio_preview(self, song: Song) -> str:
        name = (song.files or {}).get("audio_web")
        if not name:
            return "—"
        try:
            url = reverse("song-file", args=[song.pk, name])
        except NoReverseMatch:
            return "—"
        return format_html('<audio controls preload="none" src="{}"></audio>', url)

    # --- writes go through the services ------------------------------------------

    def has_add_permission(self, request):
        # Songs come in through the Library page, the API or the import commands.
        return False

    def save_model(self, request, obj, form, change):
        fresh = Song.objects.get(pk=obj.pk)
        services.song_update(song=fresh, data={name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS
                                               if name in form.cleaned_data})

    def delete_model(self, request, obj):
        services.song_hard_delete(song=obj)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:songs_song_change", args=[object_id]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        # The bulk delete would report "deleted" for songs the service refused.
        actions.pop("delete_selected", None)
        return actions

    # --- actions -----------------------------------------------------------------------

    @admin.action(description="Reprocess selected songs…")
    def reprocess(self, request, queryset):
        names = stage_names()
        if request.POST.get("apply"):
            stage = request.POST.get("stage") or names[0]
            _each(self, request, queryset,
                  lambda song: job_services.song_reprocess(song=song, stage=stage, user=request.user),
                  done=f"Reprocessing {{count}} song{{s}} from {stage}.")
            return None
        # An intermediate page to choose the stage (the first one by default).
        return TemplateResponse(request, "admin/songs/song/reprocess.html", {
            **self.admin_site.each_context(request),
            "title": "Reprocess songs",
            "opts": self.model._meta,
            "songs": queryset,
            "stages": names,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        })

    @admin.action(description="Delete selected songs (hide, restorable)")
    def soft_delete(self, request, queryset):
        _each(self, request, queryset, lambda song: services.song_soft_delete(song=song),
              done="Hid {count} song{s} from singers.")

    @admin.action(description="Restore selected songs")
    def restore(self, request, queryset):
        _each(self, request, queryset, lambda song: services.song_restore(song=song), done="Restored {count} song{s}.")
