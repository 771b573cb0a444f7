"""The `rocketchat_API` client's OWN team tests (`tests/test_teams.py` of its 3.7.1 source release,
issue #9) against a fresh hookhub, run unmodified in a child pytest.

The release is not part of this repository. It is found at `$HOOKHUB_RCAPI_SDIST`: the sdist
(`.tar.gz`) or its unpacked directory; by default `.ci/cache/rocketchat_api-3.7.1.tar.gz`, which
`pip download rocketchat-API==3.7.1 --no-binary :all: --no-deps -d .ci/cache` puts there. Without
it the test skips, naming that command.

What the release's suite expects of the server (its conftest.py and test_teams.py; spec teams.md §6):
* the server at the client's default URL — see `client_suite` for how that is pointed at hookhub;
* user `user1` with the suite's password, able to do everything: its conftest only tries
  `users.register` (errors ignored) and logs in, relying on Rocket.Chat making the first registered
  user admin; here `user1` is hookhub's configured admin;
* user `testuser1`, which test_teams.py looks up but never creates (in the client's full run it is
  left over from test_groups). Its `testuser_id` fixture deletes it after each use, ignoring
  errors, yet three tests use it: it survives because, as after the client's test_groups, it is the
  only member and owner of a private group, so `users.delete` refuses (`user-last-owner`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.compat import client_suite
from tests.e2e.conftest import Client, serving

RELEASE_VAR = "HOOKHUB_RCAPI_SDIST"
RELEASE_DEFAULT = ".ci/cache/rocketchat_api-3.7.1.tar.gz"
FETCH = "pip download rocketchat-API==3.7.1 --no-binary :all: --no-deps -d .ci/cache"
# The suite's fixed credentials (its conftest's `user` fixture and `get_tests_passowrd()`).
SUITE_USER = "user1"
SUITE_PASSWORD = "yoZy4mN3B83SoKOD2PP1U8PoTUnBlukQ7ac6RlsgR$A"
SUITE_TIMEOUT = 300.0


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """The unpacked 3.7.1 release in a private directory."""
    found = client_suite.find_release(RELEASE_VAR, RELEASE_DEFAULT)
    if found is None:
        pytest.skip(
            f"rocketchat-API 3.7.1 sdist not found (${RELEASE_VAR} or {RELEASE_DEFAULT}); run: {FETCH}"
        )
    return client_suite.unpack(found, tmp_path / "release", project="rocketchat-API", version="3.7.1")


def create_testuser1(base_url: str) -> None:
    """`testuser1` as the client's test_groups leaves it: sole owner-member of a private group."""
    with Client(base_url) as admin:
        admin.login(SUITE_USER, SUITE_PASSWORD)
        r = admin.post(
            "users.create",
            email="testuser1@domain.com",
            name="testuser1",
            password=SUITE_PASSWORD,
            username="testuser1",
        )
        assert r.status_code == 200, r.text
    with Client(base_url) as testuser:
        testuser.login("testuser1", SUITE_PASSWORD)
        r = testuser.post("groups.create", name="testuser1-own-group")
        assert r.status_code == 200, r.text


def outcome(junit_xml: Path) -> dict[str, int]:
    suite = ET.parse(junit_xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    return {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}


def test_client_own_team_tests_pass(release: Path, tmp_path: Path) -> None:
    assert (release / "tests" / "test_teams.py").is_file()
    junit = tmp_path / "junit.xml"
    with serving(tmp_path / "data", ADMIN_USERNAME=SUITE_USER, ADMIN_PASS=SUITE_PASSWORD) as server:
        create_testuser1(server.base_url)
        result = client_suite.run_suite(
            release,
            server.base_url,
            ["-ra", "-v", f"--junitxml={junit}", "tests/test_teams.py"],
            timeout=SUITE_TIMEOUT,
        )
        report = f"exit {result.returncode}\n{result.stdout}\n--- hookhub log ---\n{server.log()[-8000:]}"
    assert result.returncode == 0, report
    counts = outcome(junit)
    assert counts["tests"] > 0 and counts["failures"] == counts["errors"] == counts["skipped"] == 0, (
        f"{counts}\n{report}"
    )
