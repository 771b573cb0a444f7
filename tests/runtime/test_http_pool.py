"""The keep-alive HTTP/1.1 pool under the egress guard, against real sockets on 127.0.0.1 whose
servers answer with exact bytes (so every framing the pool must read is spelled out here)."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import uvloop

from hookhub.runtime.http_pool import HttpPool, Origin, RawResponse, TransportError

# One request as the server saw it: (request line, headers lower-cased, body).
Request = tuple[str, dict[str, str], bytes]
# Given the request and the connection's request number (0-based), the bytes to answer, or None to
# close the connection without answering.
Script = Callable[[Request, int], Awaitable[bytes | None]]


class Closing(bytes):
    """An answer after which the server closes the connection."""


@dataclass
class Server:
    port: int
    connections: int = 0
    requests: list[Request] = field(default_factory=list)

    @property
    def origin(self) -> Origin:
        return Origin("http", "127.0.0.1", self.port, None)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> Server:
        state = Server(port=0)

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            try:
                number = 0
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    headers = {}
                    for line in lines[1:]:
                        if line:
                            k, _, v = line.partition(":")
                            headers[k.strip().lower()] = v.strip()
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                    request = (lines[0], headers, body)
                    state.requests.append(request)
                    answer = await script(request, number)
                    number += 1
                    if answer is None:
                        break
                    writer.write(answer)
                    await writer.drain()
                    if isinstance(answer, Closing):
                        break
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        servers.append(server)
        state.port = server.sockets[0].getsockname()[1]
        return state

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def _answer(status: int, body: bytes = b"", *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status} Whatever", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _fixed(data: bytes) -> Script:
    async def script(request: Request, number: int) -> bytes | None:
        return data

    return script


async def _get(
    pool: HttpPool, server: Server, method: str = "GET", body: bytes | None = None, **kw: int
) -> RawResponse:
    return await pool.request(
        server.origin,
        method,
        "/p?q=1",
        [("Host", f"127.0.0.1:{server.port}"), ("X-Test", "yes")],
        body,
        max_body=kw.get("max_body", 1 << 20),
    )


async def test_keep_alive_reuses_one_connection(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(_answer(200, b"hello", "X-Reply: 1")))
    pool = HttpPool()
    for _ in range(5):
        response = await _get(pool, server, "POST", b'{"a":1}')
        assert (response.status, response.body, response.truncated) == (200, b"hello", False)
        assert ("X-Reply", "1") in response.headers
    await pool.aclose()
    assert server.connections == 1
    line, headers, body = server.requests[0]
    assert line == "POST /p?q=1 HTTP/1.1"
    assert headers["content-length"] == "7" and headers["x-test"] == "yes"
    assert body == b'{"a":1}'


async def test_post_without_body_says_content_length_zero(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    server = await serve(await _fixed(_answer(204)))
    pool = HttpPool()
    response = await _get(pool, server, "POST")
    assert response.status == 204 and response.body == b""
    assert server.requests[0][1]["content-length"] == "0"
    # 204 has no body by definition: the connection stays usable
    assert pool.idle_connections == 1
    await pool.aclose()


async def test_concurrent_requests_open_separate_connections(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def slow(request: Request, number: int) -> bytes:
        await asyncio.sleep(0.05)
        return _answer(200, b"x")

    server = await serve(slow)
    pool = HttpPool()
    results = await asyncio.gather(*(_get(pool, server) for _ in range(4)))
    assert [r.body for r in results] == [b"x"] * 4
    assert server.connections == 4
    assert pool.idle_connections == 4
    await _get(pool, server)
    assert server.connections == 4  # reused
    await pool.aclose()
    assert pool.idle_connections == 0


async def test_peer_closing_an_idle_connection_is_not_an_error(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def once(request: Request, number: int) -> bytes | None:
        # the peer keeps the connection for one exchange, then drops it silently (keep-alive timeout)
        return _answer(200, b"ok") if number == 0 else None

    server = await serve(once)
    pool = HttpPool()
    assert (await _get(pool, server)).body == b"ok"
    # the second request goes out on the kept connection, meets the close, and is sent again
    assert (await _get(pool, server)).body == b"ok"
    assert server.connections == 2
    await pool.aclose()


async def test_connection_closed_before_any_answer_on_a_fresh_connection(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def never(request: Request, number: int) -> bytes | None:
        return None

    server = await serve(never)
    pool = HttpPool()
    with pytest.raises(TransportError, match="closed before a response"):
        await _get(pool, server)
    assert server.connections == 1  # a fresh connection is not retried: the peer did see it
    await pool.aclose()


async def test_chunked_body(serve: Callable[[Script], Awaitable[Server]]) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    server = await serve(await _fixed(chunked))
    pool = HttpPool()
    assert (await _get(pool, server)).body == b"hello world"
    assert (await _get(pool, server)).body == b"hello world"
    assert server.connections == 1
    await pool.aclose()


async def test_body_delimited_by_close(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(Closing(b"HTTP/1.1 200 OK\r\n\r\nall of it")))
    pool = HttpPool()
    response = await _get(pool, server)
    assert response.body == b"all of it"
    assert pool.idle_connections == 0
    await pool.aclose()


async def test_connection_close_header_is_honoured(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(_answer(200, b"x", "Connection: close")))
    pool = HttpPool()
    await _get(pool, server)
    await _get(pool, server)
    assert server.connections == 2
    await pool.aclose()


async def test_interim_100_continue_is_skipped(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(b"HTTP/1.1 100 Continue\r\n\r\n" + _answer(201, b"made", "X-Final: 1")))
    pool = HttpPool()
    response = await _get(pool, server, "POST", b"b")
    assert (response.status, response.body) == (201, b"made")
    assert response.headers == (("Content-Length", "4"), ("X-Final", "1"))
    await pool.aclose()


async def test_head_response_has_no_body(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"))
    pool = HttpPool()
    response = await _get(pool, server, "HEAD")
    assert (response.status, response.body) == (200, b"")
    assert ("Content-Length", "1000") in response.headers
    await pool.aclose()


async def test_gzip_and_deflate_bodies_are_decoded(serve: Callable[[Script], Awaitable[Server]]) -> None:
    packed = {"gzip": gzip.compress(b"squeezed" * 100), "deflate": zlib.compress(b"squeezed" * 100)}

    async def script(request: Request, number: int) -> bytes:
        encoding = "gzip" if number == 0 else "deflate"
        return _answer(200, packed[encoding], f"Content-Encoding: {encoding}")

    server = await serve(script)
    pool = HttpPool()
    assert (await _get(pool, server)).body == b"squeezed" * 100
    assert (await _get(pool, server)).body == b"squeezed" * 100
    await pool.aclose()


async def test_compressed_body_is_capped_after_inflation(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    bomb = gzip.compress(b"\0" * 5_000_000)  # a few KiB on the wire
    server = await serve(await _fixed(_answer(200, bomb, "Content-Encoding: gzip")))
    pool = HttpPool()
    with pytest.raises(TransportError, match=r"^response larger than 1 MiB$"):
        await _get(pool, server, max_body=1 << 20)
    truncated = await pool.request(
        server.origin, "GET", "/", [("Host", "h")], None, max_body=1000, truncate=True
    )
    assert truncated.truncated and truncated.body == b"\0" * 1000
    await pool.aclose()


async def test_oversized_plain_body(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(_answer(200, b"a" * 3000)))
    pool = HttpPool()
    with pytest.raises(TransportError, match=r"^response larger than 1000 bytes$"):
        await _get(pool, server, max_body=1000)
    assert pool.idle_connections == 0
    await pool.aclose()


async def test_bytes_after_a_complete_response_do_not_leak_into_it(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    stray = b"HTTP/1.1 200 OK\r\nX-Stray: 1\r\nContent-Length: 5\r\n\r\nstray"
    server = await serve(await _fixed(_answer(200, b"real", "X-Real: 1") + stray))
    pool = HttpPool()
    response = await _get(pool, server)
    assert (response.body, response.headers) == (b"real", (("Content-Length", "4"), ("X-Real", "1")))
    assert pool.idle_connections == 0  # out of step: not used again
    assert (await _get(pool, server)).body == b"real"
    assert server.connections == 2
    await pool.aclose()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SMTP ready\r\n\r\n", "malformed response"),
        (Closing(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), "closed mid-response"),
        (Closing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"), "closed mid-response"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n", "response headers larger"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 201 + b"\r\n", "response headers larger"),
    ],
)
async def test_broken_responses_are_errors(
    serve: Callable[[Script], Awaitable[Server]], answer: bytes, message: str
) -> None:
    server = await serve(await _fixed(answer))
    pool = HttpPool()
    with pytest.raises(TransportError, match=message):
        await asyncio.wait_for(_get(pool, server), 5)
    assert pool.idle_connections == 0
    await pool.aclose()


@pytest.mark.parametrize(
    ("headers", "target", "message"),
    [
        ([("X-Evil", "a\r\nInjected: yes")], "/", "bad value for header"),
        ([("X Bad", "v")], "/", "bad header name"),
        ([("X-Ok", "v")], "/a b", "bad request target"),
        ([("X-Ok", "€")], "/", "Latin-1"),
    ],
)
async def test_bad_requests_are_refused_before_sending(
    serve: Callable[[Script], Awaitable[Server]], headers: list[tuple[str, str]], target: str, message: str
) -> None:
    server = await serve(await _fixed(_answer(200)))
    pool = HttpPool()
    with pytest.raises(TransportError, match=message):
        await pool.request(server.origin, "GET", target, headers, None, max_body=100)
    assert server.connections == 0
    await pool.aclose()


async def test_cancelled_exchange_closes_its_connection(serve: Callable[[Script], Awaitable[Server]]) -> None:
    release = asyncio.Event()

    async def slow(request: Request, number: int) -> bytes:
        if len(server.requests) == 1:  # the first request of the test, on the first connection
            await release.wait()
        return _answer(200, b"late")

    server = await serve(slow)
    pool = HttpPool()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(_get(pool, server), 0.1)
    assert pool.idle_connections == 0
    # a later request does not read the first one's late answer
    assert (await _get(pool, server)).body == b"late"
    assert server.connections == 2
    release.set()
    await pool.aclose()


async def test_idle_connections_expire(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(_answer(200, b"x")))
    pool = HttpPool(idle_seconds=0.05)
    await _get(pool, server)
    await asyncio.sleep(0.1)
    await _get(pool, server)
    assert server.connections == 2
    await pool.aclose()


async def test_idle_connections_per_origin_are_capped(serve: Callable[[Script], Awaitable[Server]]) -> None:
    async def slow(request: Request, number: int) -> bytes:
        await asyncio.sleep(0.02)
        return _answer(200, b"x")

    server = await serve(slow)
    pool = HttpPool(max_idle_per_origin=2)
    await asyncio.gather(*(_get(pool, server) for _ in range(5)))
    assert pool.idle_connections == 2
    await pool.aclose()


async def test_closed_pool_refuses_requests(serve: Callable[[Script], Awaitable[Server]]) -> None:
    server = await serve(await _fixed(_answer(200)))
    pool = HttpPool()
    await pool.aclose()
    with pytest.raises(TransportError, match="closed"):
        await _get(pool, server)


def test_the_pool_on_uvloop() -> None:
    """The server runs on uvloop (uvicorn's choice when installed), whose transports differ from
    asyncio's in small ways: keep-alive, chunking, a dropped idle connection and a cancelled
    exchange, there."""

    async def scenario() -> None:
        requests = 0

        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal requests
            served = 0
            try:
                while served < 2:  # then drop the connection while the client keeps it idle
                    await reader.readuntil(b"\r\n\r\n")
                    requests += 1
                    if requests == 5:
                        await asyncio.sleep(5)  # outlasts the client's timeout
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
                    await writer.drain()
                    served += 1
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        origin = Origin("http", "127.0.0.1", server.sockets[0].getsockname()[1], None)
        pool = HttpPool()
        try:
            for _ in range(4):
                response = await pool.request(origin, "POST", "/", [("Host", "h")], b"{}", max_body=100)
                assert (response.status, response.body) == (200, b"ok")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(
                    pool.request(origin, "GET", "/", [("Host", "h")], None, max_body=100), 0.1
                )
            assert pool.idle_connections == 0
        finally:
            await pool.aclose()
            server.close()

    uvloop.run(scenario())
