"""The egress guard: the one HTTP client through which all outgoing HTTP goes (issue #5, Security).

Outgoing webhook deliveries and scripts' `fetch` reach URLs chosen by users, so without a guard they
could be aimed at the server's own network (SSRF): loopback, private ranges, cloud metadata. The
`EgressClient` therefore:

- accepts only `http` and `https`;
- resolves the host itself (numeric tricks such as `2130706433`, `0x7f000001`, `0177.0.0.1` and
  `127.1` are parsed the way `inet_aton` does, because that is what the OS resolver would do) and
  checks EVERY resolved address; one refused address refuses the request, so a name cannot hide a
  private address behind a public one;
- refuses `localhost` and `*.localhost` by name (resolvers may answer them without DNS);
- connects to the exact address it checked: the URL is rewritten to the IP, the original `Host`
  header is sent, and for https the SNI / certificate name is the original host
  (`extensions={"sni_hostname": ...}`), so httpx never resolves again (no DNS rebinding);
- never uses proxies from the environment (`trust_env=False`): a proxy would resolve for us;
- follows redirects itself, at most `max_redirects`, checking each target with the same policy;
- caps the response body (10 MiB by default) while streaming.

An `allow` entry lifts the policy: a CIDR (`127.0.0.1/32`, `fd00::/8`) allows addresses inside it; any
other string is an exact host name (case-insensitive) whose addresses are all allowed. `localhost`
names are refused even when a CIDR covers their address; only a host-name entry allows them.

https to a host name is sent with `Connection: close`: httpx pools connections by IP, so a pooled TLS
connection verified for one name could otherwise carry a request for another name on the same IP.
That costs a TLS handshake per https request to a name; http and IP-literal https keep alive.

Oversized responses: by default `EgressError("response larger than 10 MiB")` is raised, because a
script parsing a silently cut JSON body would misbehave in confusing ways; with
`truncate_oversized=True` the first `max_body` bytes are returned with `truncated=True` instead
(useful for delivery history, where only a prefix of the body is kept anyway).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_REDIRECTS",
    "EgressClient",
    "EgressError",
    "EgressRefused",
    "EgressResponse",
    "Resolver",
    "check_address",
    "parse_numeric_ipv4",
]

DEFAULT_MAX_BODY = 10 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 3

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""`async (host, port) -> [ip, ...]`; injectable so tests are offline and deterministic."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Credentials meant for one origin must not leak to another one a redirect points at.
_ORIGIN_BOUND_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# Headers we compute per hop; a caller's value would contradict the connection we make.
_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})

# Checked before the generic flags so the reason names the specific danger.
_NAMED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.ip_network("169.254.169.254/32"), "a cloud metadata address"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "a cloud metadata address"),
    (ipaddress.ip_network("100.64.0.0/10"), "a carrier-grade NAT address"),
    (ipaddress.ip_network("255.255.255.255/32"), "a broadcast address"),
    (ipaddress.ip_network("10.0.0.0/8"), "a private address"),
    (ipaddress.ip_network("172.16.0.0/12"), "a private address"),
    (ipaddress.ip_network("192.168.0.0/16"), "a private address"),
    (ipaddress.ip_network("fc00::/7"), "a private address"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class EgressRefused(Exception):
    """The policy refused the request before any connection was made."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EgressError(Exception):
    """The request failed in transport: bad URL, connect error, timeout, body too large, ..."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EgressResponse:
    """A complete response. `headers` keeps repeats (e.g. several `set-cookie`) in order."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    elapsed: float
    url: str

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


def parse_numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse `host` the way `inet_aton` does, or return None if it is not numeric.

    Accepts 1-4 parts, each decimal, `0x` hex or leading-zero octal; the last part fills the
    remaining bytes (`127.1` is 127.0.0.1, `2130706433` is 127.0.0.1).
    """
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                value = int(part[2:], 16) if len(part) > 2 else 0
            elif len(part) > 1 and part.startswith("0"):
                value = int(part[1:], 8)
            elif part.isdigit():
                value = int(part, 10)
            else:
                return None
        except ValueError:
            return None
        values.append(value)
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, 6to4, NAT64, Teredo), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64 or (addr in _IPV4_COMPATIBLE and int(addr) > 1):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def check_address(addr: IPAddress) -> str | None:
    """Why `addr` must not be contacted (e.g. "a loopback address"), or None if it is public."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
        inner = _embedded_ipv4(addr)
        if inner is not None:
            why = check_address(inner)
            if why is not None:
                return f"{why} ({inner}) in IPv6 form"
    for network, why in _NAMED_NETWORKS:
        if addr.version == network.version and addr in network:
            return why
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_reserved:
        return "a reserved address"
    # Documentation, benchmarking and other IANA special-purpose ranges (which `ipaddress` counts
    # as "private" too): nothing a webhook should reach lives there.
    if addr.is_private or not addr.is_global:
        return "a special-purpose address"
    return None


async def _default_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


@dataclass(frozen=True)
class _Target:
    urls: tuple[httpx.URL, ...]  # rewritten to each checked IP, in resolver order
    host_header: str
    sni: str | None


class EgressClient:
    """The guarded async HTTP client. Use as `async with EgressClient(...) as client:` or `aclose()`.

    `allow`: CIDRs and exact host names exempt from the address policy (`HOOKHUB_EGRESS_ALLOW`).
    `resolver`: `async (host, port) -> [ip, ...]`, default `loop.getaddrinfo`.
    `transport`: an httpx transport, for tests; default a fresh `httpx.AsyncHTTPTransport`.
    """

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        resolver: Resolver | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        truncate_oversized: bool = False,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._allow_networks: list[IPNetwork] = []
        self._allow_hosts: set[str] = set()
        for entry in allow:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self._allow_networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._allow_hosts.add(entry.lower().rstrip("."))
        self._resolver: Resolver = resolver or _default_resolver
        self._max_body = max_body
        self._truncate = truncate_oversized
        self._max_redirects = max_redirects
        # trust_env=False: an environment proxy would resolve the name itself, defeating the check.
        self._client = httpx.AsyncClient(
            transport=transport, trust_env=False, follow_redirects=False, timeout=None
        )

    async def __aenter__(self) -> EgressClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    def _allowed(self, addr: IPAddress) -> bool:
        return any(addr.version == net.version and addr in net for net in self._allow_networks)

    async def _check(self, url: str) -> _Target:
        """Resolve and check `url`; the returned target points at the checked address."""
        try:
            parts: SplitResult = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise EgressError(f"bad URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise EgressRefused(f"refused: scheme {scheme or '(none)'!r} is not http or https")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise EgressError("bad URL: no host")
        port = port or (443 if scheme == "https" else 80)
        name_allowed = host in self._allow_hosts

        literal: IPAddress | None
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = parse_numeric_ipv4(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            if _is_localhost_name(host) and not name_allowed:
                raise EgressRefused(f"refused: {host} is a localhost name")
            try:
                resolved = await self._resolver(host, port)
            except (OSError, UnicodeError) as exc:
                raise EgressError(f"cannot resolve {host}: {exc}") from None
            try:
                addresses = [ipaddress.ip_address(a) for a in resolved]
            except ValueError as exc:
                raise EgressError(f"cannot resolve {host}: {exc}") from None
            if not addresses:
                raise EgressError(f"cannot resolve {host}: no addresses")

        if not name_allowed:
            for addr in addresses:
                if self._allowed(addr):
                    continue
                why = check_address(addr)
                if why is not None:
                    shown = host if str(addr) == host else f"{host} ({addr})"
                    raise EgressRefused(f"refused: {shown} is {why}")

        userinfo = parts.netloc.rpartition("@")[0]
        urls: list[httpx.URL] = []
        for ip in dict.fromkeys(addresses):
            ip_text = f"[{ip}]" if ip.version == 6 else str(ip)
            netloc = f"{userinfo}@{ip_text}:{port}" if userinfo else f"{ip_text}:{port}"
            try:
                urls.append(httpx.URL(urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))))
            except httpx.InvalidURL as exc:
                raise EgressError(f"bad URL: {exc}") from None
        default_port = port == (443 if scheme == "https" else 80)
        shown_host = f"[{host}]" if ":" in host else host
        host_header = shown_host if default_port else f"{shown_host}:{port}"
        # Certificates name the host the user wrote; an IP literal needs no SNI override.
        sni = host if scheme == "https" and literal is None else None
        return _Target(urls=tuple(urls), host_header=host_header, sni=sni)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | str | None = None,
        # The caller's budget covers resolution, all hops and the body, which no single
        # asyncio.timeout around one await of ours could express for them.
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> EgressResponse:
        """Send one request, following up to `max_redirects` checked redirects.

        `timeout` (seconds) bounds the whole exchange: resolution, every hop and the body.
        Raises `EgressRefused` for policy refusals (no connection made to the refused address)
        and `EgressError` for everything else that goes wrong.
        """
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                return await self._send(method, url, headers or {}, content, timeout, started)
        except TimeoutError:
            raise EgressError(f"timed out after {timeout:g} s") from None

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | str | None,
        timeout: float,  # noqa: ASYNC109 - per-phase httpx timeout; the total is enforced by send()
        started: float,
    ) -> EgressResponse:
        method = method.upper()
        body = content.encode() if isinstance(content, str) else content
        current = url
        hdrs = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        origin = urlsplit(url)[:2]
        for hop in range(self._max_redirects + 1):
            target = await self._check(current)
            extensions: dict[str, object] = {}
            request_headers = dict(hdrs)
            request_headers["Host"] = target.host_header
            if target.sni is not None:
                extensions["sni_hostname"] = target.sni
                # Pooled connections are keyed by IP, not by name: a TLS connection verified for
                # one name must not carry a request for another name on the same IP.
                request_headers["Connection"] = "close"
            # Like the OS would, try each checked address in turn (e.g. `::1` then `127.0.0.1`),
            # but only while connecting fails: once a request was sent it is never repeated.
            for index, target_url in enumerate(target.urls):
                request = self._client.build_request(
                    method,
                    target_url,
                    headers=request_headers,
                    content=body,
                    timeout=httpx.Timeout(timeout),
                    extensions=extensions,
                )
                try:
                    status, resp_headers, data, truncated = await self._exchange(request)
                    break
                except _ConnectFailed:
                    if index == len(target.urls) - 1:
                        raise
            location = dict((k.lower(), v) for k, v in resp_headers).get("location")
            if status not in _REDIRECT_STATUSES or location is None:
                return EgressResponse(
                    status=status,
                    headers=resp_headers,
                    body=data,
                    truncated=truncated,
                    elapsed=time.monotonic() - started,
                    url=current,
                )
            if hop == self._max_redirects:
                break
            current = urljoin(current, location)
            # Browsers' (and httpx's) rules: 303, and 301/302 after POST, turn into a bodiless GET.
            if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "content-type"}
            if urlsplit(current)[:2] != origin:
                hdrs = {k: v for k, v in hdrs.items() if k.lower() not in _ORIGIN_BOUND_HEADERS}
        raise EgressError(f"too many redirects (more than {self._max_redirects})")

    async def _exchange(self, request: httpx.Request) -> tuple[int, tuple[tuple[str, str], ...], bytes, bool]:
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise EgressError("timed out") from None
        except httpx.ConnectError as exc:
            raise _ConnectFailed(f"connection failed: {exc or 'connect error'}") from None
        except httpx.HTTPError as exc:
            raise EgressError(f"request failed: {exc or type(exc).__name__}") from None
        try:
            chunks: list[bytes] = []
            size = 0
            truncated = False
            try:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max_body:
                        if not self._truncate:
                            raise EgressError(f"response larger than {_human(self._max_body)}")
                        chunks.append(chunk[: len(chunk) - (size - self._max_body)])
                        truncated = True
                        break
                    chunks.append(chunk)
            except httpx.TimeoutException:
                raise EgressError("timed out") from None
            except httpx.HTTPError as exc:
                raise EgressError(f"reading response failed: {exc or type(exc).__name__}") from None
            headers = tuple((k, v) for k, v in response.headers.multi_items())
            return response.status_code, headers, b"".join(chunks), truncated
        finally:
            await response.aclose()


class _ConnectFailed(EgressError):
    """No connection could be made (safe to try the next checked address)."""


def _human(size: int) -> str:
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size} bytes"
