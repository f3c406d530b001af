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
