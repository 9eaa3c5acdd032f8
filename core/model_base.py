"""The base of the SQLModel tables and of the field sets they share with API schemas."""

from __future__ import annotations

from sqlmodel import SQLModel
from sqlmodel.main import SQLModelConfig


class DeferredModel(SQLModel):
    """A SQLModel whose pydantic validator and serializer are built on first use.

    A table's model never validates what it is built from (SQLModel hands table rows to
    SQLAlchemy unchecked) and is written and read through SQLAlchemy, so the validators pydantic
    would build with each class are seldom or never used. Built with the classes, those of the 39
    tables and their shared field sets made importing the models take about 270 ms of CPU instead
    of 200 ms, in every process's start-up, the gateway's included.
    """

    model_config = SQLModelConfig(defer_build=True)
