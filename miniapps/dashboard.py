"""The managers' dashboard Mini App: its page, its session, the scoring rules and analytics.

The page is a static shell like the members' (the manager is known only after the JS has
traded initData for a token); every view is a fragment rendered here, charts included, and
inserted by the page. Campaigns, epochs and reviews are in `dashboard_settle`, exports in
`dashboard_export`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from core.clock import utcnow
from core.db import transaction
from core.settings import Settings
from engagement import analytics, epochs, preview, rules
from miniapps import dashboard_charts as charts
from miniapps.auth import InitDataError
from miniapps.dashboard_auth import (
    Admins,
    CurrentManager,
    DashboardSessionIn,
    is_admin,
    issue_token,
    launch_of,
)
from miniapps.dashboard_render import (
    answer,
    chat_title,
    epoch_json,
    last_epoch,
    names,
    problems,
    templates,
)
from miniapps.deps import SESSION_TTL, Issuer
from miniapps.member import LOCAL_SCRIPT, TELEGRAM_SCRIPT, TEMPLATES, headers

ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
TABS = {"rules": "Rules", "epochs": "Epochs", "review": "Review", "analytics": "Analytics"}
EpochQuery = Query(default=None, ge=1, lt=2**31)


class RulesIn(BaseModel):
    """Settings by dotted key (the form's fields), and more in the `/setrules` syntax."""

    changes: dict[str, str] = Field(default_factory=dict, max_length=64)
    extra: str = Field(default="", max_length=2000)


def proposed(current: rules.Rules, body: RulesIn) -> tuple[rules.Rules, list[dict[str, Any]]]:
    """The rules the form proposes, and each setting it changes.

    Raises:
        rules.RulesError: an unknown key or a value out of range, with every problem.
    """
    changes = {k.strip().lower(): v.strip() for k, v in body.changes.items()}
    if body.extra.strip():
        changes.update(rules.parse_form(body.extra))
    if not changes:
        raise rules.RulesError(["no changes given"])
    updated = rules.apply_changes(current, changes)
    before = {key: value for key, value, _ in rules.settings_table(current)}
    diff = [
        {"key": key, "before": before.get(key), "after": value}
        for key, value, _ in rules.settings_table(updated)
        if before.get(key) != value
    ]
    return updated, diff


def rules_data(version: int, current: rules.Rules) -> dict[str, Any]:
    return {
        "version": version,
        "rules": current.model_dump(),
        "settings": [
            {"key": key, "value": value, "description": text}
            for key, value, text in rules.settings_table(current)
        ],
    }


def create_dashboard_router() -> APIRouter:
    router = APIRouter(prefix="/miniapp/dashboard", tags=["dashboard"])

    @router.get("", include_in_schema=False)
    async def page(request: Request) -> Response:
        settings: Settings = request.app.state.gateway.settings
        return templates.TemplateResponse(
            request,
            "miniapps/dashboard.html",
            {"tabs": TABS, "sdk": LOCAL_SCRIPT if settings.is_sandbox else TELEGRAM_SCRIPT},
            headers=headers(settings),
        )

    @router.get("/assets/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise HTTPException(404)
        return FileResponse(Path(TEMPLATES) / "miniapps" / name, media_type=ASSETS[name])

    @router.post("/session")
    async def session(
        request: Request, body: DashboardSessionIn, issuer: Issuer, admins: Admins
    ) -> Response:
        """initData in; a dashboard token out, for the group's administrators only."""
        settings: Settings = request.app.state.gateway.settings
        try:
            launch = launch_of(
                body,
                bot_token=settings.bot_token.get_secret_value(),
                max_age=settings.init_data_max_age,
            )
        except InitDataError as exc:
            return JSONResponse({"reason": exc.reason}, 401)
        async with request.app.state.gateway.sessions() as db:
            title = await chat_title(db, launch.chat_id)
        if not await is_admin(admins, launch.chat_id, launch.member_id):
            return answer(
                request,
                "dashboard_forbidden.html",
                {"reason": "not_admin", "chat": {"id": launch.chat_id, "title": title}},
                status=403,
            )
        return JSONResponse(
            {
                "token": issue_token(issuer, launch),
                "expires_in": SESSION_TTL,
                "member_id": launch.member_id,
                "first_name": launch.first_name,
                "chat": {"id": launch.chat_id, "title": title},
            }
        )

    @router.get("/rules")
    async def show_rules(request: Request, who: CurrentManager) -> Response:
        async with request.app.state.gateway.sessions() as db:
            version, current = await rules.current(session=db, chat_id=who.chat_id)
        return answer(request, "dashboard_rules.html", rules_data(version, current))

    @router.post("/rules/preview")
    async def preview_rules(
        request: Request, who: CurrentManager, body: RulesIn, epoch: int | None = EpochQuery
    ) -> Response:
        """What the proposed rules would have made of the last epoch; nothing is stored."""
        async with request.app.state.gateway.sessions() as db:
            _, current = await rules.current(session=db, chat_id=who.chat_id)
            try:
                updated, diff = proposed(current, body)
            except rules.RulesError as exc:
                return problems(request, exc.problems)
            target = await last_epoch(db, who.chat_id, epoch)
            if target is None:
                return problems(request, ["this group has no epoch yet"], status=404)
            data = await preview.inputs(session=db, epoch=target)
            result = preview.recompute_inputs(updated, data)
            named = await names(db, (m.member_id for m in result.members))
        shown = {
            "epoch": epoch_json(target),
            "changed": diff,
            "members": [
                {
                    "member_id": m.member_id,
                    "name": named[m.member_id],
                    "before": m.before,
                    "after": m.after,
                    "delta": m.delta,
                }
                for m in result.members
            ],
            "total_before": result.total_before,
            "total_after": result.total_after,
            "by_kind": {
                kind: {"before": result.by_kind_before[kind], "after": result.by_kind_after[kind]}
                for kind in result.by_kind_after
            },
            "caveats": preview.caveats(current, updated),
        }
        return answer(request, "dashboard_preview.html", shown)

    @router.post("/rules")
    async def save_rules(request: Request, who: CurrentManager, body: RulesIn) -> Response:
        """Stores the proposed rules as the group's next version, in force from now."""
        async with transaction(request.app.state.gateway.sessions) as db:
            await rules.ensure_initial(session=db, chat_id=who.chat_id)
            _, current = await rules.current(session=db, chat_id=who.chat_id)
            try:
                updated, diff = proposed(current, body)
            except rules.RulesError as exc:
                return problems(request, exc.problems)
            note = "dashboard: " + ", ".join(f"{d['key']}={d['after']}" for d in diff)
            row = await rules.set_rules(
                session=db, chat_id=who.chat_id, rules=updated, by=who.member_id, note=note
            )
        data = rules_data(row.version, updated) | {"saved": row.version, "changed": diff}
        return answer(request, "dashboard_rules.html", data)

    @router.get("/analytics")
    async def show_analytics(request: Request, who: CurrentManager) -> Response:
        async with request.app.state.gateway.sessions() as db:
            epoch = await epochs.current(session=db, chat_id=who.chat_id)
            found = await analytics.collect(
                session=db, chat_id=who.chat_id, epoch=epoch, today=utcnow().date()
            )
        data = {
            "epoch": epoch_json(epoch) if epoch else None,
            "days": [
                {"day": d.day.isoformat(), "messages": d.messages, "active": d.active_members}
                for d in found.days
            ],
            "distribution": [
                {"low": b.low, "high": b.high, "members": b.members} for b in found.distribution
            ],
            "top": [
                {"member_id": s.member_id, "name": s.name, "points": s.points} for s in found.top
            ],
            "retention": [
                {"week": c.week.isoformat(), "size": c.size, "active": c.active}
                for c in found.cohorts
            ],
        }
        context = {
            "activity": charts.activity_chart(found.days),
            "spread": charts.distribution_chart(found.distribution),
            "leaders": charts.top_chart(found.top),
            "heatmap": charts.retention_heatmap(found.cohorts),
        }
        return answer(request, "dashboard_analytics.html", data, context=context)

    return router
