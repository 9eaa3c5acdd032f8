"""The quiz's backend: its page, today's question, and answers checked and reported.

It knows Townsquare only by its public surface: the JWKS document to verify member tokens
offline, and `POST /v1/events` with the app's credentials to report a correct answer.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from miniapps.examples.quiz.questions import question_for

STATIC = Path(__file__).resolve().parent / "static"
FILES = {"quiz.js": "text/javascript", "quiz.css": "text/css"}
EVENT = "quiz_correct"


@dataclass(frozen=True)
class QuizConfig:
    gateway: str
    app_id: str
    secret: str
    # Telegram's script in production; the gateway's local stand-in against the sandbox.
    webapp_script: str = "https://telegram.org/js/telegram-web-app.js"


class AnswerIn(BaseModel):
    token: str = Field(min_length=1, max_length=4096)
    question_id: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    choice: int = Field(ge=0, le=9)


class MemberTokens:
    """Verifies the gateway's member tokens with its published keys, fetched on first need
    and again only for a key id not seen yet (the gateway rotated its key)."""

    def __init__(self, config: QuizConfig, http: httpx.AsyncClient) -> None:
        self.config, self.http = config, http
        self.keys: dict[str, Any] = {}

    async def _refresh(self) -> None:
        answer = await self.http.get(f"{self.config.gateway}/.well-known/jwks.json")
        answer.raise_for_status()
        self.keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(answer.json()).keys}

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            if kid not in self.keys:
                await self._refresh()
            if kid not in self.keys:
                raise HTTPException(401, "unknown signing key")
            claims: dict[str, Any] = jwt.decode(
                token,
                self.keys[kid].key,
                algorithms=["EdDSA"],
                audience=self.config.app_id,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise HTTPException(401, f"bad member token: {exc}") from exc
        if not isinstance(claims.get("chat"), int):
            raise HTTPException(403, "open the quiz from a group")
        return claims


def page(config: QuizConfig) -> str:
    template = (STATIC / "index.html").read_text()
    return (
        template.replace("{{ webapp_script }}", html.escape(config.webapp_script))
        .replace("{{ gateway }}", html.escape(config.gateway))
        .replace("{{ app_id }}", html.escape(config.app_id))
    )


def create_quiz_app(config: QuizConfig) -> FastAPI:
    http = httpx.AsyncClient(timeout=10)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await http.aclose()

    app = FastAPI(title="Daily quiz (a Townsquare example app)", lifespan=lifespan)
    tokens = MemberTokens(config, http)
    gateway_origin = httpx.URL(config.gateway)
    origin = f"{gateway_origin.scheme}://{gateway_origin.netloc.decode()}"
    script_origin = httpx.URL(config.webapp_script)
    scripts = f"'self' {origin} {script_origin.scheme}://{script_origin.netloc.decode()}"
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {scripts}; style-src 'self'; "
            f"connect-src 'self' {origin}; img-src 'self' data:; base-uri 'none'; "
            "form-action 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page(config), headers=headers)

    @app.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        if name not in FILES:
            raise HTTPException(404)
        return FileResponse(STATIC / name, media_type=FILES[name])

    @app.get("/api/question")
    async def question() -> dict[str, Any]:
        question_id, q = question_for(datetime.now(UTC).date())
        return {"id": question_id, "text": q.text, "choices": list(q.choices)}

    @app.post("/api/answer")
    async def answer(body: AnswerIn) -> JSONResponse:
        claims = await tokens.verify(body.token)
        question_id, q = question_for(datetime.now(UTC).date())
        if body.question_id != question_id:
            return JSONResponse({"correct": False, "stale": True})
        if body.choice != q.answer:
            return JSONResponse({"correct": False})
        # One credit per member, group and day: a second answer replays the same key.
        key = f"quiz-{question_id}-{claims['chat']}-{claims['sub']}".replace("--", "-m")
        reported = await http.post(
            f"{config.gateway}/v1/events",
            json={"member_token": body.token, "event": EVENT},
            headers={"Idempotency-Key": key},
            auth=(config.app_id, config.secret),
        )
        outcome = reported.json()
        if reported.status_code != 200:
            return JSONResponse({"correct": True, "error": outcome.get("reason")}, 502)
        return JSONResponse({"correct": True, **outcome})

    return app
