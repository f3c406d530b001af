"""Song admin: filters, search, its jobs, an audio preview, and actions through the services.

The admin never writes a Song itself: edits, deletes and actions call songs.services
(and jobs.services for reprocess), and a refusal becomes an error message, not a 500.
"""

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from common.errors import ApplicationError
from jobs.models import Job
from songs import imports, keys, selectors, services
from songs.models import Song
from songs.pipeline.plan import DEFAULT_REPROCESS_STAGE, stage_names


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


class DuplicateFilter(admin.SimpleListFilter):
    title = "likely duplicates"
    parameter_name = "duplicates"

    def lookups(self, request, model_admin):
        return [("yes", "Same MusicBrainz recording")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(recording_mbid__in=selectors.song_duplicate_mbids(), deleted_at__isnull=True)
        return queryset


class SongAdminForm(forms.ModelForm):
    """Title, artist, album, year, plus the lyrics and a cover, which go through their own services."""

    lyrics = forms.CharField(
        required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "cols": 80, "style": "font-family: monospace"}),
        help_text="LRC ([mm:ss.xx] words on each line) or plain words; checked when you save. "
                  "Editing locks the lyrics: LRCLIB will not replace them.",
    )
    cover_upload = forms.FileField(
        required=False, label="New cover",
        help_text="JPEG, PNG, GIF or WebP. Locks the cover: the Cover Art Archive will not replace it.",
    )

    class Meta:
        model = Song
        fields = ("title", "artist", "album", "year", "key")
        help_texts = {"key": "The song's own key, like “A minor” or “F# major”. Locks it: detection leaves it alone."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["lyrics"].initial = self.instance.lyrics_synced or self.instance.lyrics_plain

    def clean_lyrics(self):
        text = self.cleaned_data.get("lyrics") or ""
        try:
            services.lyrics_from_text(text)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None
        return text

    def clean_key(self):
        try:
            return keys.key_normalise(self.cleaned_data.get("key") or "")
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None

    def clean_cover_upload(self):
        upload = self.cleaned_data.get("cover_upload")
        if upload:
            head = upload.read(12)
            upload.seek(0)
            if services._image_extension(head) is None:
                raise forms.ValidationError("The cover must be a JPEG, PNG, GIF or WebP image.")
        return upload


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
    form = SongAdminForm
    list_display = (
        "__str__", "title", "artist", "status", "metadata_status", "lyrics_status", "source", "duration_display",
        "created_at", "is_deleted",
    )
    list_display_links = ("__str__",)
    list_filter = ("status", "metadata_status", "lyrics_status", "source", DeletedFilter, DuplicateFilter)
    search_fields = ("title", "artist", "album", "source_id", "source_url", "recording_mbid", "isrc")
    date_hierarchy = "created_at"
    list_select_related = ("added_by",)
    inlines = [JobInline]
    actions = ["reprocess", "merge_duplicates", "soft_delete", "restore"]
    fieldsets = [
        (None, {"fields": ("title", "artist", "album", "year", "key", "key_confidence", "locked_display", "audio_preview")}),
        ("Cover", {"fields": ("cover_preview", "cover_upload")}),
        ("Lyrics", {"fields": ("lyrics_status", "lyrics_checked_at", "lyrics", "lyrics_preview")}),
        ("MusicBrainz", {"fields": (
            "metadata_status", "metadata_checked_at", "recording_link", "release_mbid", "artist_mbid", "isrc",
            "genres", "likely_duplicates",
        )}),
        ("State", {"fields": ("status", "error", "duration_display", "deleted_at", "merged_into")}),
        ("Source", {"fields": ("source", "source_id", "source_url", "content_hash", "added_by")}),
        ("Files", {"fields": ("id", "files", "created_at", "updated_at"), "classes": ("collapse",)}),
    ]
    readonly_fields = (
        "id", "audio_preview", "status", "error", "duration_display", "deleted_at", "merged_into",
        "source", "source_id", "source_url", "content_hash", "added_by", "files", "created_at", "updated_at",
        "locked_display", "cover_preview", "lyrics_status", "lyrics_checked_at", "lyrics_preview",
        "metadata_status", "metadata_checked_at", "recording_link", "release_mbid", "artist_mbid", "isrc", "genres",
        "likely_duplicates", "key_confidence",
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
        url = song.file_url("audio_web")
        if not url:
            return "—"
        return format_html('<audio controls preload="none" src="{}"></audio>', url)

    @admin.display(description="locked (host edits)")
    def locked_display(self, song: Song) -> str:
        return ", ".join(song.locked_fields or []) or "—"

    @admin.display(description="cover")
    def cover_preview(self, song: Song) -> str:
        url = song.file_url("cover_thumb") or song.file_url("cover")
        if not url:
            return "—"
        return format_html('<img src="{}" alt="cover" style="max-width: 250px; max-height: 250px">', url)

    @admin.display(description="timed lines")
    def lyrics_preview(self, song: Song) -> str:
        lines = selectors.song_lyrics_lines(song)
        if not lines:
            return "No timed lines (plain lyrics only)." if song.lyrics_plain else "—"
        rows = format_html_join(
            "", "<tr><td style='font-family: monospace'>{}</td><td>{}</td></tr>",
            ((f"{int(line.t // 60)}:{line.t % 60:05.2f}", line.text or "♪") for line in lines),
        )
        return format_html(
            '<div id="lyrics-preview" style="max-height: 22em; overflow-y: auto"><table>{}</table></div>', rows
        )

    @admin.display(description="recording MBID")
    def recording_link(self, song: Song) -> str:
        if not song.recording_mbid:
            return "—"
        return format_html('<a href="https://musicbrainz.org/recording/{0}" rel="noopener">{0}</a>', song.recording_mbid)

    @admin.display(description="likely duplicates")
    def likely_duplicates(self, song: Song) -> str:
        others = list(selectors.song_likely_duplicates(song=song))
        if not others:
            return "—"
        links = format_html_join(
            "", '<li><a href="{}">{}</a> ({})</li>',
            ((reverse("admin:songs_song_change", args=[other.pk]), str(other), other.get_status_display())
             for other in others),
        )
        return format_html(
            "<ul>{}</ul><p>Same MusicBrainz recording. Select them in the "
            '<a href="{}?duplicates=yes">duplicates list</a> and use “Merge likely duplicates”.</p>',
            links, reverse("admin:songs_song_changelist"),
        )

    # --- writes go through the services ------------------------------------------

    def has_add_permission(self, request):
        # Songs come in through the Library page, the API or the import commands.
        return False

    def save_model(self, request, obj, form, change):
        fresh = Song.objects.get(pk=obj.pk)
        data = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
        if "lyrics" in form.changed_data:
            data["lyrics"] = form.cleaned_data["lyrics"]
        services.song_update(song=fresh, data=data)
        if form.cleaned_data.get("cover_upload"):
            try:
                services.song_set_cover(song=fresh, uploaded=form.cleaned_data["cover_upload"])
            except ApplicationError as exc:
                self.message_user(request, f"Cover not saved: {exc.message}", level=messages.ERROR)

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
            stage = request.POST.get("stage") or DEFAULT_REPROCESS_STAGE
            _each(self, request, queryset,
                  lambda song: imports.song_reprocess(song=song, stage=stage, user=request.user),
                  done=f"Reprocessing {{count}} song{{s}} from {stage}.")
            return None
        # An intermediate page to choose the stage (DEFAULT_REPROCESS_STAGE by default).
        return TemplateResponse(request, "admin/songs/song/reprocess.html", {
            **self.admin_site.each_context(request),
            "title": "Reprocess songs",
            "opts": self.model._meta,
            "songs": queryset,
            "stages": names,
            "default_stage": DEFAULT_REPROCESS_STAGE,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        })

    @admin.action(description="Merge likely duplicates (keep the best files)")
    def merge_duplicates(self, request, queryset):
        groups = defaultdict(list)
        for song in queryset.filter(deleted_at__isnull=True):
            groups[song.recording_mbid].append(song)
        if groups.pop("", None):
            self.message_user(request, "Songs without a MusicBrainz recording were left alone.", messages.WARNING)
        merged_any = False
        for songs in groups.values():
            if len(songs) < 2:
                continue
            try:
                keep, merged = services.song_merge_duplicates(songs=songs)
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
                continue
            merged_any = True
            self.message_user(
                request, f"Kept “{keep}”; merged {len(merged)} duplicate{'' if len(merged) == 1 else 's'} into it.",
                messages.SUCCESS,
            )
        if not merged_any:
            self.message_user(request, "Select at least two songs with the same MusicBrainz recording.",
                              messages.WARNING)

    @admin.action(description="Delete selected songs (hide, restorable)")
    def soft_delete(self, request, queryset):
        _each(self, request, queryset, lambda song: services.song_soft_delete(song=song),
              done="Hid {count} song{s} from singers.")

    @admin.action(description="Restore selected songs")
    def restore(self, request, queryset):
        _each(self, request, queryset, lambda song: services.song_restore(song=song), done="Restored {count} song{s}.")
