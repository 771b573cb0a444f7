"""Room access inside teams (issue #9, teams.md §4): one table over {public team, private team} x
{public channel of the team, private group of the team, the team's main room} x {room member, team
member only, outsider, admin outsider}, checked through room info, room messages, *.getIntegrations
and an incoming webhook posting to the room.

Who is who in every case (alice owns the team and every room of it):
* room member: subscribed to the room under test. For a child room that is all (invited to the room,
  not a team member: a subscription alone grants access, §4 rule 3); for the main room, being
  subscribed makes one a team member (§1.4), so it is invited to the main room.
* team member only: added with the team (`members`), not subscribed to the child room. For the main
  room this case cannot differ from the room member (membership <=> main-room subscription, §1.4).
* outsider: a plain user, neither team member nor room member.
* admin outsider: the admin, neither team member nor room member (canAccessRoom has no admin bypass).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from hookhub.hub import Hub
from tests.api.test_channels import TickingClock
from tests.api.test_groups import NOT_FOUND as GROUP_NOT_FOUND
from tests.api.test_hooks import count_messages, url_of
from tests.api.test_integrations_list import ALL_INCOMING, grant_users
from tests.api.test_teams import PRIVATE, PUBLIC, create_team
from tests.conftest import RC, assert_error, assert_ok

TEAM_NAME = "crew"
TEAM_TYPES = {"public-team": PUBLIC, "private-team": PRIVATE}
ROOM_KINDS = ("public-channel", "private-group", "main-room")
WHO = ("room-member", "team-member-only", "outsider", "admin-outsider")
USERNAMES = {"room-member": "rita", "team-member-only": "tom", "outsider": "olga", "admin-outsider": "boss"}


def allowed(team: str, room: str, who: str) -> bool:
    """teams.md §4's table."""
    if who == "room-member":
        return True
    room_type = "c" if room == "public-channel" or (room == "main-room" and team == "public-team") else "p"
    if room == "main-room" and who == "team-member-only":
        return True  # a team member is subscribed to the main room (§1.4)
    if room_type == "p":
        return False  # private groups (incl. a private team's main room): subscribers only
    if team == "public-team":
        return True  # anyone with view-c-room (every user by default), admins included
    return who == "team-member-only"  # public channel of a private team: team members + subscribers


CASES = [
    pytest.param(team, room, who, id=f"{team}/{room}/{who}")
    for team in TEAM_TYPES
    for room in ROOM_KINDS
    for who in WHO
]


@dataclass
class Setup:
    owner: RC
    caller: RC
    username: str
    room_id: str
    room_name: str
    family: str  # "channels" or "groups"

    @property
    def key(self) -> str:
        return "channel" if self.family == "channels" else "group"


@pytest.fixture(autouse=True)
def ticking(hub: Hub) -> TickingClock:
    clock = TickingClock()
    hub.clock = clock
    return clock


async def build(admin: RC, team_kind: str, room_kind: str, who: str) -> Setup:
    alice = await admin.register_and_login("alice")
    rita = await admin.register_and_login("rita")
    tom = await admin.register_and_login("tom")
    olga = await admin.register_and_login("olga")
    team = await create_team(alice, TEAM_NAME, TEAM_TYPES[team_kind], members=["tom"])
    extra = {"extraData": {"teamId": team["_id"]}}
    if room_kind == "public-channel":
        family, name = "channels", "dev"
        room = assert_ok(await alice.post("channels.create", name=name, **extra))["channel"]
    elif room_kind == "private-group":
        family, name = "groups", "ops"
        room = assert_ok(await alice.post("groups.create", name=name, **extra))["group"]
    else:
        family = "channels" if team_kind == "public-team" else "groups"
        name = TEAM_NAME
        room = {"_id": team["roomId"]}
    assert_ok(await alice.post(f"{family}.invite", roomId=room["_id"], userId=rita.user_id))

    # the setup is what the case says it is
    subscribed = await member_names(alice, family, room["_id"])
    assert "rita" in subscribed and "olga" not in subscribed and "boss" not in subscribed
    assert ("tom" in subscribed) is (room_kind == "main-room")
    team_members = {
        m["user"]["username"]
        for m in assert_ok(await alice.get("teams.members", teamId=team["_id"]))["members"]
    }
    assert team_members == ({"alice", "tom", "rita"} if room_kind == "main-room" else {"alice", "tom"})

    callers = {"room-member": rita, "team-member-only": tom, "outsider": olga, "admin-outsider": admin}
    return Setup(alice, callers[who], USERNAMES[who], str(room["_id"]), name, family)


async def member_names(client: RC, family: str, room_id: str) -> set[str]:
    body = assert_ok(await client.get(f"{family}.members", roomId=room_id, count=100))
    return {m["username"] for m in body["members"]}


def assert_refused(r: httpx.Response, family: str) -> None:
    if family == "channels":
        assert_error(r, 403, "unauthorized")
    else:
        assert_error(r, 400, GROUP_NOT_FOUND)


@pytest.mark.parametrize(("team", "room", "who"), CASES)
async def test_room_info(admin: RC, team: str, room: str, who: str) -> None:
    s = await build(admin, team, room, who)
    r = await s.caller.get(f"{s.family}.info", roomId=s.room_id)
    if allowed(team, room, who):
        assert assert_ok(r)[s.key]["_id"] == s.room_id
    else:
        assert_refused(r, s.family)


@pytest.mark.parametrize(("team", "room", "who"), CASES)
async def test_room_messages(hub: Hub, admin: RC, team: str, room: str, who: str) -> None:
    s = await build(admin, team, room, who)
    assert_ok(await s.owner.post("chat.postMessage", roomId=s.room_id, text="hello team"))
    r = await s.caller.get(f"{s.family}.messages", roomId=s.room_id, count=100)
    if allowed(team, room, who):
        texts = [m["msg"] for m in assert_ok(r)["messages"] if "t" not in m]
        assert texts == ["hello team"]
    else:
        assert_refused(r, s.family)


@pytest.mark.parametrize(("team", "room", "who"), CASES)
async def test_get_integrations(hub: Hub, admin: RC, team: str, room: str, who: str) -> None:
    """The route needs a manage-*-integrations permission (the admin holds them all; plain users
    are given manage-incoming-integrations); then the room must be accessible."""
    s = await build(admin, team, room, who)
    await grant_users(hub, ALL_INCOMING)
    hook = assert_ok(
        await admin.post(
            "integrations.create",
            type="webhook-incoming",
            name="room hook",
            enabled=True,
            username="alice",
            scriptEnabled=False,
            channel=f"#{s.room_name}",
        )
    )["integration"]
    r = await s.caller.get(f"{s.family}.getIntegrations", roomId=s.room_id)
    if allowed(team, room, who):
        assert [i["_id"] for i in assert_ok(r)["integrations"]] == [hook["_id"]]
    else:
        assert_refused(r, s.family)


@pytest.mark.parametrize(("team", "room", "who"), CASES)
async def test_hook_posts_to_the_room(
    hub: Hub, http: httpx.AsyncClient, admin: RC, team: str, room: str, who: str
) -> None:
    """The hook's user is the case's user. Public channels are joined on the way (webhook-runtime
    §2); a refused join or a private group one is not in answers 400 `error-not-allowed` (§4)."""
    s = await build(admin, team, room, who)
    hook = assert_ok(
        await admin.post(
            "integrations.create",
            type="webhook-incoming",
            name="room hook",
            enabled=True,
            username=s.username,
            scriptEnabled=False,
            channel=f"#{s.room_name}",
        )
    )["integration"]
    text = f"from {s.username}"
    r = await http.post(url_of(hook), json={"text": text})
    if allowed(team, room, who):
        assert_ok(r)
        body = assert_ok(await s.owner.get(f"{s.family}.messages", roomId=s.room_id, count=100))
        posted = [m for m in body["messages"] if m.get("msg") == text]
        assert len(posted) == 1 and posted[0]["u"]["username"] == s.username, posted
        assert await count_messages(hub, text) == 1
        assert s.username in await member_names(s.owner, s.family, s.room_id)
    else:
        assert r.status_code == 400, r.text
        assert r.json() == {"success": False, "error": "error-not-allowed"}
        assert await count_messages(hub, text) == 0
        assert s.username not in await member_names(s.owner, s.family, s.room_id)
