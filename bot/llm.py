"""Chat-model backends for LLM answering, and the one guarded way to call them.

A backend is a small class with one required method, :meth:`ChatBackend.complete`.
``NEWSBOT_LLM`` picks it: ``none`` (no model: the extractive answerer alone),
``openai`` (any OpenAI-compatible endpoint through langchain-openai: Ollama, vLLM,
LM Studio, a llama.cpp server, OpenAI) or ``llamacpp`` (a local GGUF file through
``llama-cpp-python``, installed with the ``llamacpp`` extra).

:func:`call` wraps every model call: bounded retries with backoff (tenacity) on
transient failures (unreachable, timed out, 429, 5xx), a hard wall-clock deadline
(the call runs in a worker thread, so even a backend that ignores its timeout
cannot hang the caller), a cap on the reply's length (:class:`ReplyTooLong`, the
same verdict streamed or not), and one exception type, :class:`LLMError`, whose
message is short enough to show a user.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

Message = tuple[str, str]
"""One chat message: (role, content), role being ``system``, ``user`` or ``assistant``."""

ATTEMPTS = 3  # tries per call, within the deadline
MIN_ATTEMPT_S = 0.2  # no new attempt starts with less time than this left
WALL_MARGIN_S = 0.25  # the worker thread gets this long past its own timeout before it is abandoned
DEFAULT_MAX_CHARS = 4000  # NEWSBOT_LLM_MAX_CHARS: an answer is a few sentences; Discord shows 2,000 characters


class LLMError(RuntimeError):
    """A model call failed for good; the message is short, for ``Answer.note`` and the log."""


class ReplyTooLong(LLMError):
    """The reply passed the length cap; reading stopped there (streamed or not, the same verdict)."""

    def __init__(self, max_chars: int) -> None:
        super().__init__(f"the reply is over {max_chars:,} characters (NEWSBOT_LLM_MAX_CHARS)")


class LLMSetupError(ValueError):
    """The configured backend cannot be built (a missing package or file); the message says how to fix it."""


class ChatBackend(ABC):
    """A chat model. Subclasses implement :meth:`complete`; nothing else is required."""

    name: str = "llm"
    max_chars: int = DEFAULT_MAX_CHARS  # replies longer than this are rejected (see call)

    @abstractmethod
    def complete(self, messages: Sequence[Message], *, timeout: float, on_text: Callable[[str], None] | None = None) -> str:
        """The model's whole reply to ``messages``, within about ``timeout`` seconds.

        With ``on_text``, stream: call it with each new piece of text as it arrives.
        Raise on any failure; :func:`call` decides what to retry.
        """


class OpenAIBackend(ChatBackend):
    """Any OpenAI-compatible chat-completions endpoint, through langchain-openai's ``ChatOpenAI``."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        import openai
        from langchain_openai import ChatOpenAI

        self.model = model
        self.max_chars = max_chars
        self.chat = ChatOpenAI(
            base_url=base_url,
            model=model,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=0,  # retries are ours (tenacity, within the deadline)
            temperature=0,
            use_responses_api=False,  # the chat-completions protocol every compatible server speaks
            # Our own client, so that a body is read only up to the cap: never all of a 10 MB reply.
            http_client=openai.DefaultHttpxClient(timeout=timeout, event_hooks={"response": [self._cap_body]}),
        )

    def _cap_body(self, response: Any) -> None:
        """Stop reading a response body once it is bigger than any reply within the cap can be.

        A plain JSON reply of ``max_chars`` characters takes at most 12 bytes a character (a character
        outside the BMP escaped as two \\u escapes); a stream adds a JSON event per token, so it may take
        more. The cap on characters itself is applied to the text (see :func:`call`).
        """
        per_char = 512 if "event-stream" in response.headers.get("content-type", "") else 12
        base = next(c for c in type(response.stream).__mro__ if c.__name__ == "SyncByteStream")
        response.stream = _capped_stream_type(base)(response.stream, per_char * self.max_chars + 65536, self.max_chars)

    def complete(self, messages: Sequence[Message], *, timeout: float, on_text: Callable[[str], None] | None = None) -> str:
        msgs = [(_LC_ROLES.get(role, role), content) for role, content in messages]
        if on_text is None:
            reply = self.chat.invoke(msgs, timeout=timeout)
            return _text(reply.content)
        pieces: list[str] = []
        # closing(): when on_text raises (the reply passed the cap, or its time ran out) the response is
        # closed at once, so nothing more is read from the server.
        with contextlib.closing(self.chat.stream(msgs, timeout=timeout)) as stream:
            for chunk in stream:
                piece = _text(chunk.content)
                if piece:
                    pieces.append(piece)
                    on_text(piece)
        return "".join(pieces)


_LC_ROLES = {"user": "human", "assistant": "ai"}


@functools.cache
def _capped_stream_type(base: type) -> type:
    """``base`` (the client library's SyncByteStream: openai's client is httpx2, not httpx) with a size cap."""

    class CappedStream(base):
        """A response body that raises :class:`ReplyTooLong` once more than ``max_bytes`` have arrived."""

        def __init__(self, inner: Any, max_bytes: int, max_chars: int) -> None:
            self.inner, self.max_bytes, self.max_chars = inner, max_bytes, max_chars

        def __iter__(self):
            seen = 0
            for chunk in self.inner:
                seen += len(chunk)
                if seen > self.max_bytes:
                    raise ReplyTooLong(self.max_chars)
                yield chunk

        def close(self) -> None:
            self.inner.close()

    return CappedStream


def _text(content: Any) -> str:
    """A langchain message's content as plain text (it may be a list of content blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content if isinstance(b, str | dict))
    raise TypeError(f"unexpected reply content {type(content).__name__}")


class LlamaCppBackend(ChatBackend):
    """A local GGUF model through ``llama-cpp-python`` (``pip install 'newsbot[llamacpp]'``)."""

    name = "llamacpp"

    def __init__(self, model_path: Path, n_ctx: int = 4096) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMSetupError(
                "NEWSBOT_LLM=llamacpp needs llama-cpp-python: pip install 'newsbot[llamacpp]' "
                "(or use NEWSBOT_LLM=openai with a llama.cpp server)"
            ) from exc
        if not Path(model_path).is_file():
            raise LLMSetupError(f"NEWSBOT_LLM_GGUF_PATH: no such file: {model_path}")
        self.llama = Llama(model_path=str(model_path), n_ctx=n_ctx, verbose=False)
        self._lock = threading.Lock()  # one generation at a time per loaded model

    def complete(self, messages: Sequence[Message], *, timeout: float, on_text: Callable[[str], None] | None = None) -> str:
        deadline = time.monotonic() + timeout
        msgs = [{"role": role, "content": content} for role, content in messages]
        pieces: list[str] = []
        size = 0
        with self._lock, contextlib.closing(self.llama.create_chat_completion(messages=msgs, temperature=0, stream=True)) as stream:
            for chunk in stream:
                piece = chunk["choices"][0].get("delta", {}).get("content") or ""
                if piece:
                    pieces.append(piece)
                    size += len(piece)
                    if size > self.max_chars:  # stop generating: the reply would be rejected anyway
                        raise ReplyTooLong(self.max_chars)
                    if on_text is not None:
                        on_text(piece)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"generation took longer than {timeout:.0f} s")
        return "".join(pieces)


def make_backend(settings: Settings) -> ChatBackend | None:
    """The backend ``settings.llm`` names, or None for the extractive answerer alone."""
    if settings.llm == "none":
        return None
    if settings.llm == "openai":
        return OpenAIBackend(
            settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout, settings.llm_max_chars
        )
    if settings.llm == "llamacpp":
        if settings.llm_gguf_path is None:
            raise LLMSetupError("NEWSBOT_LLM=llamacpp needs NEWSBOT_LLM_GGUF_PATH (a .gguf model file)")
        backend = LlamaCppBackend(settings.llm_gguf_path)
        backend.max_chars = settings.llm_max_chars
        return backend
    raise LLMSetupError(f"unknown NEWSBOT_LLM {settings.llm!r}: use none, openai or llamacpp")


# -- calling a backend safely -----------------------------------------------------------
def is_transient(exc: BaseException) -> bool:
    """Worth another try: unreachable, timed out, rate-limited (429) or a server error (5xx)."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | ConnectionError | TimeoutError)  # APITimeoutError included


def describe(exc: BaseException) -> str:
    """A few words on why a call failed."""
    import openai

    if isinstance(exc, LLMError):
        return str(exc)
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return "rate-limited (429)"
        return f"HTTP {exc.status_code} from the endpoint"
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError | ConnectionError):
        return "endpoint unreachable"
    if isinstance(exc, json.JSONDecodeError | ValueError | TypeError | KeyError | AttributeError):
        return "unreadable reply"
    return type(exc).__name__


def call(
    backend: ChatBackend,
    messages: Sequence[Message],
    *,
    budget: float,
    on_text: Callable[[str], None] | None = None,
    attempts: int = ATTEMPTS,
) -> str:
    """The backend's reply, or :class:`LLMError` within about ``budget`` seconds (plus ``WALL_MARGIN_S``).

    Transient failures are retried with exponential backoff while time remains. When
    streaming, ``on_text`` gets the text accumulated so far; an attempt that fails after
    streaming began is not retried (what was shown cannot be unshown cleanly).
    A reply longer than ``backend.max_chars`` raises :class:`ReplyTooLong`, streamed or not:
    a stream stops being read there. Running out of time gives the same message either way.
    """
    deadline = time.monotonic() + budget
    streamed = threading.Event()

    def attempt() -> str:
        remaining = deadline - time.monotonic()
        if remaining < MIN_ATTEMPT_S:
            raise _Timeout(f"no reply within {budget:.1f} s")
        return _within(backend, messages, remaining, on_text, streamed)

    def retry_when(exc: BaseException) -> bool:
        return is_transient(exc) and not streamed.is_set() and _too_long(exc) is None

    def stop(state: RetryCallState) -> bool:
        return stop_after_attempt(attempts)(state) or deadline - time.monotonic() < MIN_ATTEMPT_S

    def wait(state: RetryCallState) -> float:
        backoff = min(2.0, 0.25 * 2 ** (state.attempt_number - 1))
        return max(0.0, min(backoff, deadline - time.monotonic() - MIN_ATTEMPT_S))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("LLM call failed (%s); retrying", describe(exc) if exc else "?")

    try:
        for try_ in Retrying(stop=stop, wait=wait, retry=retry_if_exception(retry_when), before_sleep=before_sleep, reraise=True):
            with try_:
                reply = attempt()
    except Exception as exc:
        if (too_long := _too_long(exc)) is not None:
            raise too_long from exc  # the client may have wrapped it (a connection error while reading the body)
        if isinstance(exc, _Timeout) or describe(exc) == "timed out":
            raise LLMError(f"timed out: no complete reply within {budget:.1f} s (NEWSBOT_LLM_TIMEOUT)") from exc
        if isinstance(exc, LLMError):
            raise
        raise LLMError(describe(exc)) from exc
    if len(reply) > backend.max_chars:
        raise ReplyTooLong(backend.max_chars)
    if not reply.strip():
        raise LLMError("empty reply")
    return reply


class _Timeout(LLMError):
    """An attempt ran out of time (reported by :func:`call` with the whole budget)."""


def _too_long(exc: BaseException | None) -> ReplyTooLong | None:
    """The :class:`ReplyTooLong` behind ``exc``, if any (openai wraps errors raised while reading a body)."""
    while exc is not None:
        if isinstance(exc, ReplyTooLong):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _within(
    backend: ChatBackend,
    messages: Sequence[Message],
    timeout: float,
    on_text: Callable[[str], None] | None,
    streamed: threading.Event,
) -> str:
    """One attempt in a daemon thread, abandoned ``WALL_MARGIN_S`` after ``timeout`` if it has not returned."""
    results: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    abandoned = threading.Event()
    sink = None
    if on_text is not None:
        parts: list[str] = []
        size = [0]

        def sink(piece: str) -> None:
            if abandoned.is_set():
                raise LLMError("abandoned")  # stops a stream that outlived its deadline
            size[0] += len(piece)
            if size[0] > backend.max_chars:
                raise ReplyTooLong(backend.max_chars)  # raised inside the backend's loop: the stream is not read on
            parts.append(piece)
            streamed.set()
            on_text("".join(parts))

    def run() -> None:
        try:
            results.put((True, backend.complete(messages, timeout=timeout, on_text=sink)))
        except BaseException as exc:
            results.put((False, exc))

    worker = threading.Thread(target=run, name=f"newsbot-{backend.name}", daemon=True)
    worker.start()
    try:
        ok, value = results.get(timeout=timeout + WALL_MARGIN_S)
    except queue.Empty:
        abandoned.set()
        raise _Timeout(f"no reply within {timeout:.1f} s") from None
    if ok:
        return value
    raise value
