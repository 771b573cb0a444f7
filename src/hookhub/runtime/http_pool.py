"""Keep-alive HTTP/1.1 connections for the egress guard: the transport under `EgressClient`.

Why not httpx/httpcore: their pool looks at every pooled connection (a socket poll each) for every
request, which made the client, not the network, the limit of outgoing deliveries. Here a request
takes the most recently used idle connection of its exact origin from a list, or opens one; a
connection the peer closed while idle has already told us so (`connection_lost`), so nothing is
polled. Responses are parsed by llhttp (through `httptools`, which uvicorn uses too).

The pool knows nothing about policy: the caller (`egress.py`) has resolved and checked the address
and hands over `(scheme, ip, port, server_name)`; the pool connects to exactly that address, with
TLS verified against `server_name` when there is one. Connections are keyed by all four, so a TLS
connection verified for one name never carries a request for another.

Errors: `ConnectFailed` (nothing was sent; trying another address is safe), `TransportError`
(the exchange failed; the request may have reached the peer). A request on a reused connection
that the peer closed before sending any byte of a response is sent once more on a fresh one: the
usual race of a keep-alive timeout, which says nothing about the peer's health.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import httptools

__all__ = ["ConnectFailed", "HttpPool", "Origin", "RawResponse", "TransportError"]

# Idle connections kept per origin, and how long one may sit unused before it is closed.
MAX_IDLE_PER_ORIGIN = 64
IDLE_SECONDS = 30.0
# Response head (status line and headers) size, and header count, beyond which a peer is refused.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 200

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")


class TransportError(Exception):
    """The exchange failed after connecting (or TLS failed); `reason` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectFailed(TransportError):
    """No connection could be made; nothing was sent."""


class _StaleConnection(TransportError):
    """A reused connection closed before any response byte arrived (safe to send again)."""


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str  # "http" or "https"
    ip: str
    port: int
    server_name: str | None  # TLS: the name the certificate must carry (None: the IP itself)


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool


class _Connection(asyncio.Protocol):
    """One socket, one request at a time. Parser callbacks are llhttp's (`httptools`) names."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._head_only = False
        self._max_body = 0
        self._truncate = False
        self._reset()

    def _reset(self) -> None:
        self._received_any = False
        self._head_bytes = 0
        self._headers: list[tuple[str, str]] = []
        self._headers_done = False
        self._complete = False
        self._reusable = False
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False
        self._length_known = False
        self._decoder: zlib._Decompress | None = None
        self._error: TransportError | None = None
        self._trailing = False

    # ---- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._complete:
            # Bytes nobody asked for (on an idle connection): the stream is out of step.
            self.close()
            return
        self._received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self._complete:  # a HEAD response's head is all there is (see on_headers_complete)
                self._finish()
            else:
                self._fail(self._error or TransportError(f"malformed response: {exc}"))
            return
        if self._complete:
            self._finish()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and not self._complete and not self._length_known:
            # A body without length or chunking ends when the connection does.
            self._complete = True
            self._reusable = False
            self._finish()
            return
        if not self._received_any:
            self._fail(_StaleConnection("the connection closed before a response"))
        elif exc is not None:
            self._fail(TransportError(f"the connection failed mid-response: {exc}"))
        else:
            self._fail(TransportError("the connection closed mid-response"))

    # ---- llhttp callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            # Bytes after the end of the response, in the same read: a peer out of step. The
            # response stays as it was; the connection is not used again.
            self._trailing = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._complete:
            return
        self._head_bytes += len(name) + len(value) + 4
        if len(self._headers) >= MAX_HEADERS or self._head_bytes > MAX_HEAD_BYTES:
            self._error = TransportError(
                f"response headers larger than {MAX_HEADERS} lines or {MAX_HEAD_BYTES // 1024} KiB"
            )
            raise self._error
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # Interim (100 Continue, 103 Early Hints): the real response follows.
            self._headers = []
            return
        self._headers_done = True
        encoding = ""
        for name, value in self._headers:
            lname = name.lower()
            if lname == "content-length" or (lname == "transfer-encoding" and "chunked" in value.lower()):
                self._length_known = True
            elif lname == "content-encoding":
                encoding = value.strip().lower()
        if self._head_only:
            # llhttp cannot be told that a HEAD response has no body (it knows about 204 and
            # 304): stop reading here, and do not reuse the connection.
            self._complete = True
            self._reusable = False
            raise _HeadDone
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()

    def on_body(self, body: bytes) -> None:
        if self.truncated or self._complete:
            return
        if self._decoder is not None:
            try:
                # Bounded inflation: a small compressed body must not become gigabytes here.
                body = self._decoder.decompress(body, self._max_body + 1 - self._size)
            except zlib.error as exc:
                self._error = TransportError(f"bad compressed body: {exc}")
                raise self._error from None
        self._size += len(body)
        if self._size > self._max_body:
            if not self._truncate:
                self._error = _TooLarge(self._max_body)
                raise self._error
            body = body[: len(body) - (self._size - self._max_body)]
            self.truncated = True
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if not self._headers_done or self._complete:
            return  # the end of an interim response, or of trailing bytes
        self._complete = True
        self._reusable = self._parser.should_keep_alive() and not self.truncated

    # ---- the exchange ------------------------------------------------------------------------------

    async def exchange(
        self, head: bytes, body: bytes | None, *, head_only: bool, max_body: int, truncate: bool
    ) -> RawResponse:
        """Send one request and read its whole response. Raises TransportError (or subclasses)."""
        transport = self.transport
        if transport is None or self.closed:
            raise _StaleConnection("the connection is closed")
        self._reset()
        self._head_only, self._max_body, self._truncate = head_only, max_body, truncate
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            transport.write(head + body if body else head)
            await waiter
        except BaseException:
            # Cancelled (timeout) or failed: the stream is in an unknown state.
            self.close()
            raise
        finally:
            self._waiter = None
        if not self._reusable or self._trailing:
            self.close()
        data = b"".join(self._chunks)
        if self._decoder is not None and not self.truncated and len(data) <= max_body:
            rest = self._decoder.flush()
            data += rest
            if len(data) > max_body:
                if not truncate:
                    raise _TooLarge(max_body)
                data, self.truncated = data[:max_body], True
        return RawResponse(self._parser.get_status_code(), tuple(self._headers), data, self.truncated)

    def _finish(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: TransportError) -> None:
        self.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _HeadDone(Exception):
    """Raised from a parser callback to stop parsing after a bodiless response's head."""


class _TooLarge(TransportError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"response larger than {_human(limit)}")


class HttpPool:
    """Connections by origin. One instance per event loop (asyncio transports are loop-bound)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._ssl = ssl_context
        self._max_idle = max_idle_per_origin
        self._idle_seconds = idle_seconds
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._closed = False

    @property
    def idle_connections(self) -> int:
        """How many connections wait for reuse (for tests and diagnostics)."""
        return sum(1 for conns in self._idle.values() for conn in conns if not conn.closed)

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
        """Send `method target` with `headers` (Host included by the caller) and `body` to
        `origin`; returns the complete response. `Content-Length` is computed here. The body is
        capped at `max_body` bytes: beyond it `TransportError` unless `truncate`."""
        if self._closed:
            raise TransportError("the HTTP client is closed")
        method = method.upper()
        head = _request_head(method, target, headers, body)
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._exchange(origin, conn, head, body, method, max_body, truncate)
            except _StaleConnection:
                pass  # the peer dropped it while idle: once more on a fresh connection
        conn = await self._connect(origin)
        try:
            return await self._exchange(origin, conn, head, body, method, max_body, truncate)
        except _StaleConnection:
            raise TransportError("the connection closed before a response") from None

    async def _exchange(
        self,
        origin: Origin,
        conn: _Connection,
        head: bytes,
        body: bytes | None,
        method: str,
        max_body: int,
        truncate: bool,
    ) -> RawResponse:
        response = await conn.exchange(
            head, body, head_only=method == "HEAD", max_body=max_body, truncate=truncate
        )
        if not conn.closed:
            self._give_back(origin, conn)
        return response

    def _take_idle(self, origin: Origin) -> _Connection | None:
        conns = self._idle.get(origin)
        if not conns:
            return None
        now = time.monotonic()
        while conns:
            conn = conns.pop()  # most recently used: the likeliest still open
            if conn.closed:
                continue
            if now - conn.idle_since > self._idle_seconds:
                conn.close()
                continue
            return conn
        return None

    def _give_back(self, origin: Origin, conn: _Connection) -> None:
        if self._closed:
            conn.close()
            return
        conns = self._idle.setdefault(origin, deque())
        conn.idle_since = time.monotonic()
        conns.append(conn)
        while len(conns) > self._max_idle:
            conns.popleft().close()

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if origin.scheme == "https":
            tls = self._ssl or _default_ssl_context()
        try:
            _, conn = await loop.create_connection(
                _Connection,
                origin.ip,
                origin.port,
                ssl=tls,
                server_hostname=(origin.server_name or origin.ip) if tls is not None else None,
            )
        except ssl.SSLError as exc:
            raise TransportError(f"TLS failed: {exc.reason or exc}") from None
        except OSError as exc:
            raise ConnectFailed(f"connection failed: {exc.strerror or exc}") from None
        return conn

    async def aclose(self) -> None:
        """Close every idle connection; requests in progress close theirs when they end."""
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


_SSL_CONTEXT: ssl.SSLContext | None = None


def _default_ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


def _request_head(method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes | None) -> bytes:
    if not method.isascii() or not method.isalpha():
        raise TransportError(f"bad method {method!r}")
    if not target or any(c in target for c in " \r\n\0\t"):
        raise TransportError("bad request target")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if not name or any(bad in name for bad in (*_FORBIDDEN_IN_HEADERS, ":", " ")):
            raise TransportError(f"bad header name {name!r}")
        if any(bad in value for bad in _FORBIDDEN_IN_HEADERS):
            raise TransportError(f"bad value for header {name!r}")
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    elif method not in _BODYLESS_METHODS:
        lines.append("Content-Length: 0")
    lines.append("\r\n")
    try:
        return "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise TransportError("header values must be Latin-1 text") from None


def _human(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"
