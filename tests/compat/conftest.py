"""One real `hookhub serve` per module for the unmodified `rocketchat_API` client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from rocketchat_API.rocketchat import RocketChat

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Server, start_server

CREATE_TOKENS_SECRET = "1234567890abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The client's own CI runs Rocket.Chat with this secret for users.createToken.
    running = start_server(
        tmp_path_factory.mktemp("compat") / "data", CREATE_TOKENS_FOR_USERS_SECRET=CREATE_TOKENS_SECRET
    )
    try:
        yield running
    finally:
        exit_code = running.stop()
        assert exit_code == 0, running.log()


def connect(
    server: Server, user: str | None = None, password: str | None = None, **kwargs: Any
) -> RocketChat:
    """A client for `server`; proxy variables are ignored, these tests only talk to 127.0.0.1."""
    session = requests.Session()
    session.trust_env = False
    return RocketChat(user, password, server_url=server.base_url, session=session, timeout=10, **kwargs)


@pytest.fixture
def rocket(server: Server) -> Iterator[RocketChat]:
    """The admin, logged in the way the client's own test-suite does it."""
    client = connect(server, ADMIN_USERNAME, ADMIN_PASS)
    yield client
    client.session.close()
