"""The rules schema, its defaults and the `/setrules key=value` form."""

from __future__ import annotations

import pytest

from engagement.rules import (
    DEFAULT_RULES,
    MAX_WINDOW,
    Rules,
    RulesError,
    apply_changes,
    parse_form,
    settings_table,
)


def test_defaults_validate_and_round_trip() -> None:
    assert Rules.model_validate(DEFAULT_RULES.model_dump()) == DEFAULT_RULES
    assert DEFAULT_RULES.message.cooldown_seconds <= MAX_WINDOW
    assert DEFAULT_RULES.message.duplicate_window_seconds <= MAX_WINDOW


def test_every_listed_key_can_be_set_to_its_own_value() -> None:
    table = settings_table(DEFAULT_RULES)
    assert len({key for key, _, _ in table}) == len(table)
    assert all(description for _, _, description in table)
    changes = {key: str(value) for key, value, _ in table}
    assert apply_changes(DEFAULT_RULES, changes) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("message.points=5", {"message.points": "5"}),
        ("message.points=5, invite.points=1", {"message.points": "5", "invite.points": "1"}),
        ("Message.Points=5\ninvite.points=2", {"message.points": "5", "invite.points": "2"}),
    ],
)
def test_parse_form(form: str, expected: dict[str, str]) -> None:
    assert parse_form(form) == expected


@pytest.mark.parametrize("form", ["", "   ", "message.points", "=5", "message.points="])
def test_malformed_forms_are_refused(form: str) -> None:
    with pytest.raises(RulesError):
        parse_form(form)


def test_changes_apply() -> None:
    rules = apply_changes(
        DEFAULT_RULES,
        {"message.points": "5", "interactions.max_per_message": "3", "app_events.quiz": "7"},
    )
    assert rules.message.points == 5
    assert rules.interactions.max_per_message == 3
    assert rules.app_events == {"quiz": 7}
    assert rules.message.cooldown_seconds == DEFAULT_RULES.message.cooldown_seconds
    assert apply_changes(rules, {"max_manual": "50"}).max_manual == 50


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"message.points": "-1"}, "message.points"),
        ({"message.points": "lots"}, "message.points"),
        ({"message.cooldown_seconds": str(MAX_WINDOW + 1)}, "message.cooldown_seconds"),
        ({"message.diminishing_percent": "101"}, "message.diminishing_percent"),
        ({"message.colour": "blue"}, "message.colour: unknown setting"),
        ({"nonsense": "1"}, "nonsense: unknown setting"),
        ({"message": "1"}, "message: unknown setting"),
        ({"app_events.quiz": "many"}, "app_events.quiz"),
        ({"max_manual": "0"}, "max_manual"),
    ],
)
def test_invalid_changes_name_the_problem(changes: dict[str, str], problem: str) -> None:
    with pytest.raises(RulesError) as caught:
        apply_changes(DEFAULT_RULES, changes)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_rules_are_immutable() -> None:
    with pytest.raises(ValueError, match="frozen"):
        DEFAULT_RULES.message.points = 1  # type: ignore[misc]
