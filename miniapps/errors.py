"""One error shape for the JSON APIs of Mini Apps and builders (`/miniapp/...`, `/v1/...`):
`{"reason": "<stable_code>"}`, with a `message` for people where there is one and `errors` for
a request that does not validate. Clients branch on `reason`; `message` may change.

Other surfaces (the sandbox's Bot API, the link page) keep their own formats.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

API_PATHS = re.compile(r"^/(v1|miniapp)/")


def phrase_code(status: int) -> str:
    """`not_found` for 404: the reason of an error raised without one."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def error_body(status: int, detail: Any) -> dict[str, Any]:
    """`{"reason": code}` from our `refuse(...)`; a plain-text detail becomes the message."""
    if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
        return {"reason": detail["reason"]}
    if isinstance(detail, str) and detail != HTTPStatus(status).phrase:
        return {"reason": phrase_code(status), "message": detail}
    return {"reason": phrase_code(status)}


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not API_PATHS.match(request.url.path):
        return await http_exception_handler(request, exc)
    return JSONResponse(
        error_body(exc.status_code, exc.detail), exc.status_code, headers=exc.headers
    )


async def on_invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not API_PATHS.match(request.url.path):
        return await request_validation_exception_handler(request, exc)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return JSONResponse(
        jsonable_encoder(
            {"reason": "invalid_request", "message": f"{where}: {first['msg']}", "errors": errors}
        ),
        422,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
