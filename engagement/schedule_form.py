"""The managers' scheduling form, as pure functions: times, windows and campaign names.

Times are UTC, written `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`; an end may
also be a duration after the start. Every refusal is a `ScheduleError` whose `code` names the
problem and whose `params` fill the text the bot shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

KEYS = ("start", "end")
# A campaign name is one word people can type back: letters, digits, `-`, `_` and `.`.
NAME = re.compile(r"[\w.-]{1,64}")
DURATION = re.compile(r"([1-9][0-9]{0,3})([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}
TIME_FORMATS = ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


class ScheduleError(ValueError):
    """A refused scheduling request: `code` names the problem, `params` fill its text."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params


@dataclass(frozen=True, slots=True)
class Window:
    """When an epoch runs: `start` (now when None) to `end` (open-ended when None)."""

    start: datetime | None = None
    end: datetime | None = None
    end_after: timedelta | None = None

    def resolve(self, now: datetime) -> tuple[datetime, datetime | None]:
        """The start and the end, as instants; an unset start is `now`."""
        start = self.start or now
        if self.end_after is not None:
            return start, start + self.end_after
        return start, self.end


def whole_second(now: datetime) -> datetime:
    """`now` rounded up to a whole second. Telegram dates causes in whole seconds, so an
    epoch starting or ending "now" must not split the current second: a message of this
    very second stays in the epoch that was open when it was sent."""
    if now.microsecond:
        return now.replace(microsecond=0) + timedelta(seconds=1)
    return now


def parse_time(value: str) -> datetime:
    """A UTC time written `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS`.

    Raises:
        ScheduleError: `bad_time` for anything else.
    """
    for layout in TIME_FORMATS:
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ScheduleError("bad_time", value=value)


def parse_window(args: list[str]) -> Window:
    """`start=TIME end=TIME` (either may be left out); `end` may also be a duration after the
    start: `7d`, `12h` or `90m`.

    Raises:
        ScheduleError: `bad_form` (not key=value), `unknown_key`, `repeated_key`, `bad_time`.
    """
    found: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not value:
            raise ScheduleError("bad_form", value=arg)
        if key not in KEYS:
            raise ScheduleError("unknown_key", key=key)
        if key in found:
            raise ScheduleError("repeated_key", key=key)
        found[key] = value
    start = parse_time(found["start"]) if "start" in found else None
    end_text = found.get("end")
    if end_text is None:
        return Window(start=start)
    duration = DURATION.fullmatch(end_text)
    if duration is not None:
        amount, unit = duration.groups()
        return Window(start=start, end_after=timedelta(**{UNITS[unit]: int(amount)}))
    return Window(start=start, end=parse_time(end_text))


def check_name(name: str) -> str:
    """A campaign name as given, if it is one word of at most 64 characters.

    Raises:
        ScheduleError: `bad_name`.
    """
    if NAME.fullmatch(name) is None:
        raise ScheduleError("bad_name", value=name[:64])
    return name


def check_times(start: datetime, end: datetime | None, *, now: datetime) -> None:
    """An epoch starts no later than now (points are never credited ahead) and, when it has
    an end, ends after both its start and now.

    Raises:
        ScheduleError: `start_in_future`, `end_before_start`, `end_in_past`.
    """
    if start > whole_second(now):
        raise ScheduleError("start_in_future", start=start)
    if end is not None and end <= start:
        raise ScheduleError("end_before_start", start=start, end=end)
    if end is not None and end <= now:
        raise ScheduleError("end_in_past", end=end)
