"""Download an article from a URL for ``/add``: http(s) only, a size cap, a time limit, and a content-type check.

Every refusal is a :class:`FetchError` whose message says why, for the user.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

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


class FetchError(ValueError):
    """A URL that could not be fetched as an article; the message says why."""


@dataclass(frozen=True)
class Fetched:
    """A downloaded article: its bytes, a file name to store it under, and what it was."""

    url: str  # after redirects
    filename: str
    content_type: str
    data: bytes


def check_url(url: str) -> str:
    """The URL stripped, or :class:`FetchError` when it is not an http(s) URL to a public host."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"only http:// and https:// URLs can be added, not {parts.scheme or 'a bare name'}:// ({url[:100]})")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchError(f"the URL has no host name: {url[:100]}")
    if host == "localhost" or host.endswith(".localhost"):
        raise FetchError("URLs on this machine (localhost) cannot be added")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified):
        raise FetchError(f"URLs on private or local addresses cannot be added ({host})")
    return url


def filename_for(url: str, content_type: str) -> str:
    """A corpus file name from the URL's last path segment (or host) and the suffix its content type calls for."""
    parts = urlsplit(url)
    stem = PurePosixPath(unquote(parts.path)).stem or parts.hostname or "article"
    stem = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()[:80] or "article"
    return stem + CONTENT_TYPES[content_type]


def fetch_url(
    url: str,
    *,
    max_bytes: int = 10_000_000,
    timeout: float = 20.0,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET ``url`` (following redirects), refusing with a :class:`FetchError` that says why.

    Refused: anything but http(s); a private or local host; a body over ``max_bytes`` (by its
    Content-Length, or while it streams); a download over ``timeout`` seconds in all; a content type
    other than HTML, PDF or text; an error status. ``transport`` lets tests answer without a network.
    """
    url = check_url(url)
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": USER_AGENT, "Accept": ", ".join(CONTENT_TYPES)}
    try:
        with httpx.Client(transport=transport, timeout=httpx.Timeout(timeout), follow_redirects=False, headers=headers) as client:
            for _ in range(MAX_REDIRECTS + 1):  # follow redirects by hand: each hop is checked before it is requested
                response = client.send(client.build_request("GET", url), stream=True)
                if not response.is_redirect:
                    break
                target = response.next_request
                response.close()
                if target is None:
                    raise FetchError(f"the server redirected without a location ({url[:100]})")
                url = check_url(str(target.url))
            else:
                response.close()
                raise FetchError("too many redirects")
            try:
                body, content_type = _read(response, url, max_bytes, timeout, deadline)
            finally:
                response.close()
    except httpx.TimeoutException:
        raise FetchError(f"too slow: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"could not download it: {type(exc).__name__}: {exc}"[:300]) from None
    if not body:
        raise FetchError("the URL returned an empty body")
    return Fetched(url=url, filename=filename_for(url, content_type), content_type=content_type, data=bytes(body))


def _read(response: httpx.Response, url: str, max_bytes: int, timeout: float, deadline: float) -> tuple[bytearray, str]:
    if response.status_code >= 400:
        raise FetchError(f"the server answered {response.status_code} {response.reason_phrase} for {url[:100]}")
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
        if time.monotonic() > deadline:
            raise FetchError(f"too slow: the download took over {timeout:g} s")
    return body, content_type
