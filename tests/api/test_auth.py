"""/api/info, login, logout, me (core-api.md §3)."""

from __future__ import annotations

from tests.conftest import RC, assert_error, assert_ok


async def test_info_anonymous_gets_major_minor(anon: RC) -> None:
    r = await anon.http.get("/api/info")
    body = assert_ok(r)
    assert body["version"].count(".") == 1
    assert "info" not in body


async def test_info_admin_gets_full_info(admin: RC) -> None:
    body = assert_ok(await admin.http.get("/api/info", headers=admin.headers))
    assert body["info"]["version"].count(".") == 2


async def test_info_non_admin_gets_short_version(alice: RC) -> None:
    body = assert_ok(await alice.http.get("/api/info", headers=alice.headers))
    assert "info" not in body and "version" in body


async def test_login_returns_token_and_me(admin: RC, anon: RC) -> None:
    r = await anon.http.post("/api/v1/login", json={"username": "boss", "password": "pass-123"})
    body = assert_ok(r)
    assert body["status"] == "success"
    assert body["data"]["userId"] == admin.user_id
    me = body["data"]["me"]
    assert me["username"] == "boss"
    assert "admin" in me["roles"]
    assert me["services"]["password"] == {"exists": True}
    assert "password_hash" not in r.text and "argon2" not in r.text


async def test_login_by_email(admin: RC, anon: RC) -> None:
    r = await anon.http.post("/api/v1/login", json={"user": "boss@example.com", "password": "pass-123"})
    assert assert_ok(r)["data"]["userId"] == admin.user_id


async def test_login_wrong_password_is_401(admin: RC, anon: RC) -> None:
    r = await anon.http.post("/api/v1/login", json={"user": "boss", "password": "nope"})
    assert r.status_code == 401
    body = r.json()
    assert body["status"] == "error" and body["success"] is False and "message" in body
    assert r.headers["content-type"] == "application/json"


async def test_login_unknown_user_is_401(anon: RC) -> None:
    r = await anon.http.post("/api/v1/login", json={"user": "ghost", "password": "x"})
    assert r.status_code == 401
    assert r.json()["message"] == "Unauthorized"


async def test_login_with_empty_or_malformed_body_is_401_or_400(anon: RC) -> None:
    r = await anon.http.post("/api/v1/login", content=b"")
    assert r.status_code == 401
    r = await anon.http.post("/api/v1/login", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["errorType"] == "invalid-params"


async def test_resume_login(admin: RC, anon: RC) -> None:
    token = admin.headers["X-Auth-Token"]
    body = assert_ok(await anon.http.post("/api/v1/login", json={"resume": token}))
    assert body["data"]["authToken"] == token
    r = await anon.http.post("/api/v1/login", json={"resume": "not-a-token"})
    assert r.status_code == 401


async def test_me_requires_auth(anon: RC) -> None:
    r = await anon.get("me")
    assert r.status_code == 401
    assert r.json() == {
        "success": False,
        "status": "error",
        "message": "You must be logged in to do this.",
        "error": "You must be logged in to do this.",
    }


async def test_me_with_wrong_token_is_401(admin: RC) -> None:
    r = await admin.http.get(
        "/api/v1/me", headers={"X-User-Id": admin.user_id or "", "X-Auth-Token": "wrong"}
    )
    assert_error(r, 401, "You must be logged in to do this.")


async def test_me_returns_caller(admin: RC) -> None:
    body = assert_ok(await admin.get("me"))
    assert body["_id"] == admin.user_id
    assert body["username"] == "boss"
    assert body["name"] == "Boss"
    # the registered address is unverified, so there is no computed `email`
    assert "email" not in body
    assert body["emails"] == [{"address": "boss@example.com", "verified": False}]


async def test_logout_invalidates_token(admin: RC) -> None:
    body = assert_ok(await admin.post("logout"))
    assert body["status"] == "success"
    assert body["data"]["message"] == "You've been logged out!"
    assert (await admin.get("me")).status_code == 401


async def test_inactive_user_cannot_log_in(admin: RC, alice: RC) -> None:
    assert_ok(await admin.post("users.setActiveStatus", userId=alice.user_id, activeStatus=False))
    r = await alice.http.post("/api/v1/login", json={"user": "alice", "password": "pass-123"})
    assert r.status_code == 401
    assert r.json()["error"] == "error-user-is-not-activated"
    # and her existing session is gone too
    assert (await alice.get("me")).status_code == 401


async def test_unknown_route_is_404_json(anon: RC) -> None:
    r = await anon.get("no.such.endpoint")
    assert_error(r, 404, "Resource not found")


async def test_options_preflight(anon: RC) -> None:
    r = await anon.http.options("/api/v1/channels.list")
    assert r.status_code == 200
