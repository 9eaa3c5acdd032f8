"""Bot API parameters from a query string, a JSON body, a urlencoded or a multipart form.

Telegram accepts all of them; form fields arrive as strings, with nested objects such as
`reply_markup` JSON-encoded (aiogram sends exactly that), so each getter coerces.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from bot.sandbox.errors import bad_request
from core.clock import from_timestamp

TRUE = frozenset({"true", "1", "yes", "on"})
# Telegram's numbers are 64-bit; anything wider is refused before it reaches the database.
LIMIT = 2**63


class Params:
    """Typed access to one call's parameters, refusing bad values with Telegram's wording."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    async def from_request(cls, request: Request) -> Params:
        data: dict[str, Any] = dict(request.query_params)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if request.method == "POST" and kind == "application/json":
            body = await request.body()
            if body.strip():
                try:
                    decoded = json.loads(body)
                except ValueError:
                    raise bad_request("can't parse JSON request body") from None
                if not isinstance(decoded, dict):
                    raise bad_request("request body must be a JSON object")
                data.update(decoded)
        elif request.method == "POST" and kind in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            form = await request.form()
            for key, value in form.multi_items():
                data[key] = "attach" if isinstance(value, UploadFile) else value
        return cls(data)

    def has(self, name: str) -> bool:
        return self.data.get(name) not in (None, "")

    def opt_str(self, name: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def req_str(self, name: str) -> str:
        value = self.opt_str(name, required=True)
        assert value is not None
        return value

    def opt_int(self, name: str, *, required: bool = False) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None
        if not -LIMIT < number < LIMIT:
            raise bad_request(f"invalid {name} specified")
        return number

    def req_int(self, name: str) -> int:
        value = self.opt_int(name, required=True)
        assert value is not None
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in TRUE

    def obj(self, name: str) -> Any:
        value = self.data.get(name)
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def list_of_str(self, name: str) -> list[str] | None:
        value = self.obj(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise bad_request(f"can't parse {name}: an Array of String is expected")
        return value

    def chat_id(self, name: str = "chat_id") -> int | str:
        value = self.data.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        text = str(value).strip()
        if text.startswith("@") and not isinstance(value, int):
            return text
        try:
            number = int(text)
        except ValueError:
            raise bad_request("chat not found") from None
        if isinstance(value, bool) or not -LIMIT < number < LIMIT:
            raise bad_request("chat not found")
        return number

    def date(self, name: str) -> datetime | None:
        """A unix time; 0 or absent means none (for bans: forever)."""
        seconds = self.opt_int(name)
        if not seconds:
            return None
        try:
            return from_timestamp(seconds)
        except (OverflowError, OSError, ValueError):
            raise bad_request(f"invalid {name} specified") from None
