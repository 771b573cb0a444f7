"""Integration documents read by id in bulk (store/integrations.get_integrations), as the outgoing
engine does once per claim."""

from __future__ import annotations

from hookhub.hub import Hub
from hookhub.store import integrations as integration_store
from tests.conftest import RC, assert_ok


async def test_get_integrations_reads_several_by_id(hub: Hub, admin: RC) -> None:
    made = []
    for name in ("one", "two", "three"):
        body = {
            "type": "webhook-incoming",
            "name": name,
            "enabled": True,
            "username": "boss",
            "channel": "#general",
            "scriptEnabled": False,
        }
        made.append(assert_ok(await admin.post("integrations.create", body))["integration"])
    wanted = [made[0]["_id"], made[2]["_id"], made[0]["_id"], "missing"]
    async with hub.tx(write=False) as ctx:
        found = await integration_store.get_integrations(ctx.conn, wanted)
        assert await integration_store.get_integrations(ctx.conn, []) == {}
        single = await integration_store.get_integration(ctx.conn, made[2]["_id"])
    assert set(found) == {made[0]["_id"], made[2]["_id"]}
    assert found[made[0]["_id"]]["name"] == "one"
    assert found[made[2]["_id"]] == single
