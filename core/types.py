"""Column types shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, DateTime, Text, cast, type_coerce
from sqlalchemy.types import TypeDecorator

NAIVE_REFUSED = "naive datetime refused: use an aware UTC datetime"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite keeps no zone, so values come back naive there; this type stores UTC and always
    returns aware UTC datetimes, and refuses naive ones on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(NAIVE_REFUSED)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # On SQLite each of these is one function where SQLAlchemy's would be two (this type's
    # step around SQLite's text format), and the text is made and read by `datetime`'s own
    # ISO methods: a scored message converts a dozen dates, and this halves what they cost.
    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_datetime


def _sqlite_text(value: datetime | None) -> str | None:
    """`value` in SQLAlchemy's SQLite format (`2026-01-02 03:04:05.000006`), in UTC."""
    if value is None:
        return None
    zone = value.tzinfo
    if zone is not UTC:
        if zone is None:
            raise ValueError(NAIVE_REFUSED)
        value = value.astimezone(UTC)
    # The first 26 characters leave out the offset, which is always +00:00 here.
    return value.isoformat(" ", "microseconds")[:26]


def _sqlite_datetime(value: str | None) -> datetime | None:
    """A stored SQLite date as an aware UTC datetime."""
    if value is None:
        return None
    read = datetime.fromisoformat(value)
    return read.replace(tzinfo=UTC) if read.tzinfo is None else read.astimezone(UTC)


class IntListsJSON(TypeDecorator[Any]):
    """A JSON column of lists of integers within 64 bits, such as `[[ts, hash], ...]`.

    Stored as any JSON column is, but encoded and decoded by orjson rather than the standard
    library's `json`: every scored message reads and rewrites its member's list of recent text
    hashes (up to 64 pairs), and `json` took most of that time. orjson gives the same values for
    integers within 64 bits and refuses to encode larger ones (it would read them back as floats).
    asyncpg decodes PostgreSQL's JSON itself (with `json`) unless the column is read as text
    (`as_text`).
    """

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Any:
        def process(value: Any) -> str | None:
            return None if value is None else orjson.dumps(value).decode()

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        # Text (SQLite's, or PostgreSQL's read `as_text`) is decoded here; lists that asyncpg
        # decoded, and NULL, pass as they are.
        def decode(value: Any) -> Any:
            return orjson.loads(value) if isinstance(value, str | bytes) else value

        return decode

    @staticmethod
    def as_text(column: Any) -> Any:
        """`column` read as its JSON text (decoded by orjson rather than by asyncpg's `json`);
        its value is the same list."""
        return type_coerce(cast(column, Text), IntListsJSON())
