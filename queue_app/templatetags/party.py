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
STAGE_DOING = {"download": "Downloading", "transcode": "Converting", "separate": "Separating",
               "enrich": "Looking it up", "lyrics": "Finding the lyrics"}
STAGE_WAITING = {"download": "Waiting to download", "transcode": "Waiting to convert",
                 "separate": "Waiting to separate", "enrich": "Waiting to look it up",
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
