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
- connects to the exact address it checked (`http_pool.HttpPool` is handed the IP; the original
  `Host` header is sent, and for https the SNI / certificate name is the original host), so no
  one resolves again (no DNS rebinding);
- never uses proxies from the environment: a proxy would resolve for us;
- follows redirects itself, at most `max_redirects`, checking each target with the same policy;
- caps the response body (10 MiB by default) while streaming.

An `allow` entry lifts the policy: a CIDR (`127.0.0.1/32`, `fd00::/8`) allows addresses inside it; any
other string is an exact host name (case-insensitive) whose addresses are all allowed. `localhost`
names are refused even when a CIDR covers their address; only a host-name entry allows them.

Connections are kept alive and pooled by (scheme, IP, port, TLS name), so a TLS connection verified
for one name never carries a request for another name on the same IP.

Oversized responses: by default `EgressError("response larger than 10 MiB")` is raised, because a
script parsing a silently cut JSON body would misbehave in confusing ways; with
`truncate_oversized=True` the first `max_body` bytes are returned with `truncated=True` instead
(useful for delivery history, where only a prefix of the body is kept anyway).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit

from hookhub.runtime.http_pool import ConnectFailed, HttpPool, Origin, TransportError

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

_LITERAL_CACHE_SIZE = 1024

# Sent unless the caller sets them (no Accept-Encoding: bodies arrive as they are).
_DEFAULT_HEADERS = (("Accept", "*/*"), ("User-Agent", "hookhub"))

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
    # deprecated site-local (RFC 3879), still routed inside some networks; Python calls it global
    (ipaddress.ip_network("fec0::/10"), "a private address"),
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
    origins: tuple[Origin, ...]  # each checked IP, in resolver order
    request_target: str  # path and query, percent-encoded
    host_header: str
    authorization: str | None  # from user:password in the URL


# What may stay unescaped in a path or query (RFC 3986 pchar and query, plus `%` of existing escapes).
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


class EgressClient:
    """The guarded async HTTP client. Use as `async with EgressClient(...) as client:` or `aclose()`.

    `allow`: CIDRs and exact host names exempt from the address policy (`HOOKHUB_EGRESS_ALLOW`).
    `resolver`: `async (host, port) -> [ip, ...]`, default `loop.getaddrinfo`.
    `ssl_context`: for https (default: the system's trust store, verification on).
    `pool`: the connection pool, for tests; default a fresh `HttpPool`.
    """

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        resolver: Resolver | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        truncate_oversized: bool = False,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        ssl_context: ssl.SSLContext | None = None,
        pool: HttpPool | None = None,
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
        self._pool = pool or HttpPool(ssl_context=ssl_context)
        # Checked targets of URLs whose host is an IP literal: nothing is resolved, so the verdict
        # cannot change, and a delivery URL is checked on every request.
        self._literal_targets: dict[str, _Target] = {}

    async def __aenter__(self) -> EgressClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._pool.aclose()

    def _allowed(self, addr: IPAddress) -> bool:
        return any(addr.version == net.version and addr in net for net in self._allow_networks)

    async def _check(self, url: str) -> _Target:
        """Resolve and check `url`; the returned target points at the checked address."""
        cached = self._literal_targets.get(url)
        if cached is not None:
            return cached
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
        authorization = None
        if userinfo:
            user, _, password = userinfo.partition(":")
            pair = f"{unquote(user)}:{unquote(password)}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        try:
            ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError as exc:
            raise EgressError(f"bad URL: {exc}") from None
        target = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            target += "?" + quote(parts.query, safe=_QUERY_SAFE)
        default_port = port == (443 if scheme == "https" else 80)
        shown_host = f"[{ascii_host}]" if ":" in ascii_host else ascii_host.lower()
        host_header = shown_host if default_port else f"{shown_host}:{port}"
        # Certificates name the host the user wrote; an IP literal is verified as the IP.
        server_name = ascii_host.lower() if scheme == "https" and literal is None else None
        origins = tuple(Origin(scheme, str(ip), port, server_name) for ip in dict.fromkeys(addresses))
        checked = _Target(origins, target, host_header, authorization)
        if literal is not None:
            if len(self._literal_targets) >= _LITERAL_CACHE_SIZE:
                self._literal_targets.clear()
            self._literal_targets[url] = checked
        return checked

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
                return await self._send(method, url, headers or {}, content, started)
        except TimeoutError:
            raise EgressError(f"timed out after {timeout:g} s") from None

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | str | None,
        started: float,
    ) -> EgressResponse:
        method = method.upper()
        body = content.encode() if isinstance(content, str) else content
        current = url
        hdrs = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
        present = {k.lower() for k in hdrs}
        for name, value in _DEFAULT_HEADERS:
            if name.lower() not in present:
                hdrs[name] = value
        origin_parts = urlsplit(url)[:2]
        for hop in range(self._max_redirects + 1):
            target = await self._check(current)
            request_headers = [("Host", target.host_header)]
            request_headers += hdrs.items()
            if target.authorization is not None and not any(k.lower() == "authorization" for k in hdrs):
                request_headers.append(("Authorization", target.authorization))
            # Like the OS would, try each checked address in turn (e.g. `::1` then `127.0.0.1`),
            # but only while connecting fails: once a request was sent it is never repeated.
            for index, origin in enumerate(target.origins):
                try:
                    raw = await self._pool.request(
                        origin,
                        method,
                        target.request_target,
                        request_headers,
                        body,
                        max_body=self._max_body,
                        truncate=self._truncate,
                    )
                    break
                except ConnectFailed as exc:
                    if index == len(target.origins) - 1:
                        raise EgressError(exc.reason) from None
                except TransportError as exc:
                    raise EgressError(exc.reason) from None
            location = next((v for k, v in raw.headers if k.lower() == "location"), None)
            if raw.status not in _REDIRECT_STATUSES or location is None:
                return EgressResponse(
                    status=raw.status,
                    headers=raw.headers,
                    body=raw.body,
                    truncated=raw.truncated,
                    elapsed=time.monotonic() - started,
                    url=current,
                )
            if hop == self._max_redirects:
                break
            current = urljoin(current, location)
            # Browsers' rules: 303, and 301/302 after POST, turn into a bodiless GET.
            if (raw.status == 303 and method != "HEAD") or (raw.status in (301, 302) and method == "POST"):
                method, body = "GET", None
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "content-type"}
            if urlsplit(current)[:2] != origin_parts:
                hdrs = {k: v for k, v in hdrs.items() if k.lower() not in _ORIGIN_BOUND_HEADERS}
        raise EgressError(f"too many redirects (more than {self._max_redirects})")
