"""The `newsbot` command line: a thin skin over :class:`bot.service.Newsbot`.

Every user mistake ends in one line on stderr and a non-zero exit, never a
traceback (``NEWSBOT_DEBUG=1`` shows tracebacks for bug reports).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from bot.service import Newsbot
    from bot.types import Answer
    from index.search import Filters

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Ask questions about news articles; answers cite their sources."
)
index_app = typer.Typer(no_args_is_help=True, help="Build and manage the article index.")
app.add_typer(index_app, name="index")

# Article and user text is printed through show(), never as a markup string; emoji codes are off besides.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])

# Set by a command that only read the index (ask, search): main() then ends the process without the interpreter's
# teardown. Unloading chromadb, onnxruntime and their threads took about 0.12 s of a 1.1 s cold `ask` here.
_read_only_done = False
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def show(console: Console, *parts: str | tuple[str, str], style: str = "") -> None:
    r"""Print text exactly as it is: each part is plain text or (text, style); nothing in it is read as markup.

    rich reads "[bold]" in a plain string as markup and ":a:" as an emoji code (so "2001:db8::a:b:1" got an
    emoji); ``escape`` stops only the first. A :class:`Text` is printed as it is. A control character
    (an ESC in an article would drive the terminal) is shown as its escape, ``\x1b``.
    """

    def plain(text: str) -> str:
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)

    console.print(Text.assemble(*(plain(p) if isinstance(p, str) else (plain(p[0]), p[1]) for p in parts), style=style))


def _error(message: str) -> None:
    show(err, ("error:", "red"), " ", message)


class UserError(Exception):
    """A mistake the user can fix; printed as one line."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from pydantic import ValidationError

    from bot.discordbot.feedback_store import FeedbackError
    from bot.evaluate import EvalFileError
    from bot.service import QuestionError
    from index.embed import ModelNotFoundError
    from index.load import ArticleError
    from index.store import StoreError

    return (
        UserError,
        QuestionError,
        StoreError,
        ArticleError,
        EvalFileError,
        FeedbackError,
        ModelNotFoundError,
        ValidationError,
        OSError,
        ValueError,
    )


def friendly(func: F) -> F:
    """Turn expected failures into `error: ...` on one line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("NEWSBOT_DEBUG"):
                raise
            known = isinstance(exc, _user_errors())
            message = _one_line(exc)
            if not known:
                message = f"unexpected {type(exc).__name__}: {message} (run with NEWSBOT_DEBUG=1 for details)"
            _error(message)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"bad setting {where.upper() or ''}: {first.get('msg')}"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _bot(auto_build: bool = True) -> Newsbot:
    """The one answering service, loaded once per command (tests replace this seam with a fake-embedder bot)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from bot.service import Newsbot

    return Newsbot(notify=lambda msg: show(err, msg), auto_build=auto_build)


def _answering_bot() -> Newsbot:
    """The bot for ask/search/chat: an index with nothing in it is an error that says why, not "the articles don't say"."""
    bot = _bot()
    if bot.store.count() == 0:
        from index.sync import corpus_problem

        why = corpus_problem(bot.settings.corpus_dir) or f"no article in {bot.settings.corpus_dir} could be indexed"
        raise UserError(f"the index is empty: {why}. Put articles there (or set NEWSBOT_CORPUS_DIR) and try again")
    return bot


def _filters(source: str | None, since: str | None, until: str | None) -> Filters | None:
    from index.search import Filters

    if not (source or since or until):
        return None
    return Filters(source=source, since=since, until=until)


SourceOpt = Annotated[str | None, typer.Option("--source", help="Only articles from this publisher.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only articles published on or after this date (YYYY-MM-DD).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Only articles published on or before this date (YYYY-MM-DD).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


# -- ask / search --------------------------------------------------------------------
def print_answer(answer: Answer) -> None:
    """A person-readable answer with its numbered sources under it (the short answer in bold first, when there is one)."""
    if answer.refused:
        show(out, (answer.answer, "yellow"))
    elif answer.short_answer:
        show(out, (answer.short_answer, "bold"), " — ", (answer.answer, "bold"))
    else:
        show(out, (answer.answer, "bold"))
    if answer.citations:
        out.print("\n[dim]Sources[/dim]")
    for c in answer.citations:
        meta = ", ".join(x for x in (c.source, c.published) if x)
        link = f" {c.url}" if c.url else ""
        show(out, f"[{c.n}] ", (c.title, "cyan"), f" ({meta}){link}")
        show(out, f"    “{c.quote}”", style="dim")


def _questions(file: str) -> Iterable[str]:
    stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        for line in stream:
            if line.strip():
                yield line.rstrip("\n")
    finally:
        if stream is not sys.stdin:
            stream.close()


@app.command()
@friendly
def ask(
    question: Annotated[str | None, typer.Argument(help="The question, in quotes.")] = None,
    as_json: JsonOpt = False,
    file: Annotated[str | None, typer.Option("--file", "-f", help="Read one question a line from PATH ('-' for stdin).")] = None,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Also show how the answer step decided: top candidates, features, scores, rule.")
    ] = False,
) -> None:
    """Answer a question from the articles, with numbered sources."""
    from bot.service import QuestionError

    if file is None and question is None:
        raise UserError('give a question ("newsbot ask \\"...\\"") or --file PATH')
    if file is not None and question is not None:
        raise UserError("give either a question or --file, not both")
    if file is not None and file != "-" and not Path(file).is_file():
        raise UserError(f"no such file: {file}")
    filters = _filters(source, since, until)
    if question is not None:
        from bot.service import check_question
        from bot.settings import Settings

        check_question(question, Settings().max_question_chars)  # fail fast, before the model loads
        bot = _answering_bot()
        answer = bot.answer(question, filters=filters)
        if as_json:
            print(json.dumps(answer.as_dict(), ensure_ascii=False))
        else:
            print_answer(answer)
        if explain:
            _print_explanation(bot, answer, as_json)
        _mark_read_only(bot)
        return
    bot = _answering_bot()
    failed = 0
    for line in _questions(file or "-"):
        try:
            answer = bot.answer(line, filters=filters)
        except QuestionError as exc:
            failed += 1
            if as_json:
                print(json.dumps({"question": line[:200], "error": str(exc)}, ensure_ascii=False), flush=True)
            else:
                _error(str(exc))
            continue
        if as_json:
            print(json.dumps(answer.as_dict(), ensure_ascii=False), flush=True)
        else:
            show(out, (f"Q: {line}", "dim"))
            print_answer(answer)
            if explain:
                _print_explanation(bot, answer, as_json)
            out.print()
    if failed:
        raise typer.Exit(1)


def _print_explanation(bot: Newsbot, answer: Answer, as_json: bool) -> None:
    """How the answer step decided (on stderr when stdout carries JSON, so that stays one object a line)."""
    from bot.answering.explain import explain

    if answer.trace is not None:
        show(err if as_json else out, explain(answer.trace, bot.answerer.model), style="dim")


@app.command()
@friendly
def search(
    question: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many chunks to return.")] = 8,
    as_json: JsonOpt = False,
    source: SourceOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
) -> None:
    """Show the ranked chunks retrieval finds for a question."""
    filters = _filters(source, since, until)  # a bad date fails before the model loads
    bot = _answering_bot()
    hits = bot.search(question, k=k, filters=filters)
    rows = [
        {
            "doc_id": h.doc_id,
            "chunk_id": h.chunk_id,
            "title": h.title,
            "source": h.meta.get("source", ""),
            "published": h.meta.get("published", ""),
            "text": h.text.replace("\n", " "),
            "score": round(h.score, 6),
            "dense": round(h.dense, 4),
            "bm25": round(h.bm25, 4),
        }
        for h in hits
    ]
    _mark_read_only(bot)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for n, r in enumerate(rows, start=1):
        scores = f" score {r['score']:.4f} dense {r['dense']:.3f} bm25 {r['bm25']:.2f}"
        show(out, (f"{n}.", "bold"), " ", (r["title"], "cyan"), (scores, "dim"))
        show(out, f"   {r['text'][:400]}")


# -- index -----------------------------------------------------------------------------
@index_app.command("build")
@friendly
def index_build(
    as_json: JsonOpt = False,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Drop every stored chunk and embed the corpus again.")] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Let a missing or empty corpus folder empty the index (refused otherwise).")
    ] = False,
) -> None:
    """Bring the index in line with the corpus folder (adds, updates, deletes)."""
    bot = _bot(auto_build=False)
    report = bot.sync(rebuild=rebuild, allow_empty=allow_empty)
    if as_json:
        data = report.as_dict()
        data.pop("skipped")
        print(json.dumps(data))
    else:
        out.print(
            f"added {report.added}, updated {report.updated}, deleted {report.deleted}, "
            f"unchanged {report.unchanged}; {report.chunks_embedded} chunks embedded"
        )
    for line in report.skipped:
        show(err, ("skipped", "yellow"), f" {line}")


@index_app.command("add")
@friendly
def index_add(
    target: Annotated[
        str, typer.Argument(metavar="PATH|URL", help="An article file (.md, .txt, .html, .pdf), or an http(s) URL to download.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Copy an article into the corpus, or download it from a URL (as Discord's /add does), and index it.

    Refused if another file already has its id.
    """
    if "://" in target:  # a URL (any scheme: fetch_url says which ones it takes), not a path
        from bot.settings import Settings
        from index.fetch import fetch_url

        settings = Settings()  # downloaded before the model loads: a refused URL fails at once
        fetched = fetch_url(target, max_bytes=settings.fetch_max_bytes, timeout=settings.fetch_timeout)
        bot = _bot()
        with fetched.saved() as path:
            added = bot.add(path)
    else:
        path = Path(target)
        if path.is_dir():
            from bot.settings import Settings

            raise UserError(
                f"{path} is a folder: give one article file, or copy the folder's article files into the corpus folder "
                f"({Settings().corpus_dir}) and run `newsbot index build`"
            )
        if not path.is_file():
            raise UserError(f"no such file: {path}")
        bot = _bot()
        added = bot.add(path)
    article, where = added.article, _in_corpus(bot, added.path)
    if as_json:
        data = {"doc_id": article.doc_id, "title": article.title, "chunks": added.chunks, "file": where, "new": added.new}
        print(json.dumps(data, ensure_ascii=False))
    elif added.new:
        show(out, "added ", (article.title, "cyan"), f" as {article.doc_id} ({added.chunks} chunks, {where})")
    else:
        show(out, f"already in the corpus as {where}: ", (article.title, "cyan"), f" ({article.doc_id}, {added.chunks} chunks); nothing changed")


def _in_corpus(bot: Newsbot, path: Path) -> str:
    """A corpus file's path inside the corpus folder, as messages name it."""
    corpus = bot.settings.corpus_dir
    return str(path.relative_to(corpus)) if path.is_relative_to(corpus) else str(path)


@index_app.command("list")
@friendly
def index_list(as_json: JsonOpt = False) -> None:
    """List the articles in the index."""
    docs = _bot().documents()
    rows = [
        {k: d.get(k, "") for k in ("doc_id", "title", "source", "published", "url", "chunks")}
        for d in sorted(docs.values(), key=lambda d: (str(d.get("published")), str(d.get("doc_id"))))
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    for r in rows:
        show(out, f"{r['doc_id']}  ", (str(r["title"]), "cyan"), f"  {r['source']} {r['published']}  ({r['chunks']} chunks)")


@index_app.command("remove")
@friendly
def index_remove(
    doc_id: Annotated[str, typer.Argument(help="The article's id, as `index list` shows it (any case), or its file name.")],
) -> None:
    """Delete an article from the corpus (every file with its id) and from the index."""
    bot = _bot()
    try:
        removed = bot.remove(doc_id)
    except KeyError:
        raise UserError(f"no article with id {doc_id!r}; see `newsbot index list`") from None
    files = ", ".join(_in_corpus(bot, p) for p in removed.files)
    deleted = f"deleted {files} from the corpus" if files else "no corpus file had that id"
    show(out, f"removed {removed.doc_id}: {deleted}; {removed.chunks} chunks out of the index")


@index_app.command("stats")
@friendly
def index_stats(as_json: JsonOpt = False) -> None:
    """How many articles and chunks the index holds, and where."""
    bot = _bot()
    docs = bot.documents()
    data = {
        "articles": len(docs),
        "chunks": bot.store.count(),
        "store": bot.store.location,
        "corpus_dir": str(bot.settings.corpus_dir),
        "embed_model": bot.embedder.name,
    }
    if as_json:
        print(json.dumps(data))
    else:
        for key, value in data.items():
            show(out, f"{key:12} {value}")


# -- eval --------------------------------------------------------------------------------
def _eval_bot(corpus_dir: Path, data_dir: Path | None) -> Newsbot:
    """A bot over an eval folder's own corpus, its index kept apart (built once, then only synced)."""
    import hashlib

    from bot.settings import Settings

    base = Settings()
    where = data_dir or base.data_dir / "eval" / f"{corpus_dir.parent.name}-{hashlib.sha1(str(corpus_dir).encode()).hexdigest()[:8]}"
    settings = base.model_copy(update={"corpus_dir": corpus_dir, "data_dir": where, "chroma_url": None})
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from bot.service import Newsbot

    bot = Newsbot(settings, notify=lambda msg: err.print(msg))
    report = bot.sync()  # the folder's corpus may have changed since its index was built
    if report.added or report.updated or report.deleted:
        err.print(f"eval index at {where}: added {report.added}, updated {report.updated}, deleted {report.deleted}")
    return bot


@app.command("eval")
@friendly
def eval_(
    path: Annotated[
        Path, typer.Argument(help="An eval file (one JSON row a line), or a folder holding corpus/ and questions.jsonl.")
    ],
    min_pass: Annotated[
        float | None, typer.Option("--min-pass", min=0.0, max=1.0, help="Exit 1 if the pass fraction is below this.")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show passing rows too (each row shows its answer mode).")
    ] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Print only the figures and the score, no row lines.")] = False,
    sample: Annotated[int | None, typer.Option("--sample", min=1, help="Ask only this many rows, drawn with --seed.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Which rows --sample draws.")] = 0,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where a folder's index is kept (default: under NEWSBOT_DATA_DIR/eval/).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object before the score.")] = False,
) -> None:
    """Run an eval set; print one line per failure, the quality figures, and `score P/N` last."""
    from bot.evaluate import Figures, format_table, open_eval, run_eval

    if not path.exists():
        raise UserError(f"cannot read {path}: no such file or folder")
    evalset = open_eval(path, sample, seed)
    bot = _eval_bot(evalset.corpus_dir.resolve(), data_dir) if evalset.corpus_dir else _bot()
    passed = 0
    latencies: list[float] = []
    modes: dict[str, int] = {}  # which answerer answered: extractive, llm, extractive-fallback
    figures = Figures()
    for result in run_eval(evalset.rows, bot.answer):
        latencies.append(result.answer.timings_ms.get("total", 0.0))
        passed += result.passed
        figures.add(result.row, result.answer)
        modes[result.answer.mode] = modes.get(result.answer.mode, 0) + 1
        if (not result.passed or verbose) and not summary:
            mark = "PASS" if result.passed else "FAIL"
            shown = result.answer.lead().replace("\n", " ")[:160]
            mode = result.answer.mode
            if mode == "extractive-fallback" and result.answer.note:
                mode = f"{mode}: {result.answer.note[:100]}"  # why the model's answer was not shown
            asked = result.row.question
            if result.row.history:  # a follow-up: the turn it follows, so that the line reads on its own
                asked = f"(after {result.row.history[-1].question!r}) {asked}"
            show(out, f"{mark} {result.row.id} [{mode}] {asked} -- {result.why or 'ok'} -> {shown}")
            if verbose and result.answer.trace is not None and hasattr(bot, "answerer"):
                from bot.answering.explain import explain

                show(out, explain(result.answer.trace, bot.answerer.model), style="dim")
    latencies.sort()
    out.print("answered by: " + ", ".join(f"{mode} {n}" for mode, n in sorted(modes.items())))
    out.print(f"[dim]median answer {latencies[len(latencies) // 2]:.1f} ms[/dim]")
    if as_json:
        print(json.dumps({"eval": evalset.name, "rows": len(evalset.rows), **figures.as_dict()}, ensure_ascii=False))
    else:
        show(out, format_table(figures.rows()))
    print(f"score {passed}/{len(evalset.rows)}")
    if min_pass is not None and passed / len(evalset.rows) < min_pass:
        raise typer.Exit(1)


# -- Discord and conversations ---------------------------------------------------------------
@app.command()
@friendly
def serve() -> None:
    """Run the Discord bot (reads DISCORD_TOKEN); see the README's Discord section."""
    from bot.discordbot.client import EXIT_START_ERROR, StartError, check_token
    from bot.discordbot.client import serve as run_bot
    from bot.settings import Settings

    settings = Settings()
    try:
        token = check_token(settings.discord_token)  # before the model loads: a bad token fails fast
        code = run_bot(settings, token, service_factory=_bot)
    except StartError as exc:
        _error(_one_line(exc))
        raise typer.Exit(EXIT_START_ERROR) from None
    raise typer.Exit(code)


@app.command()
@friendly
def chat() -> None:
    """A conversation in the terminal: ask, then follow up ("And who holds the rest?"). Empty line or Ctrl-D quits."""
    from bot.conversation import Conversation
    from bot.service import QuestionError

    bot = _answering_bot()
    conversation = Conversation()
    interactive = sys.stdin.isatty()
    if interactive:
        out.print(
            "[dim]Ask about the articles; follow-ups remember the last few questions. /new starts over; empty line quits.[/dim]"
        )
    while True:
        if interactive:
            out.print("[bold]>[/bold] ", end="")
        line = sys.stdin.readline()
        if not line or (interactive and not line.strip()):
            break
        question = line.strip()
        if not question:
            continue
        if question in ("/new", "/reset"):
            conversation.clear()
            out.print("[dim]New conversation.[/dim]")
            continue
        try:
            answer = bot.answer(question, history=conversation.history)
        except QuestionError as exc:
            _error(str(exc))
            continue
        if not interactive:
            show(out, (f"Q: {question}", "dim"))
        print_answer(answer)
        out.print()
        conversation.add(answer)


@app.command()
@friendly
def feedback(
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many voted-down questions to show.")] = 20,
) -> None:
    """The 👍/👎 tally from Discord and the questions voted down."""
    from bot.discordbot.feedback_store import FeedbackStore
    from bot.settings import Settings

    tally = FeedbackStore.in_data_dir(Settings().data_dir, read_only=True).tally(limit)
    if as_json:
        rows = [{"question": q, "down": d, "up": u} for q, d, u in tally.voted_down]
        print(json.dumps({"answers": tally.answers, "up": tally.up, "down": tally.down, "voted_down": rows}, ensure_ascii=False))
        return
    out.print(f"{tally.answers} answers posted; votes: 👍 {tally.up}  👎 {tally.down}")
    if tally.voted_down:
        out.print("\n[bold]Voted down[/bold]")
    for question, down, up in tally.voted_down:
        show(out, f"👎 {down} 👍 {up}  {question}")


def _mark_read_only(bot: Newsbot) -> None:
    """Let main() skip the interpreter's teardown, unless this process wrote to the index (a first-run build).

    Every write goes through the bot's Indexer (made on first use), so a bot without one wrote nothing that a
    normal exit would still have to close.
    """
    global _read_only_done
    _read_only_done = "indexer" not in vars(bot)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as done:
        if _read_only_done and done.code in (0, None):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)  # see _read_only_done
        raise


if __name__ == "__main__":
    main()
