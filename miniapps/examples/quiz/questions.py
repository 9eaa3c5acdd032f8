"""Today's question: pure, picked by the date, so every member of every group gets the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Question:
    text: str
    choices: tuple[str, ...]
    answer: int


QUESTIONS = (
    Question("Which chain does a Merkle distributor run on here?", ("EVM", "TON", "None"), 0),
    Question(
        "Who holds the keys of a linked wallet?", ("The gateway", "The member", "Telegram"), 1
    ),
    Question("What does every point in the ledger name?", ("A price", "A wallet", "Its cause"), 2),
)


def question_for(day: date) -> tuple[str, Question]:
    """The day's question and its id (the ISO date: one question, hence one credit, a day)."""
    return day.isoformat(), QUESTIONS[day.toordinal() % len(QUESTIONS)]
