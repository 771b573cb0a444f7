"""The egress guard (issue #5, Security): refusals are decided before any connection; allowed
traffic goes to the checked address with the original Host header, against real 127.0.0.1 receivers."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hookhub.runtime.egress import (
    EgressClient,
    EgressError,
    EgressRefused,
    Resolver,
    check_address,
    parse_numeric_ipv4,
)
from hookhub.runtime.http_pool import HttpPool, Origin, RawResponse

LOOPBACK = ["127.0.0.1/32"]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen], Awaitable[bytes]]
Serve = Callable[..., Awaitable["Receiver"]]


@dataclass
class Receiver:
    """A tiny HTTP/1.1 responder on 127.0.0.1 recording what arrives."""

    port: int
    seen: list[Seen] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _ok(seen: Seen) -> bytes:
    return _reply(200, b"hello", {"X-Reply": "yes"})


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = Receiver(port=0)

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(method, path, headers, body)
                receiver.seen.append(seen)
                writer.write(await handler(seen))
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        receiver.port = server.sockets[0].getsockname()[1]
        return receiver

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@dataclass
class _Sent:
    origin: Origin
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes | None


class _RecordingPool(HttpPool):
    """Answers every request with 200 `ok` without any network, recording what was asked; with
    `refuse`, any request that gets this far fails the test (the guard should have refused it)."""

    def __init__(self, *, refuse: bool = False) -> None:
        super().__init__()
        self.sent: list[_Sent] = []
        self._refuse = refuse

    async def request(
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
        *,
        max_body: int,
        truncate: bool = False,
    ) -> RawResponse:
        if self._refuse:
            raise AssertionError(f"a refused request reached the network: {origin}")
        self.sent.append(_Sent(origin, method, target, list(headers), body))
        return RawResponse(200, (), b"ok", False)


def _no_network() -> HttpPool:
    return _RecordingPool(refuse=True)


def _resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(f"unknown host {host}")
        return table[host]

    return resolve


# --- refusals, all decided before any connection -------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://2130706433/", "loopback"),  # decimal
        ("http://0x7f000001/", "loopback"),  # hex
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://127.1/", "loopback"),  # short form
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),  # NAT64 of 169.254.169.254
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.1:8080/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://[fec0::1]/", "private"),
        ("http://[feff::1]/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://255.255.255.255/", "broadcast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://192.0.2.1/", "special-purpose"),  # TEST-NET-1
        ("http://198.18.0.1/", "special-purpose"),  # benchmarking
        ("http://localhost/", "localhost name"),
        ("http://LocalHost./", "localhost name"),
        ("http://api.localhost:8080/", "localhost name"),
        ("https://127.0.0.1/", "loopback"),
    ],
)
async def test_refused_addresses(url: str, fragment: str) -> None:
    async with EgressClient(pool=_no_network(), resolver=_resolver({})) as client:
        with pytest.raises(EgressRefused) as info:
            await client.send("POST", url, content=b"x")
    assert info.value.reason.startswith("refused: ")
    assert fragment in info.value.reason


async def test_refusal_reason_is_readable() -> None:
    async with EgressClient(pool=_no_network()) as client:
        with pytest.raises(EgressRefused) as info:
            await client.send("GET", "http://127.0.0.1/")
    assert info.value.reason == "refused: 127.0.0.1 is a loopback address"


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"])
async def test_only_http_and_https(url: str) -> None:
    async with EgressClient(pool=_no_network()) as client:
        with pytest.raises(EgressRefused, match="scheme"):
            await client.send("GET", url)


async def test_every_resolved_address_is_checked() -> None:
    resolver = _resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    async with EgressClient(pool=_no_network(), resolver=resolver) as client:
        with pytest.raises(EgressRefused) as info:
            await client.send("GET", "http://mixed.example/")
    assert info.value.reason == "refused: mixed.example (10.0.0.7) is a private address"


async def test_name_resolving_to_mapped_loopback_is_refused() -> None:
    resolver = _resolver({"evil.example": ["::ffff:127.0.0.1"]})
    async with EgressClient(pool=_no_network(), resolver=resolver) as client:
        with pytest.raises(EgressRefused, match="loopback"):
            await client.send("GET", "http://evil.example/")


async def test_unresolvable_and_bad_urls_are_errors() -> None:
    async with EgressClient(pool=_no_network(), resolver=_resolver({})) as client:
        with pytest.raises(EgressError, match=r"cannot resolve nowhere\.example"):
            await client.send("GET", "http://nowhere.example/")
        with pytest.raises(EgressError, match="bad URL"):
            await client.send("GET", "http://example.com:99999/")
        with pytest.raises(EgressError, match="no host"):
            await client.send("GET", "http:///path")


async def test_allow_cidr_does_not_open_other_loopback_addresses() -> None:
    async with EgressClient(allow=LOOPBACK, pool=_no_network()) as client:
        with pytest.raises(EgressRefused, match="loopback"):
            await client.send("GET", "http://127.0.0.2/")
        with pytest.raises(EgressRefused, match="loopback"):
            await client.send("GET", "http://[::1]/")
        with pytest.raises(EgressRefused, match="localhost name"):
            await client.send("GET", "http://localhost/")


# --- allowed traffic goes to the checked address ---------------------------------------------


async def test_public_name_connects_to_checked_ip_with_host_and_sni() -> None:
    pool = _RecordingPool()
    calls: list[str] = []
    resolver = _resolver({"hook.example": ["93.184.216.34"]}, calls)
    async with EgressClient(pool=pool, resolver=resolver) as client:
        response = await client.send("POST", "https://Hook.Example/a b?b=1&c=ü", content=b"{}")
    assert response.status == 200 and response.body == b"ok"
    (sent,) = pool.sent
    # the checked address, verified against the name the user wrote
    assert sent.origin == Origin("https", "93.184.216.34", 443, "hook.example")
    assert sent.target == "/a%20b?b=1&c=%C3%BC"
    assert ("Host", "hook.example") in sent.headers
    assert sent.body == b"{}"
    assert calls == ["hook.example"]


async def test_userinfo_becomes_basic_authorization() -> None:
    pool = _RecordingPool()
    async with EgressClient(pool=pool, resolver=_resolver({"hook.example": ["93.184.216.34"]})) as client:
        await client.send("GET", "http://bob:p%40ss@hook.example:8080/")
        await client.send("GET", "http://bob:pw@hook.example/", headers={"Authorization": "Bearer own"})
    first, second = pool.sent
    assert ("Authorization", "Basic Ym9iOnBAc3M=") in first.headers  # bob:p@ss
    assert ("Host", "hook.example:8080") in first.headers
    assert [v for k, v in second.headers if k == "Authorization"] == ["Bearer own"]


async def test_allowed_cidr_end_to_end(serve: Serve) -> None:
    receiver = await serve(_ok)
    async with EgressClient(allow=LOOPBACK) as client:
        response = await client.send(
            "PUT",
            f"{receiver.base}/in/put?x=1",
            headers={"Content-Type": "application/json", "X-Token": "t0k"},
            content=b'{"a": 1}',
            timeout=5,
        )
    assert response.status == 200
    assert response.body == b"hello"
    assert response.header("x-reply") == "yes"
    assert not response.truncated
    assert response.elapsed > 0
    (seen,) = receiver.seen
    assert (seen.method, seen.path, seen.body) == ("PUT", "/in/put?x=1", b'{"a": 1}')
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-token"] == "t0k"
    assert seen.headers["host"] == f"127.0.0.1:{receiver.port}"


async def test_no_dns_rebinding(serve: Serve) -> None:
    receiver = await serve(_ok)
    calls: list[str] = []
    resolver = _resolver({"hook.example": ["127.0.0.1"]}, calls)
    async with EgressClient(allow=LOOPBACK, resolver=resolver) as client:
        response = await client.send("GET", f"http://hook.example:{receiver.port}/x")
    assert response.status == 200
    # Resolved once, by us; the connection went to that address with the original Host header.
    assert calls == ["hook.example"]
    assert receiver.seen[0].headers["host"] == f"hook.example:{receiver.port}"


async def test_allow_by_host_name(serve: Serve) -> None:
    receiver = await serve(_ok)
    resolver = _resolver({"internal.example": ["127.0.0.1"]})
    async with EgressClient(allow=["Internal.Example"], resolver=resolver) as client:
        response = await client.send("GET", f"http://internal.example:{receiver.port}/")
        assert response.status == 200
        with pytest.raises(EgressRefused):
            await client.send("GET", f"http://127.0.0.1:{receiver.port}/")


async def test_default_resolver_and_next_address_on_connect_failure(serve: Serve) -> None:
    # The system resolver may list ::1 before 127.0.0.1 for localhost; the receiver listens on
    # 127.0.0.1 only, so this also shows the fallback to the next checked address.
    receiver = await serve(_ok)
    async with EgressClient(allow=["localhost"]) as client:
        response = await client.send("GET", f"http://localhost:{receiver.port}/d", timeout=5)
    assert response.status == 200
    assert receiver.seen[0].headers["host"] == f"localhost:{receiver.port}"


async def test_falls_back_to_next_checked_address(serve: Serve) -> None:
    receiver = await serve(_ok)
    resolver = _resolver({"two.example": ["127.0.0.2", "127.0.0.1"]})
    allow = ["127.0.0.0/8"]
    with socket.socket() as sock:  # make sure nothing listens on 127.0.0.2:port
        try:
            sock.bind(("127.0.0.2", receiver.port))
        except OSError:
            pytest.skip("127.0.0.2 not usable here")
    async with EgressClient(allow=allow, resolver=resolver) as client:
        response = await client.send("GET", f"http://two.example:{receiver.port}/", timeout=5)
    assert response.status == 200
    assert len(receiver.seen) == 1


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/",
        "http://localhost:{port}/",
        "http://2130706434/",
        "http://10.0.0.1/",
    ],
)
async def test_redirect_to_refused_address_is_refused(serve: Serve, location: str) -> None:
    port_box: list[int] = []

    async def redirect(seen: Seen) -> bytes:
        return _reply(302, headers={"Location": location.format(port=port_box[0])})

    receiver = await serve(redirect)
    port_box.append(receiver.port)
    async with EgressClient(allow=LOOPBACK) as client:
        with pytest.raises(EgressRefused):
            await client.send("GET", f"{receiver.base}/start")
    assert len(receiver.seen) == 1


async def test_allowed_redirect_is_followed(serve: Serve) -> None:
    async def handler(seen: Seen) -> bytes:
        if seen.path == "/start":
            return _reply(303, headers={"Location": "/done"})
        return _reply(200, b"done")

    receiver = await serve(handler)
    async with EgressClient(allow=LOOPBACK) as client:
        response = await client.send("POST", f"{receiver.base}/start", content=b"payload")
    assert response.body == b"done"
    assert response.url == f"{receiver.base}/done"
    assert [(s.method, s.path, s.body) for s in receiver.seen] == [
        ("POST", "/start", b"payload"),
        ("GET", "/done", b""),
    ]


async def test_307_keeps_method_and_body(serve: Serve) -> None:
    async def handler(seen: Seen) -> bytes:
        if seen.path == "/start":
            return _reply(307, headers={"Location": "/again"})
        return _reply(204)

    receiver = await serve(handler)
    async with EgressClient(allow=LOOPBACK) as client:
        response = await client.send("POST", f"{receiver.base}/start", content=b"payload")
    assert response.status == 204
    assert [(s.method, s.body) for s in receiver.seen] == [("POST", b"payload"), ("POST", b"payload")]


async def test_too_many_redirects(serve: Serve) -> None:
    async def loop(seen: Seen) -> bytes:
        return _reply(302, headers={"Location": "/again"})

    receiver = await serve(loop)
    async with EgressClient(allow=LOOPBACK, max_redirects=3) as client:
        with pytest.raises(EgressError, match="too many redirects"):
            await client.send("GET", f"{receiver.base}/")
    assert len(receiver.seen) == 4


# --- transport failures ------------------------------------------------------------------------


async def test_oversized_response_is_an_error(serve: Serve) -> None:
    async def big(seen: Seen) -> bytes:
        return _reply(200, b"a" * 5000)

    receiver = await serve(big)
    async with EgressClient(allow=LOOPBACK, max_body=1024) as client:
        with pytest.raises(EgressError) as info:
            await client.send("GET", f"{receiver.base}/")
    assert info.value.reason == "response larger than 1 KiB"


async def test_oversized_response_default_cap_is_10_mib(
    serve: Serve,
) -> None:
    async def big(seen: Seen) -> bytes:
        return _reply(200, b"a" * (10 * 1024 * 1024 + 1))

    receiver = await serve(big)
    async with EgressClient(allow=LOOPBACK) as client:
        with pytest.raises(EgressError, match=r"^response larger than 10 MiB$"):
            await client.send("GET", f"{receiver.base}/")


async def test_oversized_response_truncated_when_asked(
    serve: Serve,
) -> None:
    async def big(seen: Seen) -> bytes:
        return _reply(200, b"a" * 5000)

    receiver = await serve(big)
    async with EgressClient(allow=LOOPBACK, max_body=1024, truncate_oversized=True) as client:
        response = await client.send("GET", f"{receiver.base}/")
    assert response.truncated
    assert response.body == b"a" * 1024


async def test_timeout(serve: Serve) -> None:
    async def slow(seen: Seen) -> bytes:
        await asyncio.sleep(5)
        return _reply(200)

    receiver = await serve(slow)
    async with EgressClient(allow=LOOPBACK) as client:
        with pytest.raises(EgressError, match="timed out"):
            await client.send("GET", f"{receiver.base}/", timeout=0.2)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with EgressClient(allow=LOOPBACK) as client:
        with pytest.raises(EgressError, match="connection failed"):
            await client.send("GET", f"http://127.0.0.1:{port}/", timeout=5)


# --- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.0x10.1", "10.16.0.1"),
        ("1.2.3.4", "1.2.3.4"),
        ("256.0.0.1", None),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("08.0.0.1", None),
        ("4294967296", None),
    ],
)
def test_parse_numeric_ipv4(text: str, expected: str | None) -> None:
    parsed = parse_numeric_ipv4(text)
    assert (str(parsed) if parsed else None) == expected
    if expected is not None:
        # Same meaning as the C library's inet_aton, which the OS resolver uses.
        assert socket.inet_ntoa(socket.inet_aton(text)) == expected


@pytest.mark.parametrize("addr", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_pass(addr: str) -> None:
    assert check_address(ipaddress.ip_address(addr)) is None


# --- https: the certificate is verified against the original name, not the IP ----------------


@pytest.fixture
def hook_example_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `hook.example` (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=hook.example"),
            *("-addext", "subjectAltName=DNS:hook.example"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_sni_and_certificate_use_original_name(
    serve: Serve, hook_example_cert: tuple[Path, Path]
) -> None:
    cert, key = hook_example_cert
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    sni_seen: list[str | None] = []

    def on_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        sni_seen.append(name)

    server_tls.sni_callback = on_sni
    receiver = await serve(_ok, server_tls)
    client_tls = ssl.create_default_context(cafile=str(cert))
    resolver = _resolver({"hook.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    async with EgressClient(allow=LOOPBACK, resolver=resolver, ssl_context=client_tls) as client:
        response = await client.send("GET", f"https://hook.example:{receiver.port}/s", timeout=5)
        assert response.status == 200 and response.body == b"hello"
        assert sni_seen[0] == "hook.example"
        assert receiver.seen[0].headers["host"] == f"hook.example:{receiver.port}"
        # Same IP, other name: the certificate does not match that name, so it must fail.
        with pytest.raises(EgressError):
            await client.send("GET", f"https://other.example:{receiver.port}/s", timeout=5)


async def test_credentials_not_forwarded_to_other_origin(serve: Serve) -> None:
    other = await serve(_ok)

    async def redirect(seen: Seen) -> bytes:
        return _reply(307, headers={"Location": f"{other.base}/next"})

    first = await serve(redirect)
    async with EgressClient(allow=LOOPBACK) as client:
        response = await client.send(
            "POST", f"{first.base}/", headers={"Authorization": "Bearer s3cret", "X-Keep": "1"}, content=b"b"
        )
    assert response.status == 200
    assert first.seen[0].headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in other.seen[0].headers
    assert other.seen[0].headers["x-keep"] == "1"


async def test_scoped_link_local_from_resolver_is_refused() -> None:
    resolver = _resolver({"scoped.example": ["fe80::1%1"]})
    async with EgressClient(pool=_no_network(), resolver=resolver) as client:
        with pytest.raises(EgressRefused, match="link-local"):
            await client.send("GET", "http://scoped.example/")


async def test_names_are_resolved_for_every_request_and_literals_checked_once() -> None:
    pool = _RecordingPool()
    calls: list[str] = []
    answers = {"moving.example": ["93.184.216.34"]}
    resolver = _resolver(answers, calls)
    async with EgressClient(pool=pool, resolver=resolver) as client:
        await client.send("POST", "http://moving.example/x", content=b"1")
        answers["moving.example"] = ["10.0.0.5"]  # the name now points inside
        with pytest.raises(EgressRefused, match="private"):
            await client.send("POST", "http://moving.example/x", content=b"2")
        for _ in range(3):
            await client.send("POST", "http://93.184.216.34:8080/y", content=b"3")
        with pytest.raises(EgressRefused, match="loopback"):
            await client.send("POST", "http://127.0.0.1/", content=b"4")
        with pytest.raises(EgressRefused, match="loopback"):
            await client.send("POST", "http://127.0.0.1/", content=b"5")
    assert calls == ["moving.example", "moving.example"]
    assert [s.origin.ip for s in pool.sent] == ["93.184.216.34"] * 4
