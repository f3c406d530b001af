"""The Library page: search as you type, add by link, upload or a YouTube search, per-song actions.

HTMX-aware function views. Reads go through songs.selectors, writes through the
services; a refusal (ApplicationError) is shown where the user acted, with its
4xx status. static/js/encore.js tells htmx to swap those 4xx answers. The rows are
kept up to date by /ws/library/html/ (songs/consumers.py), which pushes the same
`_song.html` partial.
"""


from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.decorators import staff_required
from common.errors import ApplicationError
from common.throttle import with_retry_after
from songs import imports, selectors, services
from songs.models import Song
from songs.pipeline.plan import DEFAULT_REPROCESS_STAGE, stage_names

# The page shows this many rows; searching narrows it down.
LIST_LIMIT = 100


class SongFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Song.Status.choices])
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Song.Source.choices])
    deleted = forms.BooleanField(required=False, label="Show deleted")


class SongEditForm(forms.Form):
    """The Library's inline edit: what a host most often fixes by hand."""

    title = forms.CharField(max_length=300, required=False)
    artist = forms.CharField(max_length=300, required=False)
    album = forms.CharField(max_length=300, required=False)
    # Checked and written as the library writes keys ("f# min" → "F♯ minor") by the service.
    key = forms.CharField(max_length=32, required=False)
    lyrics = forms.CharField(required=False, strip=False, max_length=100_000,
                             widget=forms.Textarea(attrs={"rows": 8}), help_text="LRC ([mm:ss.xx] lines) or plain words.")


def _lyrics_text(song: Song) -> str:
    return song.lyrics_synced or song.lyrics_plain or ""


def _filters(form: SongFilterForm) -> dict:
    # An invalid value (a hand-edited URL) is ignored rather than refused.
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return {
        "query": data.get("q") or "",
        "status": data.get("status") or None,
        "source": data.get("source") or None,
        "include_deleted": bool(data.get("deleted")),
    }


def _row_context(song, **extra) -> dict:
    return {"song": song, "stages": stage_names(), "default_stage": DEFAULT_REPROCESS_STAGE, **extra}


def _render_row(request, song_id, *, error: str = "", status: int = 200):
    try:
        song = selectors.song_row(song_id=song_id)
    except Song.DoesNotExist:
        if request.htmx:
            # Gone (hard-deleted elsewhere): the empty answer removes the row.
            return HttpResponse("", status=404)
        raise Http404("No such song.") from None
    return render(request, "songs/partials/_song.html", _row_context(song, error=error), status=status)


def _get_song(request, song_id) -> Song | None:
    """The song, or None for an HTMX request about a song that is gone (404 for the others)."""
    try:
        return Song.objects.get(pk=song_id)
    except Song.DoesNotExist:
        if request.htmx:
            return None
        raise Http404("No such song.") from None


def _library_page(request, *, status: int = 200, filter_data=None, **extra):
    since = timezone.now()  # before the read: the socket resends what changed after it, on every (re)connect
    form = SongFilterForm(request.GET if filter_data is None else filter_data)
    songs = selectors.song_rows(selectors.song_search(**_filters(form)))
    context = {
        "filter_form": form,
        "songs": songs[:LIST_LIMIT],
        "total": songs.count(),
        "limit": LIST_LIMIT,
        "stages": stage_names(),
        "default_stage": DEFAULT_REPROCESS_STAGE,
        "upload_max_mb": settings.UPLOAD_MAX_MB,
        "since": since,
        **extra,
    }
    if request.htmx and request.method == "GET" and not request.htmx.history_restore_request:
        return render(request, "songs/partials/_song_list.html", context, status=status)
    return render(request, "songs/library.html", context, status=status)


@require_GET
@staff_required
def library(request):
    return _library_page(request)


@require_GET
@staff_required
def song_row(request, song_id):
    if not request.htmx:
        return redirect("songs:library")
    return _render_row(request, song_id)


def _added(request, result: imports.ImportResult, *, form: str):
    song = selectors.song_row(song_id=result.song.pk)
    if not request.htmx:
        (messages.success if result.created else messages.info)(request, result.message)
        return redirect("songs:library")
    context = _row_context(song, result=result, form=form)
    return render(request, "songs/partials/_added.html", context, status=201 if result.created else 200)


def _add_refused(request, message: str, status: int, *, form: str):
    if request.htmx:
        return render(request, "songs/partials/_add_result.html", {"error": message, "form": form}, status=status)
    return _library_page(request, status=status, **{f"{form}_error": message})


@require_POST
@staff_required
def song_add(request):
    url = request.POST.get("url", "").strip()
    if not url:
        return _add_refused(request, "Paste a link to a song first.", 400, form="link")
    try:
        imports.IMPORTS.hit_or_refuse(request.user.pk)
        result = imports.song_import_url(url=url, user=request.user)
    except ApplicationError as exc:
        return with_retry_after(_add_refused(request, exc.message, exc.status_code, form="link"), exc)
    return _added(request, result, form="link")


@require_POST
@staff_required
def song_upload(request):
    """One file (the page's JavaScript sends several one by one, each with its progress),
    or, without JavaScript, every file chosen: each is imported or refused on its own."""
    uploaded = request.FILES.getlist("file")
    if not uploaded:
        return _add_refused(request, "Choose an audio file to upload.", 400, form="upload")
    if len(uploaded) > 1:
        return _upload_many(request, uploaded)
    try:
        imports.IMPORTS.hit_or_refuse(request.user.pk)
        result = imports.song_import_upload(
            uploaded=uploaded[0], user=request.user,
            title=request.POST.get("title", "").strip(), artist=request.POST.get("artist", "").strip(),
        )
    except ApplicationError as exc:
        return with_retry_after(_add_refused(request, exc.message, exc.status_code, form="upload"), exc)
    return _added(request, result, form="upload")


def _upload_many(request, uploaded):
    # The title and artist fields name one song: with several files, each file's own tags do.
    outcomes = []
    for file in uploaded:
        try:
            imports.IMPORTS.hit_or_refuse(request.user.pk)
            result = imports.song_import_upload(uploaded=file, user=request.user)
            outcomes.append((file.name, result.message, ""))
        except ApplicationError as exc:
            outcomes.append((file.name, "", exc.message))
    if not request.htmx:
        for name, message, error in outcomes:
            (messages.error if error else messages.success)(request, f"{name}: {error or message}")
        return redirect("songs:library")
    status = 400 if all(error for _, _, error in outcomes) else 200
    return render(request, "songs/partials/_upload_results.html", {"outcomes": outcomes}, status=status)


@require_GET
@staff_required
def youtube_search(request):
    """Search YouTube; each result has an Add button (to song_add) or says it is in the library."""
    query = request.GET.get("q", "")
    context = {"youtube_query": " ".join(query.split())}
    try:
        context["youtube_hits"] = selectors.youtube_search_hits(query=query)
        status = 200
    except ApplicationError as exc:
        # 400 for a bad query, 503 when YouTube cannot be reached: shown where the host searched.
        context["youtube_error"], status = exc.message, exc.status_code
    if request.htmx:
        return render(request, "songs/partials/_youtube_results.html", context, status=status)
    # Without JavaScript: the whole page, its library list unfiltered (`q` here is the YouTube search).
    return _library_page(request, status=status, filter_data={}, **context)


def _song_action(request, song_id, action, *, done: str, removes_row: bool = False):
    song = _get_song(request, song_id)
    if song is None:
        return HttpResponse("", status=404)
    name = str(song)  # taken first: a hard delete leaves nothing to name
    try:
        action(song)
    except ApplicationError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("songs:library")
        return _render_row(request, song_id, error=exc.message, status=exc.status_code)
    if not request.htmx:
        messages.success(request, done.format(song=name))
        return redirect("songs:library")
    if removes_row:
        # The row's outerHTML becomes nothing.
        return HttpResponse("")
    return _render_row(request, song_id)


def _render_edit(request, song, form, *, error: str = "", status: int = 200):
    template = "songs/partials/_song_edit.html" if request.htmx else "songs/edit.html"
    return render(request, template, {"song": song, "form": form, "error": error}, status=status)


@require_http_methods(["GET", "POST"])
@staff_required
def song_edit(request, song_id):
    """Title, artist, album, key and lyrics, edited in the Library's row (the same service
    and locks as the API's PATCH): a changed field is locked against automatic enrichment."""
    song = _get_song(request, song_id)
    if song is None:
        return HttpResponse("", status=404)
    if request.method == "GET":
        initial = {"title": song.title, "artist": song.artist, "album": song.album, "key": song.key,
                   "lyrics": _lyrics_text(song)}
        return _render_edit(request, song, SongEditForm(initial=initial))
    form = SongEditForm(request.POST)
    if not form.is_valid():
        message = " ".join(f"{form.fields[name].label or name.capitalize()}: {' '.join(errors)}"
                           for name, errors in form.errors.items())
        return _render_edit(request, song, form, error=message, status=400)
    data = {name: form.cleaned_data[name].strip() for name in ("title", "artist", "album")}
    if "key" in request.POST:  # a form drawn before the field existed must not clear the key
        data["key"] = form.cleaned_data["key"].strip()
    lyrics = form.cleaned_data["lyrics"]
    if lyrics.replace("\r\n", "\n").strip() != _lyrics_text(song).strip():
        data["lyrics"] = lyrics  # only when changed: saving the same words would lock them
    try:
        services.song_update(song=song, data=data)
    except ApplicationError as exc:
        return _render_edit(request, song, form, error=exc.message, status=exc.status_code)
    if not request.htmx:
        messages.success(request, f"{song} was saved.")
        return redirect("songs:library")
    return _render_row(request, song_id)


@require_POST
@staff_required
def song_delete(request, song_id):
    return _song_action(
        request, song_id, lambda song: services.song_soft_delete(song=song),
        done="{song} is hidden from singers; you can restore it.",
    )


@require_POST
@staff_required
def song_restore(request, song_id):
    return _song_action(request, song_id, lambda song: services.song_restore(song=song), done="{song} is back.")


@require_POST
@staff_required
def song_reprocess(request, song_id):
    stage = request.POST.get("stage") or DEFAULT_REPROCESS_STAGE
    return _song_action(
        request, song_id, lambda song: imports.song_reprocess(song=song, stage=stage, user=request.user),
        done=f"{{song}} is being reprocessed from {stage}.",
    )


@require_POST
@staff_required
def song_hard_delete(request, song_id):
    return _song_action(
        request, song_id, lambda song: services.song_hard_delete(song=song),
        done="{song} was deleted for good.", removes_row=True,
    )
