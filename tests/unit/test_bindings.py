"""Which space a channel answers from: a binding made without a workspace (the README's
`ragbot bind --platform slack --channel C0123 --space ops`) serves the channel in the workspace
its events come from; one made for that workspace wins; unbinding finds either."""

from __future__ import annotations

from core.models import Binding
from core.testing.fake_service import make_service


async def test_a_binding_without_a_workspace_serves_the_channel_in_any_workspace() -> None:
    service = make_service()
    await service.bind(Binding("slack", "C0123", "ops"))
    assert (await service.binding_for("slack", "C0123", "T0FAKE")).space_id == "ops"
    assert await service.binding_for("slack", "C0999", "T0FAKE") is None
    assert await service.binding_for("telegram", "C0123", "") is None, "platforms stay apart"


async def test_the_workspaces_own_binding_wins() -> None:
    service = make_service()
    await service.bind(Binding("slack", "C0123", "ops"))
    await service.bind(Binding("slack", "C0123", "sales", team_id="T0FAKE"))
    assert (await service.binding_for("slack", "C0123", "T0FAKE")).space_id == "sales"
    assert (await service.binding_for("slack", "C0123", "T0OTHER")).space_id == "ops"


async def test_unbinding_in_chat_removes_the_binding_made_without_a_workspace() -> None:
    service = make_service()
    await service.bind(Binding("slack", "C0123", "ops"))
    assert await service.unbind("slack", "C0123", "T0FAKE")  # /ragbot unbind, from the workspace
    assert await service.binding_for("slack", "C0123", "T0FAKE") is None
    assert not await service.unbind("slack", "C0123", "T0FAKE")


async def test_unbinding_from_the_cli_without_a_workspace_removes_every_binding_of_the_channel() -> None:
    service = make_service()
    await service.bind(Binding("slack", "C0123", "ops"))
    await service.bind(Binding("slack", "C0123", "sales", team_id="T0FAKE"))
    await service.bind(Binding("slack", "C0456", "ops"))
    assert await service.unbind("slack", "C0123")
    assert [b.channel_id for b in await service.bindings()] == ["C0456"]
