"""Routes added to the app as they are built serve as included ones do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from bot.gateway import create_app
from bot.routes import add_routes
from core.settings import Settings


def greeting() -> str:
    return "hello"


def module_router() -> APIRouter:
    router = APIRouter(prefix="/greet", tags=["greetings"])

    @router.get("/{name}", summary="Greet someone")
    async def greet(name: str, word: Annotated[str, Depends(greeting)]) -> dict[str, str]:
        return {"text": f"{word}, {name}"}

    return router


def served(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_added_routes_serve_and_document_as_included_ones() -> None:
    included, added = FastAPI(), FastAPI()
    included.include_router(module_router())
    add_routes(added, module_router())
    assert added.openapi() == included.openapi()
    async with served(added) as http:
        answer = await http.get("/greet/ann")
    assert answer.json() == {"text": "hello, ann"}


async def test_a_router_in_a_router_is_added_with_its_prefix() -> None:
    page, app = APIRouter(), FastAPI()
    add_routes(page, module_router())
    add_routes(app, page)
    async with served(app) as http:
        assert (await http.get("/greet/cy")).json() == {"text": "hello, cy"}


def test_only_api_routes_are_taken_as_they_are(tmp_path: Path) -> None:
    router = APIRouter()
    router.mount("/files", StaticFiles(directory=tmp_path))
    with pytest.raises(TypeError, match="only API routes"):
        add_routes(FastAPI(), router)


def test_the_gateway_includes_no_router_lazily(tmp_path: Path) -> None:
    # An included router has its routes built again on the first request that passes it: that
    # request is inside the start-up (see `bot.routes`).
    app = create_app(Settings(mode="sandbox", data_dir=tmp_path), register=False)
    # FastAPI's own pages (`/openapi.json`, `/docs`) are plain routes; an included router is not
    # a route at all.
    lazy = [route for route in app.routes if not isinstance(route, Route)]
    assert [type(route).__name__ for route in lazy] == []
    assert sum(isinstance(route, APIRoute) for route in app.routes) > 60
