"""The SSRF suite of issue #10, end to end: a real `hookhub serve` WITHOUT `HOOKHUB_EGRESS_ALLOW`
gets one outgoing webhook per dangerous address form; every delivery must be refused by the egress
guard before connecting, with the reason in the integration's history, and a canary receiver on
127.0.0.1 (whose port every loopback form names) must receive nothing.

All integrations are created first, all trigger messages posted next, and all histories awaited
together, so the whole suite costs one server start and a few seconds.

Also here: redirects to private addresses, end to end. The server has no resolver injection point
(only `HOOKHUB_EGRESS_ALLOW`), so the first, allowed hop is a redirector on 127.0.0.2 served by a
second server whose allow-list holds exactly `127.0.0.2/32`; each redirect target must be refused.
Names whose DNS answer changes between check and connect, and names resolving to private addresses
through a test resolver, are covered at unit level in tests/runtime/test_egress.py.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_PASS, ADMIN_USERNAME, Client, Server, serving
from tests.e2e.receiver import Receiver

WAIT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Form:
    id: str
    url: str  # `{p}` is replaced by the canary's port
    reason: str  # the category word the refusal must name


def _machine_name_form() -> list[Form]:
    """The machine's own host name, resolved by the system resolver (no DNS needed: /etc/hosts): a
    real name resolving to a non-public address. Left out where it does not resolve, or resolves
    to a public address (which this test must never reach)."""
    name = socket.gethostname().rstrip(".").lower()
    if not name or name == "localhost" or name.endswith(".localhost"):
        return []
    try:
        infos = socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses or not all(a.is_loopback for a in addresses):
        return []
    return [Form("machine-hostname-resolves-to-loopback", f"http://{name}:{{p}}/", "loopback")]


FORMS: list[Form] = [
    # IPv4 loopback, plain and in every numeric spelling inet_aton accepts
    Form("dotted-127.0.0.1", "http://127.0.0.1:{p}/hook", "loopback"),
    Form("dotted-127.127.127.127", "http://127.127.127.127:{p}/", "loopback"),
    Form("trailing-dot-ip", "http://127.0.0.1.:{p}/", "loopback"),
    Form("zero-padded-decimal", "http://127.000.000.001:{p}/", "loopback"),
    Form("short-127.1", "http://127.1:{p}/", "loopback"),
    Form("short-127.0.1", "http://127.0.1:{p}/", "loopback"),
    Form("short-hex-0x7f.1", "http://0x7f.1:{p}/", "loopback"),
    Form("short-octal-0177.1", "http://0177.1:{p}/", "loopback"),
    Form("decimal-2130706433", "http://2130706433:{p}/", "loopback"),
    Form("hex-0x7f000001", "http://0x7f000001:{p}/", "loopback"),
    Form("hex-upper-0X7F000001", "http://0X7F000001:{p}/", "loopback"),
    Form("hex-dotted-0x7f.0.0.1", "http://0x7f.0.0.1:{p}/", "loopback"),
    Form("octal-dotted-0177.0.0.1", "http://0177.0.0.1:{p}/", "loopback"),
    Form("octal-whole-017700000001", "http://017700000001:{p}/", "loopback"),
    Form("https-loopback", "https://127.0.0.1:{p}/", "loopback"),
    # Unicode dots and digits that IDNA maps to 127.0.0.1 when the name is resolved
    Form("ideographic-dots", "http://127\u30020\u30020\u30021:{p}/", "loopback"),
    Form("enclosed-digits", "http://\u2460\u2461\u2466.0.0.1:{p}/", "loopback"),
    # unspecified ("this host")
    Form("zero-0", "http://0:{p}/", "unspecified"),
    Form("0.0.0.0", "http://0.0.0.0:{p}/", "unspecified"),
    Form("0.0.0.0-trailing-dot", "http://0.0.0.0.:{p}/", "unspecified"),
    Form("ipv6-unspecified-[::]", "http://[::]:{p}/", "unspecified"),
    # IPv6 loopback
    Form("ipv6-[::1]", "http://[::1]:{p}/", "loopback"),
    Form("ipv6-long-loopback", "http://[0:0:0:0:0:0:0:1]:{p}/", "loopback"),
    Form("ipv6-[0::1]", "http://[0::1]:{p}/", "loopback"),
    Form("https-ipv6-loopback", "https://[::1]:{p}/", "loopback"),
    # IPv4 inside IPv6
    Form("mapped-[::ffff:127.0.0.1]", "http://[::ffff:127.0.0.1]:{p}/", "loopback"),
    Form("mapped-hex-[::ffff:7f00:1]", "http://[::ffff:7f00:1]:{p}/", "loopback"),
    Form("mapped-long", "http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/", "loopback"),
    Form("compatible-[::127.0.0.1]", "http://[::127.0.0.1]:{p}/", "loopback"),
    Form("6to4-[2002:7f00:1::]", "http://[2002:7f00:1::]:{p}/", "loopback"),
    Form("nat64-[64:ff9b::7f00:1]", "http://[64:ff9b::7f00:1]:{p}/", "loopback"),
    Form("mapped-private", "http://[::ffff:10.0.0.1]:{p}/", "private"),
    Form("mapped-metadata", "http://[::ffff:169.254.169.254]/latest/meta-data/", "metadata"),
    # localhost names
    Form("localhost", "http://localhost:{p}/", "localhost name"),
    Form("localhost-trailing-dot", "http://localhost.:{p}/", "localhost name"),
    Form("LOCALHOST", "http://LOCALHOST:{p}/", "localhost name"),
    Form("LocalHost-trailing-dot", "http://LocalHost.:{p}/", "localhost name"),
    Form("sub.localhost", "http://api.localhost:{p}/", "localhost name"),
    # userinfo tricks: the host is what follows the last `@`
    Form("userinfo-a@", "http://a@127.0.0.1:{p}/", "loopback"),
    Form("userinfo-a:b@", "http://a:b@127.0.0.1:{p}/", "loopback"),
    Form("userinfo-public-name@", "http://example.com@127.0.0.1:{p}/", "loopback"),
    Form("userinfo-public-name-port@", "http://example.com:80@127.0.0.1:{p}/", "loopback"),
    Form("userinfo-at-localhost", "http://example.com@localhost:{p}/", "localhost name"),
    # cloud metadata
    Form("metadata-169.254.169.254", "http://169.254.169.254/latest/meta-data/", "metadata"),
    Form("metadata-decimal", "http://2852039166/latest/meta-data/", "metadata"),
    Form("metadata-ipv6-aws", "http://[fd00:ec2::254]/latest/meta-data/", "metadata"),
    # link-local
    Form("link-local-169.254.1.1", "http://169.254.1.1:{p}/", "link-local"),
    Form("link-local-[fe80::1]", "http://[fe80::1]:{p}/", "link-local"),
    Form("link-local-zone-id", "http://[fe80::1%25eth0]:{p}/", "link-local"),
    # RFC 1918 / ULA
    Form("private-10.0.0.1", "http://10.0.0.1:{p}/", "private"),
    Form("private-10.255.255.255", "http://10.255.255.255:{p}/", "private"),
    Form("private-172.16.0.1", "http://172.16.0.1:{p}/", "private"),
    Form("private-172.31.255.255", "http://172.31.255.255:{p}/", "private"),
    Form("private-192.168.0.1", "http://192.168.0.1:{p}/", "private"),
    Form("private-192.168.255.255", "http://192.168.255.255:{p}/", "private"),
    Form("private-octal-10", "http://012.1:{p}/", "private"),
    Form("ula-[fc00::1]", "http://[fc00::1]:{p}/", "private"),
    Form("ula-[fd12:3456::1]", "http://[fd12:3456::1]:{p}/", "private"),
    # carrier-grade NAT
    Form("cgnat-100.64.0.1", "http://100.64.0.1:{p}/", "carrier-grade NAT"),
    Form("cgnat-100.127.255.254", "http://100.127.255.254:{p}/", "carrier-grade NAT"),
    # multicast, broadcast, reserved
    Form("multicast-224.0.0.1", "http://224.0.0.1:{p}/", "multicast"),
    Form("multicast-[ff02::1]", "http://[ff02::1]:{p}/", "multicast"),
    Form("broadcast-255.255.255.255", "http://255.255.255.255:{p}/", "broadcast"),
    Form("broadcast-decimal", "http://4294967295:{p}/", "broadcast"),
    Form("reserved-240.0.0.1", "http://240.0.0.1:{p}/", "reserved"),
    *_machine_name_form(),
]


def _url(form: Form, port: int) -> str:
    return form.url.replace("{p}", str(port))


def _trigger(index: int) -> str:
    # Same length for every form: Rocket.Chat matches trigger words as prefixes.
    return f"ssrfcase{index:03d}"


def _create(admin: Client, url: str, trigger: str) -> str:
    r = admin.post(
        "integrations.create",
        type="webhook-outgoing",
        name=f"ssrf {trigger}",
        enabled=True,
        username="rocket.cat",
        urls=[url],
        scriptEnabled=False,
        channel="#general",
        event="sendMessage",
        triggerWords=[trigger],
        token="ssrf-token",
    )
    assert r.status_code == 200, f"{url}: {r.text}"
    return str(r.json()["integration"]["_id"])


def _say(admin: Client, text: str) -> None:
    r = admin.post("chat.postMessage", channel="#general", text=text)
    assert r.status_code == 200, r.text


def _got_response(record: dict[str, Any]) -> bool:
    # history stores the body as serialised by the call; no response at all shows as "null"
    return record.get("httpResult") not in (None, "null")


def _ended(record: dict[str, Any]) -> bool:
    """The delivery got an answer or an error (a refusal, or anything else)."""
    return bool(record.get("httpError")) or _got_response(record) or bool(record.get("error"))


def _wait_all(admin: Client, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Wait (bounded) until each integration's history holds a record that ended; key -> record."""
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        for key, integration_id in ids.items():
            if key in found:
                continue
            r = admin.get("integrations.history", id=integration_id, count=100)
            assert r.status_code == 200, r.text
            ended = [rec for rec in r.json()["history"] if _ended(rec)]
            if ended:
                found[key] = ended[0]
        if len(found) == len(ids):
            return found
        if time.monotonic() > deadline:
            missing = sorted(set(ids) - set(found))
            raise AssertionError(f"no ended history record within {WAIT_TIMEOUT}s for {missing}")
        time.sleep(0.05)


def _error_text(record: dict[str, Any]) -> str:
    error = record.get("httpError")
    if isinstance(error, dict):
        return f"{error.get('name')}: {error.get('message')}"
    return str(error)


def _assert_refused(record: dict[str, Any], url: str, reason: str) -> None:
    assert not _got_response(record), f"SSRF hole: {url} got a response: {record}"
    error = record.get("httpError")
    assert isinstance(error, dict), f"{url}: no httpError in {record}"
    assert error.get("name") == "EgressRefused", f"{url}: not refused by the guard: {_error_text(record)}"
    message = str(error.get("message"))
    assert message.startswith("refused: "), f"{url}: {message}"
    assert reason in message, f"{url}: {message!r} does not name {reason!r}"


# --- the direct forms ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def canary() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # serving() scrubs HOOKHUB_* from the environment: nothing is allow-listed.
    with serving(tmp_path_factory.mktemp("ssrf") / "data") as running:
        assert "HOOKHUB_EGRESS_ALLOW" not in running.env
        yield running


@pytest.fixture(scope="module")
def outcomes(guarded_server: Server, canary: Receiver) -> Iterator[dict[str, dict[str, Any]]]:
    """Every form delivered once; form id -> its first ended history record."""
    with Client(guarded_server.base_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        ids = {form.id: _create(admin, _url(form, canary.port), _trigger(i)) for i, form in enumerate(FORMS)}
        for i, _form in enumerate(FORMS):
            _say(admin, f"{_trigger(i)} go")
        yield _wait_all(admin, ids)


def test_suite_is_big_enough() -> None:
    assert len(FORMS) >= 40
    assert len({f.id for f in FORMS}) == len(FORMS)


@pytest.mark.parametrize("form", FORMS, ids=[f.id for f in FORMS])
def test_form_is_refused_with_its_reason(
    form: Form, outcomes: dict[str, dict[str, Any]], canary: Receiver
) -> None:
    _assert_refused(outcomes[form.id], _url(form, canary.port), form.reason)


def test_canary_received_nothing(outcomes: dict[str, dict[str, Any]], canary: Receiver) -> None:
    # Every delivery has ended (refused) by now: no late request can still arrive.
    assert len(outcomes) == len(FORMS)
    assert canary.requests == []


# --- redirects to private addresses ------------------------------------------------------------

REDIRECTOR_HOST = "127.0.0.2"

REDIRECTS: list[Form] = [
    Form("redirect-to-loopback-canary", "http://127.0.0.1:{p}/inner", "loopback"),
    Form("redirect-to-decimal-canary", "http://2130706433:{p}/inner", "loopback"),
    Form("redirect-to-mapped-canary", "http://[::ffff:127.0.0.1]:{p}/inner", "loopback"),
    Form("redirect-to-localhost", "http://localhost:{p}/inner", "localhost name"),
    Form("redirect-to-localhost-dot", "http://localhost.:{p}/inner", "localhost name"),
    Form("redirect-to-userinfo", "http://a@127.0.0.1:{p}/inner", "loopback"),
    Form("redirect-to-metadata", "http://169.254.169.254/latest/meta-data/", "metadata"),
    Form("redirect-to-private", "http://10.0.0.1:{p}/inner", "private"),
    Form("redirect-to-cgnat", "http://100.64.0.1:{p}/inner", "carrier-grade NAT"),
    Form("redirect-to-unspecified", "http://0.0.0.0:{p}/inner", "unspecified"),
]


class Redirector:
    """Answers `/<form id>` with a 302 to that form's URL; counts requests per path."""

    def __init__(self, locations: dict[str, str]) -> None:
        self.hits: dict[str, int] = {}
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                with lock:
                    outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                location = locations.get(self.path.lstrip("/"))
                self.send_response(302 if location else 404)
                if location:
                    self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            do_POST = do_GET = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer((REDIRECTOR_HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Redirector:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://{REDIRECTOR_HOST}:{self._server.server_address[1]}{path}"


def test_redirects_to_private_addresses_are_refused(tmp_path: Path, canary: Receiver) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((REDIRECTOR_HOST, 0))
    except OSError:
        pytest.skip(f"cannot listen on {REDIRECTOR_HOST} here")
    locations = {form.id: _url(form, canary.port) for form in REDIRECTS}
    allow = {"HOOKHUB_EGRESS_ALLOW": f"{REDIRECTOR_HOST}/32"}
    with (
        Redirector(locations) as redirector,
        serving(tmp_path / "data", **allow) as server,
        Client(server.base_url) as admin,
    ):
        admin.login(ADMIN_USERNAME, ADMIN_PASS)
        ids = {
            form.id: _create(admin, redirector.url(f"/{form.id}"), _trigger(900 + i))
            for i, form in enumerate(REDIRECTS)
        }
        for i, _form in enumerate(REDIRECTS):
            _say(admin, f"{_trigger(900 + i)} go")
        records = _wait_all(admin, ids)
    for form in REDIRECTS:
        # the allowed first hop was reached exactly once; its target was refused
        assert redirector.hits.get(f"/{form.id}") == 1, (form.id, redirector.hits)
        _assert_refused(records[form.id], locations[form.id], form.reason)
    assert canary.requests == []
