"""Small filters of the party's templates."""

from django import template

register = template.Library()


@register.filter
def mmss(seconds) -> str:
    """180.4 → "3:00"; empty for an unknown duration."""
    if seconds is None or seconds == "":
        return ""
    total = int(float(seconds))
    return f"{total // 60}:{total % 60:02d}"


# A request's song being prepared, in the singer's words: each pipeline stage
# (songs/pipeline/plan.py) as it runs, and as it waits for its turn.
STAGE_DOING = {"download": "Downloading", "transcode": "Converting", "separate": "Separating", "key": "Finding the key",
               "enrich": "Looking it up", "lyrics": "Finding the lyrics"}
STAGE_WAITING = {"download": "Waiting to download", "transcode": "Waiting to convert",
                 "separate": "Waiting to separate", "key": "Waiting to find the key", "enrich": "Waiting to look it up",
                 "lyrics": "Waiting for the lyrics"}


@register.filter
def request_step(progress) -> str:
    """A request payload's `progress` → "Downloading 40 %", "Waiting to separate (40 %)";
    empty when nothing runs for it."""
    if not progress:
        return ""
    stage, percent = progress.get("stage") or "", progress.get("percent") or 0
    if progress.get("status") in ("pending", "queued"):
        waiting = STAGE_WAITING.get(stage, "Waiting its turn")
        return f"{waiting} ({percent} %)" if percent else waiting
    doing = STAGE_DOING.get(stage, stage.capitalize() or "Preparing")
    if progress.get("status") == "retrying":
        return f"{doing}: trying again"
    return f"{doing} {percent} %"


@register.filter
def key_shift_label(semitones) -> str:
    """+2 → "+2", -3 → "−3" (a real minus), 0 → "0": a key change as the stepper shows it."""
    try:
        semitones = int(semitones)
    except (TypeError, ValueError):
        return ""
    return f"+{semitones}" if semitones > 0 else f"−{-semitones}" if semitones < 0 else "0"


@register.filter
def key_for(remembered, song_id) -> int:
    """A singer's remembered key for a song (queue_app.selectors.remembered_key_shifts), 0 when none."""
    return (remembered or {}).get(song_id, 0)


# The range the pages' steppers offer (the API takes the model's whole octave).
KEY_STEP_RANGE = 6


@register.inclusion_tag("queue_app/partials/_key_stepper.html", takes_context=True)
def key_stepper(context, shift, url="", target="", name="", status=""):
    """♭ / ♯ around the shift shown as "+2" (and the key it leads to, `name`, and where its
    render stands, `status`: an entry payload's key_name and key_status). With `url`, each
    button posts the key it leads to (hx-target `target`); without, they step the enclosing
    form's `key_shift` (static/js/party.js)."""
    shift = int(shift or 0)
    return {
        "shift": shift, "url": url, "target": target, "name": name if shift else "", "status": status,
        "lower": shift - 1, "higher": shift + 1,
        "can_lower": shift > -KEY_STEP_RANGE, "can_raise": shift < KEY_STEP_RANGE,
        "low": -KEY_STEP_RANGE, "high": KEY_STEP_RANGE, "csrf_token": context.get("csrf_token"),
    }


@register.filter
def about_seconds(seconds) -> str:
    """40 → "about 40 s", 150 → "about 3 min": a wait as the party pages say it."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return ""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    return f"about {round(seconds / 60)} min"
