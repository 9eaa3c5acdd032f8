"""Builder apps in a group through the sandbox: a builder registers an app in the private chat,
a manager enables it with a cap (admin rights checked with Telegram), a member cannot, and the
app's hostile name stays text in every answer."""

from __future__ import annotations

import re

from core.models_builder import GroupApp
from tests.bot import test_manage_sandbox
from tests.bot.test_manage_sandbox import Town

town = test_manage_sandbox.town
HOSTILE = "<b>Quiz</b> & <script>x</script>"


async def register(town: Town, owner: int, name: str) -> str:
    await town.ui("POST", f"/users/{owner}/private")
    await town.ui("POST", f"/chats/{owner}/messages", from_id=owner, text=f"/newapp {name}")
    await town.gateway.sandbox.wait_idle(10)
    (created,) = await town.bot_says(owner)
    found = re.search(r"App id: (app_[0-9a-f]{16})", created)
    assert found is not None, created
    return found[1]


async def grant(town: Town, app_id: str) -> GroupApp | None:
    async with town.gateway.gateway.sessions() as session:
        return await session.get(GroupApp, (town.group, app_id))


async def test_a_manager_enables_an_app_with_a_cap_and_disables_it(town: Town) -> None:
    app_id = await register(town, town.bob, HOSTILE)
    before = await town.last_id()
    await town.say(town.bob, f"/enableapp {app_id} 50")
    assert await town.bot_says(after=before) == ["Only the group's administrators can do that."]
    assert await grant(town, app_id) is None

    before = await town.last_id()
    await town.say(town.alice, f"/enableapp {app_id} 50")
    await town.say(town.alice, "/enableapp app_0000000000000000")
    await town.say(town.alice, f"/enableapp {app_id} lots")
    done, unknown, bad_cap = await town.bot_says(after=before)
    # The sandbox shows text as Telegram renders it: the name's markup arrives as text.
    assert done == f"{HOSTILE} ({app_id}) is enabled here: " + (
        "its events give a member at most 50 points per epoch."
    )
    assert unknown == "There is no app app_0000000000000000 (or it was revoked)."
    assert bad_cap.startswith("The cap must be a whole number")
    enabled = await grant(town, app_id)
    assert enabled is not None and enabled.cap == 50 and enabled.enabled_by == town.alice

    before = await town.last_id()
    await town.say(town.alice, f"/disableapp {app_id}")
    await town.say(town.alice, f"/disableapp {app_id}")
    assert await town.bot_says(after=before) == [
        f"{app_id} is disabled here: its events are refused.",
        f"{app_id} is not enabled in this group.",
    ]
    disabled = await grant(town, app_id)
    assert disabled is not None and disabled.disabled_at is not None
