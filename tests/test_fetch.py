"""index/fetch.py against real HTTP servers on loopback addresses (threads, no network).

The default address policy must refuse every way of naming an inside address, on every hop, before a single
request is sent; the tests check the servers' request logs for that. Tests that need a fetch to succeed declare
one loopback address public (``allowing``) and name hosts either through the system resolver (``dns``: the
``socket.getaddrinfo`` any HTTP client would call, as an /etc/hosts or DNS entry would) or an injected one (``names``).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from index import fetch as fetch_module
from index.fetch import MAX_REDIRECTS, FetchError, fetch_url, is_public, resolve

Route = Callable[[BaseHTTPRequestHandler], None]
ARTICLE = b"""---
title: "Mongolia copper deal"
source: "Wire"
published: 2025-12-02
---
Mongolia agreed to sell 4,000 tons of copper to Japan, the trade ministry said on Tuesday.
"""


# -- servers -------------------------------------------------------------------------------------
class Server(ThreadingHTTPServer):
    """A real HTTP(S) server in a thread that logs every request it receives as (path, Host header)."""

    daemon_threads = True

    def __init__(self, routes: dict[str, Route], host: str, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        super().__init__((host, port), Handler)
        self.routes = routes
        self.log: list[tuple[str, str | None]] = []
        self.host = host
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str, host: str | None = None, scheme: str = "http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        self.server.log.append((self.path, self.headers.get("Host")))
        route = self.server.routes.get(urlsplit(self.path).path)
        try:
            if route is None:
                self.send_error(404)
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up: what the deadline tests expect

    def log_message(self, *args: object) -> None:
        pass


def page(body: bytes, content_type: str = "text/html; charset=utf-8", length: int | None = None) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        h.wfile.write(body)

    return route


def redirect(location: str, status: int = 302, delay: float = 0.0) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return route


def drip_headers(interval: float, lines: int) -> Route:
    """A status line, then one header line every ``interval`` seconds: each read is quick, the whole never ends."""

    def route(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(lines):
            h.wfile.write(f"X-Drip-{n}: {n}\r\n".encode())
            h.wfile.flush()
            time.sleep(interval)
        h.wfile.write(b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")

    return route


def drip_body(interval: float, size: int) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(size))
        h.end_headers()
        for _ in range(size):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(interval)

    return route


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(routes: dict[str, Route], host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(routes, host, port, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def allowing(*addresses: str) -> Callable[[ipaddress.IPv4Address | ipaddress.IPv6Address], bool]:
    """The default policy, except that ``addresses`` count as public (so that a local server can stand in for a site)."""
    allowed = {ipaddress.ip_address(a) for a in addresses}
    return lambda ip: ip in allowed or is_public(ip)


class FakeDNS:
    """``socket.getaddrinfo`` answering from a table for some names (each answer a list: the 1st lookup, the 2nd, ...)."""

    def __init__(self, real: Callable[..., list]) -> None:
        self.real = real
        self.table: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def __call__(self, host: str, port: object, *args: object, **kwargs: object) -> list:
        if host not in self.table:
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        answers = self.table[host]
        address = answers[min(self.lookups.count(host), len(answers)) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


class names:
    """A resolver that knows some host names and counts its lookups; other hosts go to the real resolver."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int, timeout: float) -> list[str]:
        self.lookups.append(host)
        return self.table[host] if host in self.table else resolve(host, port, timeout)


# -- the default policy refuses every way of naming an inside address -----------------------------
SPELLINGS_OF_LOOPBACK = [
    "127.0.0.1",
    "2130706433",  # 127.0.0.1 as one decimal number
    "0x7f000001",  # ... as one hex number
    "127.1",  # class-A shorthand
    "0x7f.1",
    "0",  # 0.0.0.0, which Linux connects to this machine
    "localhost",  # a host name that resolves to 127.0.0.1 (/etc/hosts)
    "localhost.",  # trailing dot: the same name, fully qualified
    "127.0.0.1.",
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
    "[::ffff:7f00:1]",
    "[::1]",
]


@pytest.mark.parametrize("host", SPELLINGS_OF_LOOPBACK)
def test_every_spelling_of_loopback_is_refused_before_any_request(serve, host):
    server = serve({"/secret": page(b"internal only", "text/plain")})
    with pytest.raises(FetchError):
        fetch_url(server.url("/secret", host=host), timeout=3)
    assert server.log == []


def test_a_legacy_octal_address_is_a_clear_error_not_a_traceback(serve):
    server = serve({"/secret": page(b"internal only", "text/plain")})
    with pytest.raises(FetchError, match="not a valid URL"):
        fetch_url(server.url("/secret", host="0177.0.0.1"), timeout=3)
    assert server.log == []


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("10.0.0.5", "private"),
        ("172.16.4.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.7", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("[fd00::1]", "unique local"),
        ("[fe80::1]", "link-local"),
        ("[::]", "unspecified"),
        ("[ff02::1]", "multicast"),
        ("[2001:db8::1]", "documentation"),
        ("[64:ff9b::7f00:1]", "carries 127.0.0.1"),  # NAT64
        ("[2002:a00:1::1]", "carries 10.0.0.1"),  # 6to4
        ("[::127.0.0.1]", "not a global unicast"),  # IPv4-compatible (deprecated)
    ],
)
def test_non_public_addresses_are_refused_and_named(host, kind):
    with pytest.raises(FetchError, match="private or local") as refused:
        fetch_url(f"http://{host}/article", timeout=3)
    assert kind in str(refused.value)


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "151.101.1.67", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"],
)
def test_public_addresses_pass_the_default_policy(address):
    assert is_public(ipaddress.ip_address(address))


def test_a_host_name_that_resolves_to_loopback_is_refused(serve, dns):
    server = serve({"/secret": page(b"internal only", "text/plain")})
    dns.table["wiki.corp.test"] = ["127.0.0.1"]
    with pytest.raises(FetchError, match=r"wiki\.corp\.test is 127\.0\.0\.1 \(loopback\)"):
        fetch_url(server.url("/secret", host="wiki.corp.test"), timeout=3)
    assert server.log == []


def test_a_host_is_refused_if_any_of_its_addresses_is_inside(serve):
    resolver = names({"intranet.example.com": ["151.101.1.67", "10.1.2.3"]})
    with pytest.raises(FetchError, match=r"intranet\.example\.com is 10\.1\.2\.3 \(private\)"):
        fetch_url("https://intranet.example.com/", timeout=3, resolver=resolver)


def test_the_policy_is_injectable_and_the_default_refuses_what_a_test_allows(serve):
    server = serve({"/a.txt": page(b"An article.", "text/plain")})
    with pytest.raises(FetchError, match="loopback"):
        fetch_url(server.url("/a.txt"), timeout=3)
    got = fetch_url(server.url("/a.txt"), timeout=3, is_allowed=allowing("127.0.0.1"))
    assert got.data == b"An article." and len(server.log) == 1


def test_unreadable_urls_are_fetch_errors():
    for url, reason in [
        ("", "empty"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("javascript:alert(1)", "only http:// and https://"),
        ("example.com/article", "no scheme"),
        ("http:///path-only", "no host"),
        ("http://[::1/", "not a valid URL"),
        ("http://example.com:port/", "not a valid URL"),
    ]:
        with pytest.raises(FetchError, match=reason):
            fetch_url(url, timeout=3)


# -- redirects -----------------------------------------------------------------------------------
def test_a_redirect_to_an_inside_address_is_refused_and_never_requested(serve, dns):
    inside = serve({"/secret": page(b"internal only", "text/plain")}, host="127.0.0.1")
    site = serve({"/story": redirect(inside.url("/secret", host="0x7f000001"))}, host="127.0.0.2")
    dns.table["news.example.test"] = ["127.0.0.2"]  # a public-looking site; the test declares its address public
    with pytest.raises(FetchError, match=r"0x7f000001 is 127\.0\.0\.1 \(loopback\)"):
        fetch_url(site.url("/story", host="news.example.test"), timeout=3, is_allowed=allowing("127.0.0.2"))
    assert [path for path, _ in site.log] == ["/story"] and inside.log == []


def test_redirects_are_followed_re_resolved_and_counted(serve):
    routes: dict[str, Route] = {f"/hop/{k}": redirect(f"/hop/{k + 1}", status=301 + k % 2) for k in range(MAX_REDIRECTS)}
    routes[f"/hop/{MAX_REDIRECTS}"] = page(b"Arrived.", "text/plain")
    routes["/loop"] = redirect("/loop")
    server = serve(routes)
    resolver = names({"news.example.test": ["127.0.0.1"]})
    policy = allowing("127.0.0.1")
    got = fetch_url(server.url("/hop/0", host="news.example.test"), timeout=5, is_allowed=policy, resolver=resolver)
    assert got.data == b"Arrived." and got.url.endswith(f"/hop/{MAX_REDIRECTS}") and got.filename == f"{MAX_REDIRECTS}.txt"
    assert resolver.lookups == ["news.example.test"] * (MAX_REDIRECTS + 1)  # every hop resolved and checked again
    server.log.clear()
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_url(server.url("/loop", host="news.example.test"), timeout=5, is_allowed=policy, resolver=resolver)
    assert len(server.log) == MAX_REDIRECTS + 1


def test_a_malformed_redirect_is_a_fetch_error(serve):
    server = serve({"/a": redirect("http://0177.0.0.1/"), "/b": redirect("gopher://example.com/")})
    policy = allowing("127.0.0.1")
    with pytest.raises(FetchError, match=r"Invalid URL in location header.*0177\.0\.0\.1"):
        fetch_url(server.url("/a"), timeout=3, is_allowed=policy)
    with pytest.raises(FetchError, match="only http:// and https://"):
        fetch_url(server.url("/b"), timeout=3, is_allowed=policy)


# -- connecting to the checked address -----------------------------------------------------------
def test_dns_rebinding_cannot_move_the_connection(serve, dns):
    """The name resolves to an allowed address once, then to an inside one: only the checked address is dialled."""
    site = serve({"/article.txt": page(b"The public article.", "text/plain")}, host="127.0.0.1")
    inside = serve({"/article.txt": page(b"internal only", "text/plain")}, host="127.0.0.2", port=site.port)
    dns.table["rebind.test"] = ["127.0.0.1", "127.0.0.2"]  # a short TTL, and a second answer pointing inside
    got = fetch_url(site.url("/article.txt", host="rebind.test"), timeout=3, is_allowed=allowing("127.0.0.1"))
    assert got.data == b"The public article."
    assert site.log == [("/article.txt", f"rebind.test:{site.port}")]  # the Host header keeps the name
    assert inside.log == [] and dns.lookups == ["rebind.test"]


@pytest.fixture(scope="module")
def tls():
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("news.example.test").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


def test_tls_names_and_verifies_the_host_name_while_dialling_the_checked_address(serve, tls):
    server_context, client_context = tls
    seen: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: seen.append(name)
    server = serve({"/a.txt": page(b"Over TLS.", "text/plain")}, tls=server_context)
    resolver = names({"news.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]})
    fetch = functools.partial(
        fetch_url, timeout=3, is_allowed=allowing("127.0.0.1"), resolver=resolver, ssl_context=client_context
    )
    got = fetch(server.url("/a.txt", host="news.example.test", scheme="https"))
    assert got.data == b"Over TLS." and seen == ["news.example.test"]
    assert server.log == [("/a.txt", f"news.example.test:{server.port}")]
    with pytest.raises(FetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):  # the certificate is not for this name
        fetch(server.url("/a.txt", host="other.example.test", scheme="https"))
    assert len(server.log) == 1


# -- one deadline for the whole fetch ------------------------------------------------------------
def timed(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except FetchError as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_server_dripping_header_lines_is_cut_off_at_the_deadline(serve):
    server = serve({"/drip": drip_headers(interval=0.2, lines=60)})  # 12 s of headers, each line well inside a read timeout
    error, elapsed = timed(lambda: fetch_url(server.url("/drip"), timeout=1.0, is_allowed=allowing("127.0.0.1")))
    assert error is not None and "too slow" in str(error)
    assert elapsed < 1.0 + 3.0, f"the fetch ran {elapsed:.1f} s under a 1 s limit"  # loose: the machine is shared


def test_a_dripping_body_is_cut_off_at_the_deadline(serve):
    server = serve({"/drip": drip_body(interval=0.1, size=100)})
    error, elapsed = timed(lambda: fetch_url(server.url("/drip"), timeout=1.0, is_allowed=allowing("127.0.0.1")))
    assert error is not None and "too slow" in str(error)
    assert elapsed < 1.0 + 3.0


def test_redirect_hops_share_one_deadline(serve):
    routes: dict[str, Route] = {f"/hop/{k}": redirect(f"/hop/{k + 1}", delay=0.5) for k in range(MAX_REDIRECTS)}
    routes[f"/hop/{MAX_REDIRECTS}"] = page(b"Arrived late.", "text/plain")
    server = serve(routes)  # 2.5 s in all, each hop well inside the limit
    error, elapsed = timed(lambda: fetch_url(server.url("/hop/0"), timeout=1.2, is_allowed=allowing("127.0.0.1")))
    assert error is not None and "too slow" in str(error)
    assert len(server.log) < MAX_REDIRECTS + 1 and elapsed < 1.2 + 3.0


def test_a_hanging_name_lookup_is_bounded_by_the_deadline(dns):
    real = dns.real

    def hanging(host, *args, **kwargs):
        time.sleep(5)
        return real(host, *args, **kwargs)

    dns.real = hanging
    error, elapsed = timed(lambda: fetch_url("http://slow-dns.test/a", timeout=0.5))
    assert error is not None and "too slow" in str(error)
    assert elapsed < 0.5 + 2.0


# -- what counts as an article -------------------------------------------------------------------
@pytest.fixture
def site(serve):
    """A local server standing in for a public news site, reached by name."""
    html = b"<html><head><title>T</title></head><body><p>Text.</p></body></html>"
    server = serve(
        {
            "/2025/11/uzbek-tungsten-tender": page(html),
            "/photo": page(b"\x89PNG", "image/png"),
            "/huge": page(b"x", "text/plain", length=99_999_999),
            "/empty": page(b"", "text/plain"),
            "/article.md": page(ARTICLE, "text/markdown"),
            "/moved": redirect("/article.md", status=308),
            "/not-modified": redirect("", status=304),
        }
    )
    resolver = names({"news.example.test": ["127.0.0.1"]})
    get = functools.partial(fetch_url, max_bytes=2000, timeout=3, is_allowed=allowing("127.0.0.1"), resolver=resolver)
    return server, get, lambda path: server.url(path, host="news.example.test")


def test_fetch_html_names_the_file_from_the_url(site):
    _, get, url = site
    got = get(url("/2025/11/uzbek-tungsten-tender?x=1"))
    assert got.filename == "uzbek-tungsten-tender.html" and got.content_type == "text/html" and got.data.startswith(b"<html>")
    moved = get(url("/moved"))
    assert moved.filename == "article.md" and moved.data == ARTICLE and moved.url == url("/article.md")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/photo", "serves image/png"),
        ("/missing", "404"),
        ("/huge", "too big"),
        ("/empty", "empty body"),
        ("/not-modified", "304"),
    ],
)
def test_fetch_refuses_what_is_not_an_article(site, path, reason):
    _, get, url = site
    with pytest.raises(FetchError, match=reason):
        get(url(path))


def test_a_body_over_the_cap_is_stopped_while_it_streams(serve):
    def unannounced(h: BaseHTTPRequestHandler) -> None:  # no Content-Length: the size shows only as it arrives
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"x" * 50_000)

    server = serve({"/big": unannounced})
    with pytest.raises(FetchError, match="too big: over 2,000 bytes"):
        fetch_url(server.url("/big"), max_bytes=2000, timeout=3, is_allowed=allowing("127.0.0.1"))


# -- the terminal: `newsbot index add URL` -------------------------------------------------------
@pytest.fixture
def cli_run(fake_bot, monkeypatch):
    from typer.testing import CliRunner

    from bot import cli

    monkeypatch.setattr(cli, "_bot", lambda auto_build=True: fake_bot)
    return lambda *args: CliRunner().invoke(cli.app, list(args))


def test_index_add_url_downloads_saves_and_indexes_the_article(serve, cli_run, fake_bot, monkeypatch):
    server = serve({"/mongolia-copper.md": page(ARTICLE, "text/markdown")})
    monkeypatch.setattr(fetch_module, "fetch_url", functools.partial(fetch_url, is_allowed=allowing("127.0.0.1")))
    result = cli_run("index", "add", "--json", server.url("/mongolia-copper.md"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "doc_id": "mongolia-copper",
        "title": "Mongolia copper deal",
        "chunks": 1,
        "file": "mongolia-copper.md",
        "new": True,
    }
    assert (Path(fake_bot.settings.corpus_dir) / "mongolia-copper.md").read_bytes() == ARTICLE
    assert "4,000 tons" in fake_bot.answer("How much copper will Mongolia sell to Japan?").answer


@pytest.mark.parametrize(
    ("host", "message"), [("127.1", "private or local"), ("0177.0.0.1", "not a valid URL"), ("[::ffff:127.0.0.1]", "loopback")]
)
def test_index_add_url_refuses_inside_addresses_in_one_line(serve, cli_run, fake_bot, host, message):
    server = serve({"/mongolia-copper.md": page(ARTICLE, "text/markdown")})
    before = fake_bot.store.count()
    result = cli_run("index", "add", server.url("/mongolia-copper.md", host=host))
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert server.log == [] and fake_bot.store.count() == before


def test_index_add_with_another_scheme_says_which_are_taken(cli_run):
    result = cli_run("index", "add", "ftp://example.com/article.txt")
    assert result.exit_code == 1 and "only http:// and https://" in result.output and "ftp://example.com" in result.output


# -- the Discord bot: downloads never take the answer workers ------------------------------------
async def test_add_url_downloads_run_on_their_own_threads_not_the_answer_workers(fake_bot, settings, tmp_path, monkeypatch):
    from bot.discordbot.client import NewsbotClient
    from bot.discordbot.cogs import library
    from bot.discordbot.feedback_store import FeedbackStore

    release = threading.Event()
    downloading: list[str] = []

    def slow_site(url: str, **limits: object) -> object:  # a download that takes as long as the test says
        downloading.append(threading.current_thread().name)
        release.wait(10)
        raise FetchError("too slow")

    monkeypatch.setattr(library, "fetch_url", slow_site)
    client = NewsbotClient(fake_bot, settings, FeedbackStore(tmp_path / "f.sqlite3"), sync_commands=False)
    cog = library.Library(client)
    try:
        adds = [asyncio.ensure_future(cog.fetch(f"https://example.com/{n}")) for n in range(settings.answer_workers)]
        for _ in range(500):  # until every download has started (or 5 s)
            if len(downloading) >= settings.answer_workers:
                break
            await asyncio.sleep(0.01)
        answered = await asyncio.wait_for(client.run_blocking(lambda: threading.current_thread().name), timeout=5)
        assert answered.startswith("newsbot-answer")
        assert all(name.startswith("newsbot-fetch") for name in downloading)
    finally:
        release.set()
    assert all(isinstance(r, FetchError) for r in await asyncio.gather(*adds, return_exceptions=True))
    await cog.cog_unload()
    client.executor.shutdown(wait=True)
