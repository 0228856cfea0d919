"""Read article files (Markdown/text with front matter, HTML, PDF) into :class:`Article`.

A file that cannot be read as an article raises :class:`ArticleError` with a
reason; :func:`load_corpus` turns those into warnings and goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import frontmatter

from index.clean import clean_text
from index.text import normalize

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
MAX_FILE_BYTES = 20 * 1024 * 1024


class ArticleError(ValueError):
    """A file that is not a usable article (empty, binary, undecodable, unreadable, unsupported)."""


@dataclass(frozen=True)
class Article:
    """One cleaned article and where it came from."""

    doc_id: str
    title: str
    source: str
    published: str  # ISO date, "" when unknown
    url: str
    text: str  # cleaned body, paragraphs separated by blank lines
    path: Path
    file_hash: str  # sha256 of the raw file: changes iff the file changes


def doc_id_for(path: Path) -> str:
    """A stable, readable id from the file name: 'spglobal-central-asia-critical-minerals'."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    return slug or hashlib.sha256(path.name.encode()).hexdigest()[:12]


def file_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _iso_date(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        raise ArticleError(f"front matter 'published' is not an ISO date: {text!r}") from exc


def _decode(raw: bytes, path: Path) -> str:
    if b"\x00" in raw[:8192]:
        raise ArticleError("binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _read_markdown(raw: bytes, path: Path) -> tuple[dict, str]:
    text = _decode(raw, path)
    try:
        post = frontmatter.loads(text)
    except Exception as exc:  # yaml raises many types; all mean "broken front matter"
        raise ArticleError(f"broken front matter: {exc}") from exc
    return dict(post.metadata), post.content


def _read_html(raw: bytes, path: Path) -> tuple[dict, str]:
    import trafilatura

    html = _decode(raw, path)
    body = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True)
    meta = trafilatura.extract_metadata(html)
    info: dict = {}
    if meta is not None:
        info = {
            "title": meta.title or "",
            "source": meta.sitename or "",
            "published": meta.date or "",
            "url": meta.url or "",
        }
    return info, body or ""


def _read_pdf(raw: bytes, path: Path) -> tuple[dict, str]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
        meta = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ArticleError(f"unreadable PDF: {exc}") from exc
    title = str(meta.get("/Title") or "") if meta else ""
    return {"title": title}, text


def load_article(path: Path) -> Article:
    """Load and clean one article file; raise :class:`ArticleError` if it is not usable."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ArticleError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ArticleError(f"file is {size // 1024 // 1024} MB, over the {MAX_FILE_BYTES // 1024 // 1024} MB limit")
        raw = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"cannot read file: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise ArticleError("empty file")
    if suffix in (".html", ".htm"):
        meta, body = _read_html(raw, path)
    elif suffix == ".pdf":
        meta, body = _read_pdf(raw, path)
    else:
        meta, body = _read_markdown(raw, path)
    body = normalize(body)
    title = normalize(str(meta.get("title") or "")).strip()
    repeated_title = title
    if not title:  # no front matter: the first non-empty line is the headline
        first = next((line for line in body.split("\n") if line.strip()), "").strip().lstrip("#").strip()
        title = first[:200]
        # A first line that is a full sentence is also body text; a headline is not repeated in the body.
        repeated_title = "" if first.endswith((".", "!", "?")) else first
    text = clean_text(body, repeated_title)
    if len(text.split()) < 5:
        raise ArticleError("no article text left after cleaning")
    return Article(
        doc_id=doc_id_for(path),
        title=title or path.stem,
        source=str(meta.get("source") or "").strip(),
        published=_iso_date(meta.get("published") or meta.get("date")),
        url=str(meta.get("url") or "").strip(),
        text=text,
        path=path,
        file_hash=file_hash(raw),
    )


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Article files under ``corpus_dir`` (recursively), README and hidden files left out, sorted."""
    if not corpus_dir.is_dir():
        return []
    return sorted(
        p
        for p in corpus_dir.rglob("*")
        if p.is_file()
        and p.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
        and p.stem.lower() != "readme"
    )


def load_corpus(corpus_dir: Path) -> Iterator[Article]:
    """Yield every usable article; log a warning naming each file that is skipped."""
    for path in corpus_files(corpus_dir):
        try:
            yield load_article(path)
        except ArticleError as exc:
            log.warning("skipped %s: %s", path, exc)
