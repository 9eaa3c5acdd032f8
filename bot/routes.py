"""Adding a module's routes to the gateway as they are built.

FastAPI (0.165) includes a router lazily: `include_router` keeps the router, and the first
request that walks past it builds the state of each of its routes again (their dependencies and
parameter validators), though the router built it when each route was declared. For the
gateway's 70 routes that is 90 to 115 ms of CPU inside its start-up: the sandbox's first Bot API
call, before `/healthz` answers, walks past them all. Our routers carry their prefix, tags and
dependencies themselves and are included without options, so the app can take their routes as
they are.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute


def add_routes(target: FastAPI | APIRouter, router: APIRouter) -> None:
    """Adds `router`'s routes to `target` (an app, or a router that is not served yet), as
    `target.include_router(router)` without options serves and documents them.

    Unlike included routes, these do not see the app's `dependency_overrides`: a route's request
    handler is made with its router's, which a router that is not the app's has none of. The
    gateway overrides no dependency; a test that needs to builds its own app and includes the
    router.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute):
            msg = f"only API routes are taken as they are, not {route!r}"
            raise TypeError(msg)
    target.routes.extend(router.routes)
