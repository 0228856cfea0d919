"""Download an article from a URL, for `/add url:` and `newsbot index add URL`, without ever reaching inward.

What is enforced, hop by hop (a redirect is a new hop, and at most :data:`MAX_REDIRECTS` are followed):

1. The URL parses (httpx's parser, the one that sends the request), is http(s), and its host does not end in a dot.
2. The host is resolved once (``socket.getaddrinfo``, which also reads legacy spellings such as ``2130706433``,
   ``0x7f.1`` or ``127.1``), and the hop is refused if ANY of its addresses is not public (:func:`is_public`:
   loopback, private, link-local, CGNAT, unspecified, multicast, reserved, documentation and benchmark ranges,
   and IPv6 forms that embed such an IPv4 address).
3. The connection goes to one of those checked addresses and nowhere else (:class:`PinnedBackend`): the HTTP
   client never resolves the name again, so DNS rebinding cannot swap in an inside address. The Host header,
   TLS SNI and the certificate check still use the host name from the URL.
4. One deadline covers the whole fetch: name lookups, connects, TLS, headers and body, over every hop. Each socket
   operation may wait only for the time left, so a server that drips a header line a second is cut off on time.
5. The answer must be 2xx, of a content type the corpus can read (HTML, PDF, plain text, Markdown), not empty,
   and at most ``max_bytes`` (by its Content-Length, or counted as it streams).

Every refusal is a :class:`FetchError` whose message says why, for the user. Which addresses count as public is
a parameter (``is_allowed``), so that tests can run real servers on 127.0.0.1 while the default refuses them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
import tempfile
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import httpcore
import httpx

# Content types we can read, and the file suffix the corpus loader reads them by.
CONTENT_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
}
MAX_REDIRECTS = 5
USER_AGENT = "newsbot/0.1 (+https://github.com/; article fetcher for a question-answering bot)"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]  # True: this address may be fetched from
Resolver = Callable[[str, int, float], Sequence[str]]  # (host, port, seconds allowed) -> its addresses


class FetchError(ValueError):
    """A URL that could not be fetched as an article; the message says why."""


@dataclass(frozen=True)
class Fetched:
    """A downloaded article: its bytes, a file name to store it under, and what it was."""

    url: str  # after redirects
    filename: str
    content_type: str
    data: bytes

    @contextlib.contextmanager
    def saved(self) -> Iterator[Path]:
        """The article written to a file named :attr:`filename` in a temporary folder, removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="newsbot-fetch-") as tmp:
            path = Path(tmp) / self.filename
            path.write_bytes(self.data)
            yield path


# -- which addresses are public ------------------------------------------------------------------
# The IANA special-purpose registries (RFC 6890 and successors), less the few entries that are globally
# reachable. Written out rather than taken from ``ipaddress.is_global``, whose tables changed between
# Python patch releases and which calls multicast global.
_NON_PUBLIC_V4 = [
    (ipaddress.IPv4Network(net), what)
    for net, what in (
        ("0.0.0.0/8", "'this network' (unspecified)"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255, broadcast
    )
]
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")  # everything outside it is special or unallocated
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NON_PUBLIC_V6 = [
    (ipaddress.IPv6Network(net), what)
    for net, what in (
        ("2001::/23", "IETF protocol assignments (Teredo among them)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
    )
]
# IPv6 forms that carry an IPv4 address inside: judged by that address.
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped (``::ffff:a.b.c.d``), NAT64 (``64:ff9b::a.b.c.d``) or 6to4 address carries."""
    if ip in _IPV4_MAPPED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)
    return None


def why_not_public(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is (e.g. "loopback"), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            why = why_not_public(inner)
            return f"carries {inner}, {why}" if why else None
        if ip not in _GLOBAL_UNICAST_V6:  # ::1, ::, the IPv4-compatible ::/96, fc00::/7, fe80::/10, ff00::/8, ...
            kinds = {"loopback": ip.is_loopback, "unspecified": ip.is_unspecified, "link-local": ip.is_link_local}
            kinds |= {"multicast": ip.is_multicast, "unique local (private)": ip in _UNIQUE_LOCAL}
            return next((kind for kind, hit in kinds.items() if hit), "not a global unicast address")
        table: Iterable[tuple[typing.Any, str]] = _NON_PUBLIC_V6
    else:
        table = _NON_PUBLIC_V4
    return next((what for net, what in table if ip in net), None)


def is_public(ip: IPAddress) -> bool:
    """The default policy: True when ``ip`` is a public unicast address a news site could be on."""
    return why_not_public(ip) is None


# -- resolving -----------------------------------------------------------------------------------
def resolve(host: str, port: int, timeout: float) -> list[str]:
    """Every address ``host`` resolves to (``getaddrinfo``), within ``timeout`` seconds.

    ``getaddrinfo`` cannot be given a time limit, so it runs in a daemon thread that is abandoned when the
    time is up (it ends on its own when the system resolver gives up).
    """
    outcome: list[typing.Any] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError, ValueError) as exc:  # gaierror is an OSError; IDNA and NUL are not
            outcome.append(exc)

    worker = threading.Thread(target=lookup, name="newsbot-dns", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    if not outcome:
        raise httpx.ConnectTimeout(f"looking up {host} took too long")
    if isinstance(outcome[0], BaseException):
        reason = getattr(outcome[0], "strerror", None) or outcome[0]
        raise FetchError(f"could not find the host {host}: {reason}")
    return list(dict.fromkeys(str(info[4][0]) for info in outcome[0]))


@dataclass(frozen=True)
class Hop:
    """One request of a fetch: the URL, and the checked addresses its host may be reached at."""

    url: httpx.URL
    host: str  # as the HTTP client will name it when it connects (IDNA-encoded, IPv6 without brackets)
    port: int
    addresses: tuple[str, ...]


def parse_url(url: str | httpx.URL, base: httpx.URL | None = None) -> httpx.URL:
    """``url`` (joined to ``base`` if relative) parsed as the HTTP client will read it; :class:`FetchError` if it cannot be fetched."""
    shown = str(url).strip()[:100]
    if not shown:
        raise FetchError("the URL is empty")
    try:
        parsed = base.join(url) if base is not None else httpx.URL(str(url).strip())
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise FetchError(f"not a valid URL ({exc}): {shown}") from None
    if parsed.scheme not in ("http", "https"):
        given = f"not {parsed.scheme}:" if parsed.scheme else "and this one has no scheme"
        raise FetchError(f"only http:// and https:// URLs can be added, {given} ({shown})")
    if not parsed.raw_host:
        raise FetchError(f"the URL has no host name: {shown}")
    if parsed.host.endswith("."):
        raise FetchError(f"a host name ending in a dot cannot be added ({parsed.host})")
    return parsed


def check_hop(url: httpx.URL, deadline: Deadline, is_allowed: AddressPolicy, resolver: Resolver) -> Hop:
    """Resolve ``url``'s host and refuse it unless every address it has is allowed."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = resolver(host, port, deadline.bound(None, httpx.ConnectTimeout))
    if not addresses:
        raise FetchError(f"could not find the host {url.host}: it has no address")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope (fe80::1%eth0) is not part of the address
        if not is_allowed(ip):
            kind = why_not_public(ip) or "not allowed"
            named = "" if _literal(url.host) == ip else f"{url.host} is "
            raise FetchError(f"URLs on private or local addresses cannot be added: {named}{ip} ({kind})")
    return Hop(url=url, host=host, port=port, addresses=tuple(addresses))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# -- connecting to the checked address within the deadline -----------------------------------------
class Deadline:
    """The moment a whole fetch must be over; every wait is bounded by the time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def bound(self, timeout: float | None, timeout_error: type[Exception]) -> float:
        """``timeout`` cut to the time left; ``timeout_error`` when none is left."""
        left = self.left()
        if left <= 0:
            raise timeout_error(f"the fetch took over {self.seconds:g} s")
        return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake waits at most until the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
        self.stream = stream
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self.deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self.deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host name: SNI and the certificate check are about it, not the address.
        wait = self.deadline.bound(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self.stream.start_tls(ssl_context, server_hostname, wait), self.deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self.stream.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """httpcore's network backend for one hop: dials only the hop's checked addresses, never the name."""

    def __init__(self, hop: Hop, deadline: Deadline, backend: httpcore.NetworkBackend | None = None) -> None:
        self.hop = hop
        self.deadline = deadline
        self.backend = backend or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        if (host, port) != (self.hop.host, self.hop.port):  # the client wants an origin that was not checked
            raise httpcore.ConnectError(f"refusing to connect to {host}:{port}, which was not checked")
        error: Exception = httpcore.ConnectError(f"could not connect to {host}")
        for address in self.hop.addresses:
            wait = self.deadline.bound(timeout, httpcore.ConnectTimeout)
            try:
                stream = self.backend.connect_tcp(address, port, wait, local_address, socket_options)
            except httpcore.ConnectError as exc:  # refused or unreachable: try the next checked address
                error = exc
                continue
            return DeadlineStream(stream, self.deadline)
        raise error

    def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never fetched from")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.deadline.left())))


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport (request/response mapping, error mapping) over a :class:`PinnedBackend`.

    httpx takes no network backend as an argument, so the connection pool it builds is replaced by one that
    has ours; the pool is httpcore's public ``ConnectionPool``.
    """

    def __init__(self, hop: Hop, deadline: Deadline, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):  # an httpx release that moved it
            raise RuntimeError("this httpx version keeps no httpcore pool in HTTPTransport._pool; index/fetch.py needs updating")
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_connections=1, retries=0, network_backend=PinnedBackend(hop, deadline)
        )


# -- the fetch -----------------------------------------------------------------------------------
def fetch_url(
    url: str,
    *,
    max_bytes: int = 10_000_000,
    timeout: float = 20.0,
    is_allowed: AddressPolicy = is_public,
    resolver: Resolver = resolve,
    ssl_context: ssl.SSLContext | None = None,
) -> Fetched:
    """GET ``url``, following up to :data:`MAX_REDIRECTS` redirects, all within ``timeout`` seconds; see the module doc.

    ``is_allowed`` decides which resolved addresses may be fetched from (default: :func:`is_public`); ``resolver``
    maps a host name to its addresses (default: :func:`resolve`); ``ssl_context`` verifies servers (default:
    httpx's, with certifi's roots). Raises :class:`FetchError` with the reason for the user.
    """
    deadline = Deadline(timeout)
    current = parse_url(url)
    headers = {"User-Agent": USER_AGENT, "Accept": ", ".join(CONTENT_TYPES)}
    try:
        context = ssl_context or httpx.create_ssl_context()
        for _ in range(MAX_REDIRECTS + 1):
            hop = check_hop(current, deadline, is_allowed, resolver)
            transport = PinnedTransport(hop, deadline, context)
            with (
                httpx.Client(
                    transport=transport, timeout=timeout, follow_redirects=False, trust_env=False, headers=headers
                ) as client,
                client.stream("GET", current) as response,
            ):
                if response.has_redirect_location:
                    current = parse_url(response.headers["location"], base=current)
                    continue
                body, content_type = _read(response, str(current), max_bytes, deadline)
            return Fetched(
                url=str(current), filename=filename_for(current, content_type), content_type=content_type, data=bytes(body)
            )
        raise FetchError(f"too many redirects (more than {MAX_REDIRECTS})")
    except httpx.TimeoutException:
        raise FetchError(f"too slow: the whole download may take {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"could not download it: {type(exc).__name__}: {exc}"[:300]) from None
    except httpx.InvalidURL as exc:  # a URL httpx rejects only when it sends it
        raise FetchError(f"not a valid URL ({exc}): {str(current)[:100]}") from None


def filename_for(url: str | httpx.URL, content_type: str) -> str:
    """A corpus file name from the URL's last path segment (or host) and the suffix its content type calls for."""
    parsed = httpx.URL(str(url))
    stem = PurePosixPath(unquote(parsed.path)).stem or parsed.host or "article"
    stem = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()[:80] or "article"
    return stem + CONTENT_TYPES[content_type]


def _read(response: httpx.Response, url: str, max_bytes: int, deadline: Deadline) -> tuple[bytearray, str]:
    if response.status_code >= 400:
        raise FetchError(f"the server answered {response.status_code} {response.reason_phrase} for {url[:100]}")
    if response.status_code >= 300:
        raise FetchError(
            f"the server answered {response.status_code} {response.reason_phrase} without a place to go ({url[:100]})"
        )
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        shown = content_type or "no content type"
        raise FetchError(f"not an article: the URL serves {shown}; HTML, PDF or plain text can be added")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"too big: {int(declared):,} bytes; the limit is {max_bytes:,}")
    body = bytearray()
    for chunk in response.iter_bytes():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FetchError(f"too big: over {max_bytes:,} bytes")
        deadline.bound(None, httpx.ReadTimeout)  # between chunks too: decoding must not outlast the deadline
    if not body:
        raise FetchError("the URL returned an empty body")
    return body, content_type
