"""Read article files (Markdown/text with front matter, HTML, PDF) into :class:`Article`.

A file that cannot be read as an article raises :class:`ArticleError` with a
reason; :func:`load_corpus` turns those into warnings and goes on.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import logging
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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
    """A stable, readable id from the file name: 'spglobal-central-asia-critical-minerals'.

    The name without its extension, lower-cased, every run of other characters than a-z and 0-9 made
    one '-'. So ids ignore case on every platform: `x.md`, `X.md` and `x.txt` all have the id `x`, and
    at most one of them can be an article (see :func:`files_by_id`).
    """
    return _slug(path.stem) or hashlib.sha256(path.name.encode()).hexdigest()[:12]


def doc_id_from_user(text: str) -> str:
    """The id a user means by ``text``: an id in any case (`X`), or a file name (`X.md`)."""
    name = Path(text.strip())
    return _slug(name.stem if name.suffix.lower() in SUPPORTED_SUFFIXES else name.name)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


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


# Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one). A file that starts
# with one is text in that encoding; without one, text must be UTF-8.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_TEXT_CONTROLS = frozenset("\t\n\r\f\v")


def _decode(raw: bytes, path: Path) -> str:
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), None)
    if encoding is None and b"\x00" in raw[:8192]:
        encoding = utf16_byte_order(raw)
        if encoding is None:
            raise ArticleError("binary file (contains NUL bytes, not placed as in UTF-16 text)")
    label = {"utf-8-sig": "UTF-8", "utf-32": "UTF-32"}.get(encoding or "utf-8-sig", "UTF-16")  # "utf-16", "-le", "-be"
    try:
        text = raw.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"not {label} text ({exc.reason} at byte {exc.start})") from exc
    if _looks_binary(text):
        raise ArticleError(f"binary file (not {label} text: control or unassigned characters)")
    return text


# UTF-16 text without a byte-order mark (Windows' "Unicode" saved by some tools) is told by where its NUL bytes
# fall: a Latin-script character is one byte and a NUL, so every other byte is NUL, on one side only. Binary
# data has its NULs in runs that fall on both sides.
UTF16_NUL_SHARE = 0.3  # at least this share of one side's bytes are NUL ...
UTF16_STRAY_NULS = 0.01  # ... and at most this share of the other side's
UTF16_MIN_SPACES = 0.05  # prose has a space every 5 to 7 characters; this is a third of that


def utf16_byte_order(raw: bytes) -> str | None:
    """``"utf-16-le"`` or ``"utf-16-be"`` when ``raw`` reads as UTF-16 text written without a byte-order mark, else None."""
    sample = raw[:8192]
    if len(raw) % 2 or len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    nul_even, nul_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    order = None
    if nul_odd >= UTF16_NUL_SHARE and nul_even <= UTF16_STRAY_NULS:
        order = "utf-16-le"
    elif nul_even >= UTF16_NUL_SHARE and nul_odd <= UTF16_STRAY_NULS:
        order = "utf-16-be"
    if order is None:
        return None
    # A guess without a mark must read as prose: words with spaces between them, not a repeated pattern of bytes.
    text = sample.decode(order, errors="replace")
    return order if sum(ch.isspace() for ch in text) >= UTF16_MIN_SPACES * len(text) else None


def _looks_binary(text: str) -> bool:
    """Decoded bytes that are not text: a NUL, or more than 1% control, private-use or unassigned characters.

    Any even number of bytes after a UTF-16 mark decodes, so the decoded text is checked too.
    """
    sample = text[:8192]
    odd = sum(1 for ch in sample if ch not in _TEXT_CONTROLS and unicodedata.category(ch) in ("Cc", "Co", "Cn", "Cs"))
    return "\x00" in sample or odd > max(1, len(sample) // 100)


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


def is_article_name(name: str) -> bool:
    """A file name the corpus reads as an article: a supported type, not hidden, not a README."""
    path = Path(name)
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not name.startswith(".") and path.stem.lower() != "readme"


@dataclass
class CorpusScan:
    """The article files of a corpus folder, and the entries left out with the reason (symlinks leaving it)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def scan_corpus(corpus_dir: Path) -> CorpusScan:
    """Article files under ``corpus_dir`` (recursively, sorted); README and hidden files left out.

    The corpus stays inside its folder. A symlink (to a file or a folder) whose target resolves outside
    it is skipped and listed in ``skipped``: a link such as ``leak.md -> /etc/passwd`` must not make a
    file outside the corpus searchable. A symlinked file that stays inside is read like any file, unless
    its target is an article file of the corpus itself (then it would be the same article twice). A
    symlinked folder is never walked into: one inside holds files already read where they are.
    """
    scan = CorpusScan()
    if not corpus_dir.is_dir():
        return scan
    root = corpus_dir.resolve()

    def leaves(path: Path) -> str | None:
        target = path.resolve()
        return None if target.is_relative_to(root) else f"symlink to {target}, outside the corpus folder {root}"

    links: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(corpus_dir):  # followlinks=False: symlinked folders are not entered
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in dirnames:
            if (here / name).is_symlink() and (reason := leaves(here / name)):
                scan.skipped.append((here / name, reason))
        for name in sorted(filenames):
            path = here / name
            if not is_article_name(name):
                continue
            if not path.is_symlink():
                scan.files.append(path)
            elif reason := leaves(path):
                scan.skipped.append((path, reason))
            else:
                links.append(path)
    real = {p.resolve() for p in scan.files}
    for link in links:
        if link.resolve() in real:
            scan.skipped.append((link, f"symlink to {link.resolve().relative_to(root)}, which is indexed itself"))
        else:
            scan.files.append(link)
    scan.files.sort()
    scan.skipped.sort()
    return scan


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Article files under ``corpus_dir`` (recursively, sorted): :func:`scan_corpus` without the skipped ones."""
    return scan_corpus(corpus_dir).files


def files_by_id(files: Iterable[Path]) -> dict[str, list[Path]]:
    """Files grouped by article id; a group of more than one is a clash that the indexer resolves."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        groups[doc_id_for(path)].append(path)
    return dict(groups)


def load_corpus(corpus_dir: Path) -> Iterator[Article]:
    """Yield every usable article; log a warning naming each file that is skipped."""
    scan = scan_corpus(corpus_dir)
    for path, reason in scan.skipped:
        log.warning("skipped %s: %s", path, reason)
    for path in scan.files:
        try:
            yield load_article(path)
        except ArticleError as exc:
            log.warning("skipped %s: %s", path, exc)
