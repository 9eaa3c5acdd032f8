"""A group's scoring rules: the documented schema, its defaults, the `/setrules` form, versions.

Rules are versioned: a change is a new row with the time it takes effect, and every ledger entry
names the version that produced it. The version applied to a cause is the one in force at the
cause's date, so replaying an update later gives the same result.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from core.clock import utcnow
from core.models_engagement import RuleSet
from engagement import sql

# The longest look-back any rule may ask for; the scorer keeps one day of history.
MAX_WINDOW = 86_400
SINCE_ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageRules(_Strict):
    """Points for a member's own messages."""

    points: int = Field(10, ge=0, le=1000, description="points for a message that counts")
    min_length: int = Field(
        12, ge=0, le=1000, description="minimum length (letters; a CJK character counts 2)"
    )
    cooldown_seconds: int = Field(
        60, ge=0, le=MAX_WINDOW, description="after a message that earned, later ones wait this"
    )
    daily_cap: int = Field(300, ge=0, le=1_000_000, description="most message points a day")
    full_points_messages: int = Field(
        20, ge=1, le=10_000, description="earning messages a day before returns diminish"
    )
    diminishing_percent: int = Field(
        50, ge=0, le=100, description="each further block earns this percent of the one before"
    )
    duplicate_window_seconds: int = Field(
        3600,
        ge=0,
        le=MAX_WINDOW,
        description="repeating one's own paid text within this earns 0 and restarts it",
    )
    near_duplicate_bits: int = Field(
        3, ge=0, le=16, description="texts whose simhashes differ in at most this many bits"
    )


class InteractionRules(_Strict):
    """Points to an author when other members reply to or react on their message."""

    reply_points: int = Field(3, ge=0, le=1000, description="to the author, per replier")
    reaction_points: int = Field(1, ge=0, le=1000, description="to the author, per reactor")
    max_per_message: int = Field(
        10, ge=0, le=1000, description="distinct members counted per message and kind"
    )


class InviteRules(_Strict):
    """Points to a member whose own invite link brought someone who then took part."""

    points: int = Field(20, ge=0, le=100_000, description="per invited member who writes")


class Rules(_Strict):
    """Everything a group can set. The defaults are what a new group starts with."""

    message: MessageRules = MessageRules()
    interactions: InteractionRules = InteractionRules()
    invite: InviteRules = InviteRules()
    app_events: dict[str, int] = Field(
        default_factory=dict, description="mini-app event name -> points"
    )
    max_manual: int = Field(10_000, ge=1, le=1_000_000, description="largest /grant or /penalize")


DEFAULT_RULES = Rules()


class RulesError(ValueError):
    """A rules change that does not validate; `problems` lists each one, readable by a manager."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def settings_table(rules: Rules) -> list[tuple[str, Any, str]]:
    """Every settable key as `(dotted.key, value, description)`, for `/rules` and the form."""
    rows: list[tuple[str, Any, str]] = []
    for section in ("message", "interactions", "invite"):
        part: BaseModel = getattr(rules, section)
        for name, info in type(part).model_fields.items():
            rows.append((f"{section}.{name}", getattr(part, name), info.description or ""))
    for name, points in sorted(rules.app_events.items()):
        rows.append((f"app_events.{name}", points, "points for this mini-app event"))
    rows.append(
        ("max_manual", rules.max_manual, Rules.model_fields["max_manual"].description or "")
    )
    return rows


def parse_form(text: str) -> dict[str, str]:
    """Reads `key=value` pairs separated by spaces, commas or new lines."""
    pairs: dict[str, str] = {}
    problems: list[str] = []
    for token in text.replace(",", " ").split():
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            problems.append(f"'{token}': write key=value")
            continue
        pairs[key.strip().lower()] = value.strip()
    if problems:
        raise RulesError(problems)
    if not pairs:
        raise RulesError(["no changes given"])
    return pairs


def apply_changes(rules: Rules, changes: dict[str, str]) -> Rules:
    """A new `Rules` with the dotted-key changes applied, validated as a whole.

    Raises:
        RulesError: an unknown key or a value out of range; the current rules are untouched.
    """
    data = rules.model_dump()
    problems: list[str] = []
    for key, raw in changes.items():
        section, _, name = key.partition(".")
        if section == "app_events" and name:
            data["app_events"][name] = raw
        elif not name and section in data and not isinstance(data[section], dict):
            data[section] = raw
        elif name and isinstance(data.get(section), dict) and name in data[section]:
            data[section][name] = raw
        else:
            problems.append(f"{key}: unknown setting")
    try:
        validated = Rules.model_validate(data)
    except ValidationError as exc:
        problems += [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    if problems:
        raise RulesError(problems)
    return validated


# Keyed by the database too: one process may serve several (tests, benchmarks, a migration
# check), and a version number names different rules in each.
_CACHE: OrderedDict[tuple[str, int, int], Rules] = OrderedDict()
_CACHE_SIZE = 4096


# Each engine's URL as text, worked out once: this runs for every message scored, and rendering
# (or hashing) a URL costs more than the rest of the lookup.
_DATABASES: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _database(session: AsyncSession) -> str:
    bind = session.bind
    if bind is None:
        return ""
    known = _DATABASES.get(bind)
    if known is None:
        known = _DATABASES[bind] = str(getattr(bind, "url", None) or bind.engine.url)
    return known


async def load_version(*, session: AsyncSession, chat_id: int, version: int) -> Rules:
    """The rules of one version (0: the defaults). Versions never change, so they are cached.

    Raises:
        LookupError: the group has no such version.
    """
    key = (_database(session), chat_id, version)
    cached = _CACHE.get(key)
    if cached is not None:
        _CACHE.move_to_end(key)
        return cached
    if version == 0:
        return DEFAULT_RULES
    row = await session.get(RuleSet, (chat_id, version))
    if row is None:
        msg = f"group {chat_id} has no rules version {version}"
        raise LookupError(msg)
    rules = Rules.model_validate(row.rules)
    _CACHE[key] = rules
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return rules


def version_at(chat_id: Any, at: Any) -> Any:
    """A scalar subquery: the version in force at `at` (None before the group's first)."""
    table = RuleSet.__table__  # type: ignore[attr-defined]
    return (
        select(func.max(table.c.version))
        .where(table.c.chat_id == chat_id, table.c.effective_at <= at)
        .scalar_subquery()
    )


async def current(*, session: AsyncSession, chat_id: int) -> tuple[int, Rules]:
    """The version in force now and its rules (version 0, the defaults, before any is stored)."""
    version = await sql.scalar(session, select(version_at(chat_id, utcnow())))
    if version is None:
        return 0, DEFAULT_RULES
    return int(version), await load_version(session=session, chat_id=chat_id, version=version)


async def ensure_initial(*, session: AsyncSession, chat_id: int) -> None:
    """Stores the defaults as version 1, in force since always, unless the group has rules."""
    stmt = (
        sql.upsert(session, RuleSet)
        .values(
            chat_id=chat_id,
            version=1,
            rules=DEFAULT_RULES.model_dump(),
            effective_at=SINCE_ALWAYS,
            created_by=None,
            note="defaults",
        )
        .on_conflict_do_nothing()
    )
    await sql.run(session, stmt)


async def set_rules(
    *, session: AsyncSession, chat_id: int, rules: Rules, by: int | None, note: str = ""
) -> RuleSet:
    """Stores `rules` as the group's next version, in force from now.

    Two managers saving at once collide on the `(chat_id, version)` key; the loser's
    transaction fails and is retried, so versions stay a gap-free sequence.
    """
    await ensure_initial(session=session, chat_id=chat_id)
    table = RuleSet.__table__  # type: ignore[attr-defined]
    latest = await sql.scalar(
        session, select(func.max(table.c.version)).where(table.c.chat_id == chat_id)
    )
    row = RuleSet(
        chat_id=chat_id,
        version=int(latest or 0) + 1,
        rules=rules.model_dump(),
        # Telegram dates have whole seconds: a change applies from the second it is made in.
        effective_at=utcnow().replace(microsecond=0),
        created_by=by,
        note=note[:256],
    )
    session.add(row)
    await session.flush()
    return row


async def history(*, session: AsyncSession, chat_id: int) -> list[RuleSet]:
    """Every version of a group's rules, oldest first."""
    stmt = orm_select(RuleSet).where(col(RuleSet.chat_id) == chat_id).order_by(col(RuleSet.version))
    return list((await session.exec(stmt)).all())
