"""Environment helpers for settings.

Every setting that comes from the environment goes through one of these, so a
typo ("DEBUG=ture", "PORT=80a") stops the site at start-up with a message that
names the variable, instead of silently meaning something else.
"""

import json
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of true/false, 1/0, yes/no, on/off."
    )


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is too small: the minimum is {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is too large: the maximum is {maximum}.")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is too small: the minimum is {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is too large: the maximum is {maximum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value.lower()


def env_path(name: str, default: Path) -> Path:
    value = _raw(name)
    path = Path(value).expanduser() if value is not None else default
    return path.resolve()


def env_url(name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
    value = _raw(name)
    if value is None:
        return default
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a URL with one of the schemes: {', '.join(schemes)}."
        )
    return value


def env_float_list(name: str, default: list[float], *, minimum: float = 0.0) -> list[float]:
    value = _raw(name)
    if value is None:
        return list(default)
    numbers = []
    for item in (part.strip() for part in value.split(",") if part.strip()):
        try:
            number = float(item)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r}: {item!r} is not a number.") from None
        if number < minimum:
            raise ImproperlyConfigured(f"{name}={value!r}: {item} is below the minimum {minimum}.")
        numbers.append(number)
    return numbers


def env_json_object(name: str, default: dict) -> dict:
    """A JSON object, e.g. ``{"proxy": "socks5://127.0.0.1:1080"}``."""
    value = _raw(name)
    if value is None:
        return dict(default)
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON ({exc}).") from None
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured(f"{name} should be a JSON object, like {{\"proxy\": \"socks5://host:1080\"}}.")
    return parsed


_RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate as `count/period`: "10/15m" is (10, 900). The period is a number of s, m, h or
    d ("m" alone is one minute)."""
    value = _raw(name) or default
    count, _, period = value.partition("/")
    period = period.strip().lower()
    unit = _RATE_UNITS.get(period[-1:]) if period else None
    amount = period[:-1] or "1"
    if not count.strip().isdigit() or int(count) < 1 or unit is None or not amount.isdigit() or int(amount) < 1:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate: write count/period, e.g. 10/15m (periods in s, m, h or d)."
        )
    return int(count), int(amount) * unit
