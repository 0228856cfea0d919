"""An :class:`~bot.types.Answer` as Discord messages, within every Discord limit.

- a message holds 2000 characters: long answers split at paragraph, then line, then sentence, then word boundaries;
- the sources embed: 25 fields at most, a field name 256 and value 1024, a description 4096, a title 256,
  a footer 2048, and 6000 characters in all;
- nothing pings (``AllowedMentions.none()`` on every send) and links in the text don't unfurl (``<url>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord

from bot.types import Answer, Citation

MESSAGE_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
THREAD_NAME_LIMIT = 100

NO_MENTIONS = discord.AllowedMentions.none()
EMBED_COLOUR = discord.Colour.blurple()
REFUSAL_HINT = (
    "The articles I have don't cover this, so I won't guess. "
    "`/sources` lists what I have read; try rephrasing, or ask about something they report."
)

_URL = re.compile(r"(?<![<(\]])\bhttps?://[^\s<>]+[^\s<>.,;:!?)\]'\"]")
# A sentence ends at . ! ? or …, after any closing quote and the [n] markers that cite it.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)]*(?:\s*\[\d+\])*(?=\s)")


@dataclass
class Outgoing:
    """One message to post: its text, and the sources embed on the last one."""

    content: str
    embed: discord.Embed | None = None


def quiet_links(text: str) -> str:
    """Wrap bare URLs in ``<...>`` so Discord shows them without a preview card."""
    return _URL.sub(lambda m: f"<{m.group(0)}>", text)


def shorten(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when one is near, with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(ellipsis))]
    space = cut.rfind(" ")
    if space > len(cut) * 0.6:
        cut = cut[:space]
    return cut.rstrip() + ellipsis


def _sentences(text: str) -> list[str]:
    cuts = [m.end() for m in _SENTENCE_END.finditer(text)]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _pieces(text: str, limit: int) -> list[str]:
    """``text`` broken into pieces no longer than ``limit``, each ending at the coarsest boundary that fits."""
    if len(text) <= limit:
        return [text]
    for splitter in (
        lambda t: re.split(r"(?<=\n\n)", t),  # paragraphs
        lambda t: re.split(r"(?<=\n)", t),  # lines
        _sentences,
        lambda t: re.split(r"(?<=\s)", t),  # words
    ):
        parts = [p for p in splitter(text) if p]
        if len(parts) > 1:
            out: list[str] = []
            for part in parts:
                out.extend(_pieces(part, limit))
            return out
    return [text[i : i + limit] for i in range(0, len(text), limit)]  # one unbroken run: hard cut


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into messages of at most ``limit`` characters at paragraph or sentence boundaries."""
    text = text.strip()
    if not text:
        return []
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        if len(current) + len(piece) <= limit:
            current += piece
            continue
        if current.strip():
            chunks.append(current.strip())
        current = piece.lstrip()
    if current.strip():
        chunks.append(current.strip())
    return chunks


def _source_line(c: Citation, title_limit: int = 200) -> str:
    title = shorten(c.title or c.doc_id, title_limit).replace("[", "(").replace("]", ")")
    linked = f"[{title}]({c.url})" if c.url.startswith(("http://", "https://")) and len(c.url) <= 512 else f"**{title}**"
    meta = " · ".join(x for x in (c.source, c.published) if x)
    return linked + (f"\n{meta}" if meta else "")


def _field_value(c: Citation, quote_limit: int, title_limit: int) -> str:
    head = _source_line(c, title_limit)
    room = FIELD_VALUE_LIMIT - len(head) - len("\n> “”")
    quote = shorten(" ".join(c.quote.split()), max(20, min(room, quote_limit)))
    return shorten(f"{head}\n> “{quote}”", FIELD_VALUE_LIMIT)


def embed_size(embed: discord.Embed) -> int:
    """Characters Discord counts towards the 6000 total: title, description, field names and values, footer, author."""
    total = len(embed.title or "") + len(embed.description or "")
    total += sum(len(f.name or "") + len(f.value or "") for f in embed.fields)
    total += len(embed.footer.text or "") + len(embed.author.name or "")
    return total


def _build(answer: Answer, shown: list[Citation], hidden: list[Citation], quote_limit: int, title_limit: int) -> discord.Embed:
    total_ms = answer.timings_ms.get("total")
    footer = f"{answer.mode} answer" + (f" · {total_ms:.0f} ms" if total_ms is not None else "") + " · was this useful?"
    embed = discord.Embed(title="Sources", colour=EMBED_COLOUR)
    for c in shown:
        embed.add_field(name=shorten(f"[{c.n}]", FIELD_NAME_LIMIT), value=_field_value(c, quote_limit, title_limit), inline=False)
    if hidden:
        names = ", ".join(f"[{c.n}] {shorten(c.title, 60)}" for c in hidden)
        embed.add_field(name=f"…and {len(hidden)} more", value=shorten(names, FIELD_VALUE_LIMIT), inline=False)
    embed.set_footer(text=shorten(footer, FOOTER_LIMIT))
    return embed


def sources_embed(answer: Answer) -> discord.Embed | None:
    """The numbered sources: title (linked where there is a URL), publisher and date, and the quoted sentence.

    Fits Discord's limits: at most 25 fields (the rest named in a last "…and N more" field), and 6000
    characters in all (quotes, then titles are shortened, then fewer sources are shown in full).
    """
    if answer.refused or not answer.citations:
        return None
    cites = list(answer.citations)
    n_shown = len(cites) if len(cites) <= EMBED_FIELDS_LIMIT else EMBED_FIELDS_LIMIT - 1
    quote_limit, title_limit = FIELD_VALUE_LIMIT, 200
    while True:
        shown, hidden = cites[:n_shown], cites[n_shown:]
        embed = _build(answer, shown, hidden, quote_limit, title_limit)
        if embed_size(embed) <= EMBED_TOTAL_LIMIT:
            return embed
        if quote_limit > 40:
            quote_limit = max(40, int(quote_limit * 0.75))
        elif title_limit > 40:
            title_limit = max(40, int(title_limit * 0.75))
        elif n_shown > 1:
            n_shown -= 1
        else:
            return embed  # unreachable in practice: one source in full fits easily


def answer_body(answer: Answer, question_line: bool = False) -> str:
    """The text of an answer as posted, one part a line: the question quoted (``question_line``), then the
    answer with its ``[n]`` markers, or the refusal hint. Each part is one entry here, so a new part of
    :class:`~bot.types.Answer` (a short answer above the sentences, say) is one more line."""
    lines: list[str] = []
    if question_line:
        lines += [f"> {line}" for line in shorten(answer.question, 300).splitlines() if line.strip()]
    lines.append(REFUSAL_HINT if answer.refused else answer.lead())  # the short answer in bold first, when there is one
    return "\n".join(lines)


def render_answer(answer: Answer, question_line: bool = False) -> list[Outgoing]:
    """The messages to post for ``answer``: its text (split to fit) and the sources embed on the last one.

    A refusal says plainly that the articles don't cover it and lists no sources. ``question_line`` puts the
    question above the answer (for ``/ask``, where Discord does not show what was asked).
    """
    parts = split_message(quiet_links(answer_body(answer, question_line))) or ["…"]
    messages = [Outgoing(p) for p in parts]
    messages[-1].embed = sources_embed(answer)
    return messages


def thread_name(question: str) -> str:
    """A thread title from the question (Discord allows 100 characters)."""
    return shorten(" ".join(question.split()), THREAD_NAME_LIMIT) or "Follow-ups"


def partial_text(text: str) -> str:
    """The text streamed so far, fit into one message while the answer is still coming."""
    text = quiet_links(text.strip()) or "…"
    return text if len(text) <= MESSAGE_LIMIT - 2 else text[: MESSAGE_LIMIT - 2] + " …"
