"""Every setting, read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """newsbot's configuration. Environment variables are the field names upper-cased with ``NEWSBOT_``."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    data_dir: Path = PROJECT_ROOT / ".newsbot"
    chroma_url: str | None = None
    chroma_collection: str = Field("newsbot_chunks", min_length=3, max_length=63)  # several bots can share one server
    embed_model: Path | None = None  # a local sentence-transformers folder; default: bundled all-MiniLM-L6-v2
    # onnx: the model served by ONNX Runtime (exported once into data_dir/onnx; no torch on the query path);
    # sentence-transformers: the model run by torch in every process (the fallback when an export cannot be made)
    embed_backend: Literal["onnx", "sentence-transformers"] = "onnx"
    onnx_dir: Path | None = None  # where the ONNX export is cached; default: data_dir/onnx (several data dirs may share one)
    # How `index build` embeds: auto (OpenVINO in bfloat16 where it measures faster here and its vectors match float32's
    # within cosine 0.9999, else the query path's model), float32 (always the query path's model) or bfloat16
    build_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    chunk_tokens: int = Field(128, ge=32, le=240)
    top_k: int = Field(8, ge=1, le=50)
    answer_pool: int = Field(16, ge=1, le=100)  # chunks the answerer reads per question
    max_question_chars: int = 2000
    write_wait: float = Field(120.0, ge=0)  # seconds a writer waits for another to finish writing the index

    llm: Literal["none", "openai", "llamacpp"] = "none"
    llm_base_url: str = "http://127.0.0.1:11434/v1"
    llm_model: str = "llama3.1"
    llm_api_key: str = "not-needed"
    llm_timeout: float = Field(20.0, gt=0)
    llm_max_chars: int = Field(4000, ge=100)  # a longer reply is rejected (streamed or not) for the extractive answer
    llm_gguf_path: Path | None = None
    llm_sources: int = Field(5, ge=1, le=20)  # retrieved chunks given to the model as numbered sources

    discord_token: str | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "NEWSBOT_DISCORD_TOKEN"))

    # Discord (`newsbot serve`)
    dev_guild_id: int | None = None  # sync slash commands to this one server at once; unset: globally (can take a while)
    threads: bool = True  # /ask opens a thread on its answer for follow-ups
    cooldown_seconds: float = Field(5.0, ge=0)  # per user, between two questions
    allowed_channels: Annotated[list[int], NoDecode] = []  # channel ids (comma-separated); empty: every channel
    answer_workers: int = Field(2, ge=1, le=64)  # threads answering questions (and storing them) off the event loop
    message_content: bool = False  # request the privileged intent: answer plain messages in the bot's threads
    fetch_max_bytes: int = Field(10_000_000, ge=1_000)  # /add: largest URL or attachment accepted
    fetch_timeout: float = Field(20.0, gt=0)  # /add url:, index add URL: one deadline for the whole download, every hop

    @property
    def onnx_cache_dir(self) -> Path:
        """Where the embedding model's ONNX export lives (``NEWSBOT_ONNX_DIR``, else ``NEWSBOT_DATA_DIR/onnx``)."""
        return self.onnx_dir or self.data_dir / "onnx"

    @field_validator("allowed_channels", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        """`123,456` or `[123, 456]` from the environment; a list as is."""
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return [int(part) for part in text.replace(" ", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value
