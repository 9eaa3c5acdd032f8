"""Tables' models build their pydantic validators on first use, and then validate as before."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.models import MemberPublic

ROOT = Path(__file__).resolve().parents[2]

# Run in a new interpreter: other tests may have used the models already.
PROBE = """
import json, sys
from sqlmodel import SQLModel
from bot.gateway import create_app
from core.settings import Settings

create_app(Settings(mode="sandbox", data_dir=sys.argv[1]), register=False)

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

tables = {c.__name__: c.__pydantic_complete__ for c in subclasses(SQLModel)
          if hasattr(c, "__table__")}
print(json.dumps(tables))
"""


def test_no_table_builds_its_validator_while_the_gateway_starts(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    built = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(built) >= 39
    assert [name for name, complete in built.items() if complete] == []


def test_a_deferred_schema_still_validates_and_serialises() -> None:
    member = MemberPublic.model_validate({"id": 7, "first_name": "Ann", "username": "ann"})
    assert member.model_dump()["username"] == "ann"
    with pytest.raises(ValidationError, match="username"):
        MemberPublic.model_validate({"id": 7, "username": "x" * 65})
