"""Loading articles in every supported format, cleaning site chrome, and skipping bad files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from index.clean import clean_text
from index.load import ArticleError, load_article, load_corpus
from tests.conftest import CORPUS

SP = CORPUS / "spglobal-central-asia-critical-minerals.md"
KZ = CORPUS / "kazakhstan-tokayev-minerals-deal.md"
CHROME = [
    "Featured Topics",
    "Featured Products",
    "S&P Global Offerings",
    "Research & Insights",
    "Reference Tools",
    "Methodology & Participation",
    "Metals & Mining Theme",
    "Products & Solutions",
    "Editor:",
    "HIGHLIGHTS",
]


def test_real_sp_article_loses_its_site_chrome_but_keeps_highlights():
    article = load_article(SP)
    assert article.title == "Central Asian nations sign critical mineral deals with US"
    assert article.source == "S&P Global Commodity Insights"
    assert article.published == "2025-11-07"
    for junk in CHROME:
        assert junk not in article.text, junk
    assert "November 07, 2025" not in article.text
    # the repeated title (first highlight) is gone, the other highlights stay as sentences
    assert article.title not in article.text
    assert "Severnyi Katpar to produce 12,000 mt/year of tungsten." in article.text
    assert "Tajikistan exported 17,000 mt of antimony" in article.text


def test_real_reuters_article_loses_captions_credits_tags_and_nbsp():
    article = load_article(KZ)
    text = article.text
    assert "\u00a0" not in text and "  " not in text
    assert "Tags" not in text
    assert "Trump meets Central Asian leaders" not in text  # photo caption
    assert "attends a dinner" not in text  # photo caption
    assert not any(line.strip() == "Reuters" for line in text.splitlines())
    assert "Cove Capital\n" not in text  # section heading
    assert "a suite of deals" in text  # NBSP became a plain space
    assert text.count(article.title) == 0
    assert "Yersain Nagaspayev" in text


def test_clean_keeps_sentence_case_headline_and_drops_title_case_menu():
    raw = "Home\nWorld News\nMarkets\nHome\nWorld News\nMarkets\nCopper price jumps on supply fears\nThe price rose 5% on Monday.\nPhoto: Jane Doe/Agency\n"
    assert clean_text(raw, "") == "Copper price jumps on supply fears.\nThe price rose 5% on Monday."


def test_caption_before_credit_line_is_dropped():
    raw = "Miners at work in a pit near Almaty, 3 March 2024\nReuters\n\nOutput rose sharply last year, the ministry said."
    assert clean_text(raw, "") == "Output rose sharply last year, the ministry said."


def test_text_without_front_matter_takes_title_from_first_line(tmp_path: Path):
    f = tmp_path / "plain.txt"
    f.write_text("Chile signs lithium pact\n\nChile signed a lithium pact with a US firm on Monday, officials said.\n")
    article = load_article(f)
    assert article.title == "Chile signs lithium pact"
    assert article.text == "Chile signed a lithium pact with a US firm on Monday, officials said."
    assert article.source == "" and article.published == ""


def test_html_main_text_is_extracted(tmp_path: Path):
    body = " ".join(f"Sentence {i} says the nickel mine in Ontario expanded output by {i} percent." for i in range(12))
    html = f"""<html><head><title>Nickel mine expands</title><meta property="og:site_name" content="Mining Daily"></head>
    <body><nav><a href="/">Home</a> <a href="/markets">Markets</a></nav><article><h1>Nickel mine expands</h1><p>{body}</p></article>
    <footer>Copyright 2025 Mining Daily. All rights reserved.</footer></body></html>"""
    f = tmp_path / "nickel.html"
    f.write_text(html)
    article = load_article(f)
    assert article.title == "Nickel mine expands"
    assert "nickel mine in Ontario" in article.text
    assert "All rights reserved" not in article.text and "Markets" not in article.text


def _tiny_pdf(text: str) -> bytes:
    """A one-page PDF with ``text`` in Helvetica, written by hand (no PDF writer is a dependency)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_text_is_extracted(tmp_path: Path):
    f = tmp_path / "report.pdf"
    f.write_bytes(_tiny_pdf("Mongolia agreed to supply 4,000 tons of copper concentrate to Japan in 2026."))
    article = load_article(f)
    assert "4,000 tons of copper concentrate" in article.text
    assert article.title.startswith("Mongolia agreed")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty"),
        ("blank.txt", b"  \n\n ", "empty"),
        ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        ("latin1.txt", "Caf\xe9 prices rose".encode("latin-1") * 20, "UTF-8"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("badfront.md", b"---\ntitle: [unclosed\n---\nSome text here that is long enough.\n", "front matter"),
        ("image.png", b"\x89PNG", "unsupported"),
    ],
)
def test_bad_files_raise_a_reason(tmp_path: Path, name: str, content: bytes, reason: str):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(ArticleError, match=reason):
        load_article(f)


def test_unreadable_file_is_an_article_error(tmp_path: Path):
    with pytest.raises(ArticleError, match="cannot read"):
        load_article(tmp_path / "missing.md")


def test_corpus_load_skips_bad_files_with_a_warning_naming_them(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    (tmp_path / "good.md").write_text("---\ntitle: Good one\n---\nA perfectly good article about copper output in Chile.\n")
    (tmp_path / "bad.md").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.txt").write_text("")
    with caplog.at_level(logging.WARNING):
        articles = list(load_corpus(tmp_path))
    assert [a.title for a in articles] == ["Good one"]
    assert "bad.md" in caplog.text and "empty.txt" in caplog.text
