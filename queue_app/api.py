"""The party API: rooms, joining, the queue and the player. One class per operation, thin.

Who is asking is resolved per room (queue_app.access): the signed-in user, and for
guests the browser session or the `X-Singer-Token` header that joining returns. The
services check permissions; refusals leave in the one error format (403 for "not
allowed", 404 for an unknown code or entry, 409 for a conflict with the queue's state).
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import NullableIntegerField, TextField
from common.errors import ApplicationError
from common.schema import error
from common.throttle import client_address
from queue_app import access, requests, selectors, services, throttles
from queue_app.models import QueueEntry, Room, SongRequest
from songs.models import Song

MAX_ID = 2**63 - 1  # a bigint: larger numbers would overflow the database, not just miss
# A search of at least 3 characters once its spaces are collapsed (queue_app.requests), no NUL.
SEARCH_PATTERN = r"^[^\x00]*?(?:[^\s\x00]\s*[^\s\x00]\s*[^\s\x00]|[^\s\x00]\s+[^\s\x00])[^\x00]*$"


class RoomApi(APIView):
    """An operation on one room: anyone may ask, the services decide (a member, the host).

    A guest names themselves by the session, or by `X-Singer-Token` (the schema's
    `singerToken`, common/schema.py); operations that need no credentials at all list
    their methods in `public_methods`."""

    permission_classes = [AllowAny]
    singer_token = True
    public_methods: set[str] = set()


# --- shapes (for the schema; the payloads themselves are built in selectors) -------------


@extend_schema_serializer(component_name="PartyRoom")
class RoomOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    is_open = serializers.BooleanField()
    has_password = serializers.BooleanField()
    rotation_mode = serializers.ChoiceField(choices=Room.RotationMode.choices)
    max_waiting_per_singer = serializers.IntegerField(allow_null=True)
    requests = serializers.ChoiceField(
        choices=Room.Requests.choices, help_text="Song requests from YouTube: off, host (approves each) or auto."
    )
    request_max_minutes = serializers.IntegerField(help_text="The longest video a singer may request.")
    max_pending_requests = serializers.IntegerField(help_text="Requests one singer may have waiting for the host.")
    interlude_seconds = serializers.IntegerField(help_text="Seconds the TV shows who is up next between singers (0: none).")
    owner = serializers.CharField()
    created_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="PartySingerBrief")
class SingerBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null in a history entry of a deleted room.")
    name = serializers.CharField()


@extend_schema_serializer(component_name="PartySongStream")
class SongStreamSerializer(serializers.Serializer):
    instrumental_url = serializers.CharField(help_text="HLS event playlist (fMP4 AAC segments) of the instrumental.")
    vocals_url = serializers.CharField(help_text="HLS event playlist of the vocals.")
    seconds = serializers.FloatField(help_text="Seconds of audio both playlists hold now.")
    complete = serializers.BooleanField()


@extend_schema_serializer(component_name="PartySong")
class SongBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="null in a history entry of a song deleted since.")
    title = serializers.CharField()
    artist = serializers.CharField()
    duration = serializers.FloatField(allow_null=True)
    status = serializers.CharField()
    ready = serializers.BooleanField(help_text="It can be sung now: ready, or separating far enough ahead (playable).")
    stream = SongStreamSerializer(
        allow_null=True, help_text="While it separates: its live stream, which the TV plays until the files exist."
    )
    playable_in_seconds = serializers.IntegerField(
        allow_null=True, help_text="While it separates: seconds until it can be sung, at the speed measured so far (0: now)."
    )
    cover_thumb_url = serializers.CharField(allow_null=True)
    instrumental_url = serializers.CharField(
        allow_null=True, help_text="The instrumental stem for browsers (m4a, Range-streamed); null until separated."
    )
    vocals_url = serializers.CharField(
        allow_null=True, help_text="The vocal stem for browsers (the TV's vocal guide); null until separated."
    )
    lyrics_url = serializers.CharField(allow_null=True, help_text="GET: the song's timed lines, LRC and plain lyrics.")
    key = serializers.CharField(allow_null=True, help_text='The song\'s own key ("A minor"), detected or set by the host; null when unknown.')
    key_confidence = serializers.FloatField(allow_null=True, help_text="0–1: how sure the detection was; null when the host set it.")


@extend_schema_serializer(component_name="PartyEntry")
class EntryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    singer = SingerBriefSerializer()
    song = SongBriefSerializer()
    # A CharField, not a ChoiceField: "status" enums of songs and jobs own that name in the schema.
    status = serializers.CharField(help_text="waiting, playing, done or skipped.")
    key_shift = serializers.IntegerField(help_text="Semitones, -12 to 12 (the pages offer -6 to 6).")
    key_name = serializers.CharField(allow_null=True, help_text='The key it is sung in ("B minor" for A minor +2); null when the song\'s is unknown.')
    key_ready = serializers.BooleanField(help_text="The TV can play it in its key (always, at 0); until then it plays the song's own key.")
    key_status = serializers.ChoiceField(
        choices=["original", "ready", "preparing", "failed"],
        help_text="original (no shift), ready, preparing (being rendered, or waiting for the song), failed (plays in the song's key).",
    )
    instrumental_url = serializers.CharField(allow_null=True, help_text="What the TV plays for this entry now: the shifted stem once ready.")
    vocals_url = serializers.CharField(allow_null=True, help_text="The vocal guide for this entry now, in the same key as instrumental_url.")
    pinned_position = serializers.IntegerField(allow_null=True)
    added_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(component_name="PartyQueuedEntry")
class QueuedEntryOutputSerializer(EntryOutputSerializer):
    position = serializers.IntegerField(help_text="0: next to sing.")
    estimated_start = serializers.DateTimeField()
    wait_seconds = serializers.FloatField()
    wait_minutes = serializers.IntegerField(help_text='For "you\'re up in about 12 min".')
    up_next = serializers.BooleanField(help_text="The entry the player starts next: the first whose song can play.")


@extend_schema_serializer(component_name="PartyUpNext")
class UpNextOutputSerializer(EntryOutputSerializer):
    getting_ready = serializers.BooleanField(help_text="Its song cannot play yet (nothing ahead of it can either).")
    ready_in_seconds = serializers.IntegerField(allow_null=True, help_text="Seconds until it can, when known.")


@extend_schema_serializer(component_name="PartyPlayer")
class PlayerOutputSerializer(serializers.Serializer):
    entry = EntryOutputSerializer(allow_null=True)
    paused = serializers.BooleanField()
    position = serializers.FloatField(help_text="Seconds into the entry at server_time.")
    server_time = serializers.DateTimeField()
    starts_in = serializers.FloatField(help_text="Seconds of interlude before the position moves (0: none).")
    limit = serializers.FloatField(
        allow_null=True, help_text="A song still separating: the position goes no further (null: the whole song is there)."
    )
    holding = serializers.BooleanField(help_text="The position waits at `limit` for the stream to grow (\"getting ready\").")
    held = serializers.BooleanField(help_text="The host paused the room: nothing starts by itself.")
    interlude_seconds = serializers.IntegerField(help_text="The room's pause between singers.")
    up_next = UpNextOutputSerializer(allow_null=True)


def _room(code: str) -> Room:
    return selectors.room_get(code=code)


def _actor(request, room: Room) -> access.Actor:
    return access.actor_from_request(room, request)


def _watcher(request, room: Room) -> access.Actor:
    actor = _actor(request, room)
    access.require_member(actor)
    return actor


def _song(song_id) -> Song:
    song = Song.objects.filter(pk=song_id).first()
    if song is None:
        raise ApplicationError("There is no such song in the library.", extra={"song": str(song_id)})
    return song


def _queue(room: Room) -> list[dict]:
    return selectors.queue_payload(selectors.RoomSnapshot(room))


def _player(room: Room) -> dict:
    return selectors.player_payload(selectors.RoomSnapshot(room))


# --- rooms -------------------------------------------------------------------------------


class RoomCreateApi(APIView):
    """A host opens a room; the answer carries its join `code`."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="PartyRoomCreateInput")
    class InputSerializer(serializers.Serializer):
        name = TextField(max_length=100, required=False, default="", allow_blank=True)
        password = TextField(max_length=128, required=False, default="", allow_blank=True)
        is_open = serializers.BooleanField(required=False, default=True)
        rotation_mode = serializers.ChoiceField(choices=Room.RotationMode.choices, required=False, default="fair")
        max_waiting_per_singer = NullableIntegerField(min_value=1, max_value=100, required=False, default=3)

    @extend_schema(request=InputSerializer, responses={
        201: RoomOutputSerializer, 409: error(409, "No free room code was found; try again."),
    })
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.room_create(owner=request.user, **data.validated_data)
        return Response(selectors.room_payload(room), status=status.HTTP_201_CREATED)


class RoomDetailApi(RoomApi):
    """A room's public face (anyone with the code: the join page needs it); settings (host)."""

    public_methods = {"GET"}

    @extend_schema_serializer(component_name="PartyRoomUpdateInput")
    class UpdateSerializer(serializers.Serializer):
        name = TextField(max_length=100, required=False)
        password = TextField(max_length=128, required=False, allow_blank=True, help_text='"" removes it.')
        is_open = serializers.BooleanField(required=False)
        rotation_mode = serializers.ChoiceField(choices=Room.RotationMode.choices, required=False)
        max_waiting_per_singer = NullableIntegerField(min_value=1, max_value=100, required=False)
        requests = serializers.ChoiceField(choices=Room.Requests.choices, required=False)
        request_max_minutes = serializers.IntegerField(min_value=1, max_value=60, required=False)
        max_pending_requests = serializers.IntegerField(min_value=1, max_value=20, required=False)
        interlude_seconds = serializers.IntegerField(
            min_value=0, max_value=60, required=False, help_text="The \"Up next\" pause between singers; 0 turns it off.")

    @extend_schema(responses=RoomOutputSerializer)
    def get(self, request, code):
        return Response(selectors.room_payload(_room(code)))

    @extend_schema(request=UpdateSerializer, responses=RoomOutputSerializer)
    def patch(self, request, code):
        room = _room(code)
        data = self.UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.room_update(room=room, actor=_actor(request, room), **data.validated_data)
        return Response(selectors.room_payload(room))


class RoomJoinApi(RoomApi):
    """Join with a name (guests) or as the signed-in user; the same person joining again
    gets the same singer. The browser session remembers a guest; API clients keep `token`
    and send it as `X-Singer-Token`."""

    public_methods = {"POST"}

    @extend_schema_serializer(component_name="PartyJoinInput")
    class InputSerializer(serializers.Serializer):
        display_name = TextField(max_length=80, required=False, default="", allow_blank=True)
        password = TextField(max_length=128, required=False, default="", allow_blank=True)

    @extend_schema_serializer(component_name="PartyJoinOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        room = serializers.CharField()
        is_guest = serializers.BooleanField()
        joined_at = serializers.DateTimeField()
        token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={
        201: OutputSerializer, 200: OutputSerializer,
        403: error(403, "A closed room, a wrong or missing room password."),
        409: error(409, "Someone here already has that name (`extra.suggestion`)."),
    })
    def post(self, request, code):
        room = _room(code)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = request.META.get(access.TOKEN_HEADER, "") or access.session_token(request.session, room)
        singer, created = throttles.singer_join(
            room=room, client=client_address(request), user=request.user, token=token, **data.validated_data
        )
        access.remember_singer(request.session, singer)
        body = {**selectors.singer_payload(singer), "token": singer.token}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class RoomLeaveApi(RoomApi):
    """Leave the room: your waiting songs are taken out of the queue."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request, code):
        room = _room(code)
        actor = _actor(request, room)
        if actor.singer is None:
            raise access.forbidden("You are not singing in this room.")
        services.singer_leave(singer=actor.singer)
        access.forget_singer(request.session, room)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SingerDetailApi(RoomApi):
    """Rename a singer: yourself (a singer), or anyone (the host). 409 when the name is taken
    (case-insensitive), with a suggestion."""

    @extend_schema_serializer(component_name="PartySingerRenameInput")
    class InputSerializer(serializers.Serializer):
        display_name = TextField(max_length=80)

    @extend_schema(request=InputSerializer, responses={200: SingerBriefSerializer, 409: error(409)})
    def patch(self, request, code, singer_id):
        room = _room(code)
        actor = _watcher(request, room)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        singer = services.singer_rename(room=room, actor=actor, singer_id=int(singer_id), **data.validated_data)
        return Response({"id": singer.pk, "name": singer.display_name})


class RoomHistoryApi(RoomApi):
    """What was sung and skipped in this room, the latest first (members)."""

    @extend_schema(responses=EntryOutputSerializer(many=True))
    def get(self, request, code):
        room = _room(code)
        _watcher(request, room)
        return Response(selectors.room_history(room=room))


# --- the queue ---------------------------------------------------------------------------


class QueueApi(RoomApi):
    """The waiting songs in the order they will play, with estimated starts; add one."""

    @extend_schema_serializer(component_name="PartyQueueAddInput")
    class InputSerializer(serializers.Serializer):
        song = serializers.UUIDField()
        key_shift = NullableIntegerField(
            min_value=-12, max_value=12, required=False, default=None,
            help_text="Semitones; left out (or null): the key this singer last chose for the song, else 0.",
        )

    @extend_schema(responses=QueuedEntryOutputSerializer(many=True))
    def get(self, request, code):
        room = _room(code)
        _watcher(request, room)
        return Response(_queue(room))

    @extend_schema(request=InputSerializer, responses={
        201: QueuedEntryOutputSerializer,
        400: error(400, "Invalid, or a song that is unknown, deleted or failed."),
        409: error(409, "The singer's limit of waiting songs (`extra.limit`)."),
    })
    def post(self, request, code):
        room = _room(code)
        actor = _actor(request, room)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.queue_add(
            room=room, actor=actor, song=_song(data.validated_data["song"]), key_shift=data.validated_data["key_shift"]
        )
        return Response(_queued(room, entry.pk), status=status.HTTP_201_CREATED)


def _queued(room: Room, entry_id: int) -> dict:
    """The entry as the queue shows it (with its place), or plain if it is no longer waiting."""
    for item in _queue(room):
        if item["id"] == entry_id:
            return item
    entry = QueueEntry.objects.select_related("song", "singer").get(pk=entry_id)
    return selectors.entry_payload(entry, {})


class QueueEntryApi(RoomApi):
    """Change an entry (key or song: its singer or a host; position: a host, null unpins) or remove it."""

    @extend_schema_serializer(component_name="PartyEntryUpdateInput")
    class InputSerializer(serializers.Serializer):
        key_shift = serializers.IntegerField(min_value=-12, max_value=12, required=False)
        song = serializers.UUIDField(required=False)
        position = NullableIntegerField(min_value=0, max_value=10_000, required=False)

    @extend_schema(request=InputSerializer, responses={200: QueuedEntryOutputSerializer, 409: error(409)})
    def patch(self, request, code, entry_id):
        entry_id = int(entry_id)
        room = _room(code)
        actor = _watcher(request, room)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if "song" in changes:
            changes["song"] = _song(changes["song"])
        if "position" not in changes:
            changes["position"] = services.UNSET
        services.queue_update(room=room, actor=actor, entry_id=entry_id, **changes)
        return Response(_queued(room, entry_id))

    @extend_schema(request=None, responses={204: None, 409: error(409, "The entry is no longer waiting.")})
    def delete(self, request, code, entry_id):
        entry_id = int(entry_id)
        room = _room(code)
        services.queue_remove(room=room, actor=_watcher(request, room), entry_id=entry_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueueReorderApi(RoomApi):
    """The host moves one entry to a place in the waiting list (0: play next); the answer is the new queue."""

    @extend_schema_serializer(component_name="PartyReorderInput")
    class InputSerializer(serializers.Serializer):
        entry = serializers.IntegerField(min_value=1, max_value=MAX_ID)
        position = NullableIntegerField(min_value=0, max_value=10_000, help_text="null unpins.")

    @extend_schema(request=InputSerializer, responses={200: QueuedEntryOutputSerializer(many=True), 409: error(409)})
    def post(self, request, code):
        room = _room(code)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.queue_move(
            room=room, actor=_actor(request, room), entry_id=data.validated_data["entry"],
            position=data.validated_data["position"],
        )
        return Response(_queue(room))


# --- the player --------------------------------------------------------------------------


class PlayerApi(RoomApi):
    """The TV's state (members); its buttons (the host, or a TV signed in as the host)."""

    @extend_schema_serializer(component_name="PartyPlayerInput")
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=services.PLAYER_ACTIONS)
        position = serializers.FloatField(min_value=0, max_value=24 * 3600, required=False, help_text="seek: seconds.")
        entry = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_ID,
            help_text="next/skip: the entry the caller thinks is current; if another is, nothing happens.",
        )

    @extend_schema(responses=PlayerOutputSerializer)
    def get(self, request, code):
        room = _room(code)
        _watcher(request, room)
        return Response(_player(room))

    @extend_schema(request=InputSerializer, responses={
        200: PlayerOutputSerializer, 409: error(409, "Nothing playing to skip, pause or seek; nothing that can play."),
    })
    def post(self, request, code):
        room = _room(code)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        room = services.player_control(
            room=room, actor=_actor(request, room), action=data.validated_data["action"],
            position=data.validated_data.get("position"), expected_entry=data.validated_data.get("entry"),
        )
        return Response(_player(room))


# --- song requests -------------------------------------------------------------------------


@extend_schema_serializer(component_name="PartyRequestProgress")
class RequestProgressSerializer(serializers.Serializer):
    stage = serializers.CharField(help_text="download, transcode, separate, enrich or lyrics.")
    status = serializers.CharField()
    percent = serializers.IntegerField()
    message = serializers.CharField()


@extend_schema_serializer(component_name="PartyRequest")
class RequestOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    singer = SingerBriefSerializer()
    video_id = serializers.CharField()
    title = serializers.CharField()
    channel = serializers.CharField()
    duration = serializers.FloatField(allow_null=True)
    thumbnail = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="pending, approved, ready, denied, failed or cancelled.")
    status_label = serializers.CharField()
    reason = serializers.CharField(help_text="Why it was denied or failed (empty otherwise).")
    song = serializers.UUIDField(allow_null=True)
    entry = serializers.IntegerField(allow_null=True, help_text="Its queue entry, once approved.")
    progress = RequestProgressSerializer(allow_null=True, help_text="While its song is being prepared.")
    ready_in_seconds = serializers.IntegerField(
        allow_null=True, help_text="Estimate from the work ahead on each cluster and this machine's measured speeds."
    )
    ready_in_minutes = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)


def _request_out(request_id: int) -> dict:
    request = SongRequest.objects.select_related("singer", "room", "song").get(pk=request_id)
    return selectors.request_payload(request)


class RequestListApi(RoomApi):
    """Song requests: the room's live and recent ones (the host sees all, a singer their
    own); ask for a YouTube video (a singer)."""

    @extend_schema_serializer(component_name="PartyRequestInput")
    class InputSerializer(serializers.Serializer):
        video = TextField(max_length=2000, help_text="A YouTube video id or link (watch, youtu.be, shorts, music).")

    @extend_schema(responses=RequestOutputSerializer(many=True))
    def get(self, request, code):
        room = _room(code)
        actor = _watcher(request, room)
        mine = None if actor.is_host else actor.singer
        return Response([selectors.request_payload(r) for r in selectors.room_requests(room=room, singer=mine)])

    @extend_schema(request=InputSerializer, responses={
        201: RequestOutputSerializer,
        400: error(400, "Invalid, not a YouTube video, or longer than the room allows."),
        409: error(409, "Too many pending requests (`extra.limit`), or this video again."),
        503: error(503),
    })
    def post(self, request, code):
        room = _room(code)
        actor = _actor(request, room)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = requests.request_create(room=room, actor=actor, video=data.validated_data["video"])
        return Response(_request_out(made.pk), status=status.HTTP_201_CREATED)


class RequestDetailApi(RoomApi):
    """Answer a request (the host: approve or deny, with a reason) or take it back (its singer, while pending)."""

    @extend_schema_serializer(component_name="PartyRequestDecision")
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(choices=["approve", "deny"])
        reason = TextField(max_length=300, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses={200: RequestOutputSerializer, 409: error(409), 503: error(503)})
    def patch(self, request, code, request_id):
        room = _room(code)
        actor = _watcher(request, room)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = requests.request_decide(room=room, actor=actor, request_id=int(request_id), **data.validated_data)
        return Response(_request_out(decided.pk))

    @extend_schema(request=None, responses={204: None, 409: error(409, "The request is no longer pending.")})
    def delete(self, request, code, request_id):
        room = _room(code)
        actor = _watcher(request, room)
        requests.request_cancel(room=room, actor=actor, request_id=int(request_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_serializer(component_name="PartyYoutubeHit")
class YoutubeHitSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    channel = serializers.CharField(allow_null=True)
    duration = serializers.FloatField(allow_null=True)
    thumbnail = serializers.CharField(allow_null=True)
    song = serializers.UUIDField(allow_null=True, help_text="The library's song for this video: add it instead.")


class RoomYoutubeSearchApi(RoomApi):
    """A singer searches YouTube to request a song (rate-limited per singer); a pasted link
    is answered as its one video."""

    @extend_schema(
        responses={200: YoutubeHitSerializer(many=True), 503: error(503)},
        parameters=[OpenApiParameter(
            "q", str, required=True, pattern=SEARCH_PATTERN,
            description=f"What to look for (at least {requests.SEARCH_MIN_CHARS} characters, spaces between words "
                        "counted once, those around not at all), or a YouTube link.",
        )],
    )
    def get(self, request, code):
        room = _room(code)
        actor = _watcher(request, room)
        hits = requests.youtube_hits_for(room=room, actor=actor, query=request.query_params.get("q", ""))
        return Response([
            {"id": hit.id, "title": hit.title, "channel": hit.channel, "duration": hit.duration,
             "thumbnail": hit.thumbnail_url or None, "song": str(hit.song.pk) if hit.song else None}
            for hit in hits
        ])
