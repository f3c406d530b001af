"""The songs API: one class per operation, thin; writes go through services."""


from django.conf import settings
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import filters, generics, serializers, status
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import NullableIntegerField, OutputFieldsOnce, TextField, filter_by_choices, query_flag
from common.errors import ApplicationError
from common.schema import error
from jobs.models import Job
from songs import imports, search, selectors, services
from songs.models import Song
from songs.pipeline import plan


class JobBriefSerializer(OutputFieldsOnce, serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "kind", "status", "stage", "progress", "message", "error_code", "error_message"]


class SongOutputSerializer(OutputFieldsOnce, serializers.ModelSerializer):
    files = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField(help_text="The song's most recent job.")
    cover_url = serializers.SerializerMethodField(help_text="The front cover, or null.")
    cover_thumb_url = serializers.SerializerMethodField(help_text="A cover at most 250 px wide, or null.")
    genres = serializers.ListField(child=serializers.CharField(), read_only=True)
    locked_fields = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Fields the host edited: enrichment leaves them."
    )

    class Meta:
        model = Song
        fields = [
            "id", "title", "artist", "album", "year", "duration", "source", "source_id", "source_url",
            "content_hash", "status", "error", "files", "cover_url", "cover_thumb_url", "job", "merged_into", "key",
            "key_confidence",
            "added_by", "recording_mbid", "release_mbid", "artist_mbid", "isrc", "genres",
            "metadata_status", "metadata_checked_at", "lyrics_status", "lyrics_checked_at", "locked_fields",
            "created_at", "updated_at", "deleted_at",
        ]

    def get_files(self, song) -> dict[str, str]:
        return {kind: song.file_url(kind) for kind in song.files}

    def get_cover_url(self, song) -> str | None:
        return song.file_url("cover")

    def get_cover_thumb_url(self, song) -> str | None:
        return song.file_url("cover_thumb")

    def get_job(self, song) -> dict | None:
        jobs = getattr(song, "recent_jobs", None)
        job = jobs[0] if jobs else (song.jobs.order_by("-created_at").first() if jobs is None else None)
        return JobBriefSerializer(job).data if job else None


def _songs():
    return Song.objects.prefetch_related(
        Prefetch("jobs", queryset=Job.objects.order_by("-created_at"), to_attr="recent_jobs")
    )


def _import_response(result) -> Response:
    # The song's most recent job is the one in hand: no query to find it again.
    result.song.recent_jobs = [result.job] if result.job else []
    body = {
        "song": SongOutputSerializer(result.song).data,
        "job": JobBriefSerializer(result.job).data if result.job else None,
        "created": result.created,
        "message": result.message,
    }
    return Response(body, status=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK)


_ImportOutput = inline_serializer(
    "SongImportOutput",
    fields={
        "song": SongOutputSerializer(),
        "job": JobBriefSerializer(allow_null=True),
        "created": serializers.BooleanField(),
        "message": serializers.CharField(),
    },
)


class SongImportApi(APIView):
    """Add a song from a link: YouTube, or any http(s) page or file yt-dlp can read."""

    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="SongImportInput")
    class InputSerializer(serializers.Serializer):
        url = TextField(max_length=2000)

    @extend_schema(request=InputSerializer, responses={
        202: _ImportOutput, 200: _ImportOutput,
        400: error(400, "Invalid, or a link that cannot be imported (`extra.code`)."), 429: error(429),
    })
    def post(self, request):
        imports.IMPORTS.hit_or_refuse(request.user.pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _import_response(imports.song_import_url(url=data.validated_data["url"], user=request.user))


class SongUploadApi(APIView):
    """Add a song by uploading an audio or video file (checked with ffmpeg)."""

    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="SongUploadInput")
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        title = TextField(max_length=300, required=False, default="")
        artist = TextField(max_length=300, required=False, default="")

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses={
        202: _ImportOutput, 200: _ImportOutput,
        400: error(400, "Invalid, or a file that is not audio (ffmpeg reads it; its name does not count)."),
        429: error(429),
    })
    def post(self, request):
        limit = settings.UPLOAD_MAX_MB * 1024 * 1024
        # Refuse before the body is read and spooled to disk.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + 64 * 1024:
            raise ApplicationError(
                f"The upload is {length / 1024 / 1024:.0f} MB; the limit is {settings.UPLOAD_MAX_MB} MB.",
                status_code=413,
            )
        imports.IMPORTS.hit_or_refuse(request.user.pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = imports.song_import_upload(
            uploaded=data.validated_data["file"], user=request.user,
            title=data.validated_data["title"], artist=data.validated_data["artist"],
        )
        return _import_response(result)


class SongSearchFilter(filters.BaseFilterBackend):
    """`?search=`: the library's search (songs.selectors.song_find), the same as the singer's
    page and the Library page's: case, accents and typos forgiven, best match first."""

    def filter_queryset(self, request, queryset, view):
        query = request.query_params.get("search", "")[:200]
        if not search.query_words(query):
            return queryset
        found = selectors.song_find(query=query, songs=queryset.prefetch_related(None), links=True)
        return selectors.songs_in_order(queryset, [song.pk for song in found.songs])

    def get_schema_operation_parameters(self, view):
        return [{
            "name": "search", "required": False, "in": "query", "schema": {"type": "string"},
            "description": "Words of the title, artist, album or lyrics, or a link: case, accents and typos "
                           "do not matter; best match first unless `ordering` is given; at most 400 songs.",
        }]


class SongOrderingFilter(filters.OrderingFilter):
    """`?ordering=`; a search without it keeps its best-first order."""

    def get_default_ordering(self, view):
        if search.query_words(view.request.query_params.get("search", "")[:200]):
            return None
        return super().get_default_ordering(view)


class SongListApi(generics.ListAPIView):
    """The library: search (title, artist, album, lyrics, link), filter, order, paginate."""

    permission_classes = [IsAuthenticated]
    serializer_class = SongOutputSerializer
    filter_backends = [SongSearchFilter, SongOrderingFilter]
    ordering_fields = ["created_at", "title", "artist", "duration", "status"]
    ordering = ["-created_at"]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=Song.Status.values),
            OpenApiParameter("source", enum=Song.Source.values),
            OpenApiParameter("deleted", bool, description="Staff: list soft-deleted songs instead."),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        songs = _songs()
        wants_deleted = query_flag(params, "deleted") and self.request.user.is_staff
        songs = songs.filter(deleted_at__isnull=not wants_deleted)
        return filter_by_choices(songs, params, {"status": Song.Status.values, "source": Song.Source.values})


@extend_schema_field({
    "type": "string",
    # songs.keys.key_parse's keys ("A minor", "F# major", "Bbm", "c"; any case), or nothing;
    # the spaces around are trimmed.
    "pattern": r"^\s*(?:[A-Ga-g]\s?[#♯bB♭]?\s?(?:[Mm](?:[Aa][Jj](?:[Oo][Rr])?|[Ii][Nn](?:[Oo][Rr])?)?)?)?\s*$",
})
class KeyField(TextField):
    """A song's key as the host types it (songs.keys.key_normalise reads it)."""


class SongDetailApi(APIView):
    """One song: read it, edit it (edited fields are locked against enrichment), or delete it: hidden
    (restorable), or with ?hard=true gone for good with its jobs and files, out of every queue; the
    histories keep what was sung, by name."""

    @extend_schema_serializer(component_name="SongUpdateInput")
    class UpdateSerializer(serializers.Serializer):
        title = TextField(max_length=300, required=False, allow_blank=True)
        artist = TextField(max_length=300, required=False, allow_blank=True)
        album = TextField(max_length=300, required=False, allow_blank=True)
        year = NullableIntegerField(min_value=1000, max_value=2999, required=False)
        key = KeyField(
            max_length=16, required=False, allow_blank=True,
            help_text='The song\'s own key: "A minor", "F# major", "Bbm"...; empty: unknown. Locked against detection.',
        )
        lyrics = TextField(
            max_length=200_000, required=False, allow_blank=True, trim_whitespace=False,
            help_text="LRC ([mm:ss.xx] lines, validated) or plain text; empty removes the lyrics.",
        )

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "GET" else [IsAdminUser()]

    def _song(self, request, pk) -> Song:
        songs = _songs() if request.user.is_staff else _songs().filter(deleted_at__isnull=True)
        return get_object_or_404(songs, pk=pk)

    @extend_schema(responses=SongOutputSerializer)
    def get(self, request, pk):
        return Response(SongOutputSerializer(self._song(request, pk)).data)

    @extend_schema(request=UpdateSerializer, responses=SongOutputSerializer)
    def patch(self, request, pk):
        song = self._song(request, pk)
        data = self.UpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        song = services.song_update(song=song, data=data.validated_data)
        return Response(SongOutputSerializer(song).data)

    @extend_schema(
        parameters=[OpenApiParameter("hard", bool)],
        responses={204: None, 409: error(409, "A job is working on the song; cancel it first.")},
    )
    def delete(self, request, pk):
        song = self._song(request, pk)
        if query_flag(request.query_params, "hard"):
            services.song_hard_delete(song=song)
        else:
            services.song_soft_delete(song=song)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LyricsLineSerializer(serializers.Serializer):
    t = serializers.FloatField(help_text="Seconds from the start of the song.")
    text = serializers.CharField(allow_blank=True)


class SongLyricsApi(APIView):
    """The song's lyrics: timed lines for the TV page, the LRC text and the plain words."""

    @extend_schema_serializer(component_name="SongLyrics")
    class OutputSerializer(serializers.Serializer):
        lines = LyricsLineSerializer(many=True, help_text="[] when only plain lyrics exist.")
        lrc = serializers.CharField(allow_null=True)
        plain = serializers.CharField(allow_null=True)
        status = serializers.ChoiceField(choices=Song.LookupStatus.choices)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, pk):
        songs = Song.objects.all() if request.user.is_staff else Song.objects.filter(deleted_at__isnull=True)
        song = get_object_or_404(songs, pk=pk)
        lines = [{"t": round(line.t, 3), "text": line.text} for line in selectors.song_lyrics_lines(song)]
        return Response({
            "lines": lines,
            "lrc": song.lyrics_synced or None,
            "plain": song.lyrics_plain or None,
            "status": song.lyrics_status,
        })


class SongRestoreApi(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(request=None, responses={
        200: SongOutputSerializer, 409: error(409, "Another live song has the same source or audio."),
    })
    def post(self, request, pk):
        song = services.song_restore(song=get_object_or_404(Song, pk=pk))
        return Response(SongOutputSerializer(song).data)


class SongReprocessApi(APIView):
    """Run the pipeline again from a stage, without downloading again."""

    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="SongReprocessInput")
    class InputSerializer(serializers.Serializer):
        stage = serializers.ChoiceField(
            choices=plan.stage_names(), required=False,
            error_messages={"invalid_choice": f"Unknown stage {{input!r}}; choose one of: {', '.join(plan.stage_names())}."},
        )

    @extend_schema(request=InputSerializer, responses={
        202: JobBriefSerializer,
        409: error(409, "The song is deleted, has no original to start again from, or a job is already working on it."),
    })
    def post(self, request, pk):
        song = get_object_or_404(Song, pk=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stage = data.validated_data.get("stage") or plan.DEFAULT_REPROCESS_STAGE
        job = imports.song_reprocess(song=song, stage=stage, user=request.user)
        return Response(JobBriefSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class YoutubeSearchApi(APIView):
    """Search YouTube (results cached for a few minutes)."""

    permission_classes = [IsAdminUser]

    @extend_schema_serializer(component_name="YoutubeSearchInput")
    class InputSerializer(serializers.Serializer):
        q = TextField(max_length=200)
        limit = serializers.IntegerField(min_value=1, max_value=20, default=5)

    @extend_schema_serializer(component_name="YoutubeSearchResult")
    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        title = serializers.CharField()
        duration = serializers.FloatField(allow_null=True)
        channel = serializers.CharField(allow_null=True)
        url = serializers.CharField()
        thumbnail = serializers.CharField(allow_null=True)

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer(many=True),
            503: error(503, "YouTube cannot be reached; the message says so."),
        },
    )
    def get(self, request):
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        results = selectors.youtube_search(query=data.validated_data["q"], limit=data.validated_data["limit"])
        return Response(results)
