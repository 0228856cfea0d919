"""Every setting, read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """newsbot's configuration. Environment variables are the field names upper-cased with ``NEWSBOT_``."""

    model_config = SettingsConfigDict(env_prefix="NEWSBOT_", env_file=".env", extra="ignore")

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    data_dir: Path = PROJECT_ROOT / ".newsbot"
    chroma_url: str | None = None
    embed_model: Path | None = None  # a local sentence-transformers folder; default: bundled all-MiniLM-L6-v2
    chunk_tokens: int = Field(128, ge=32, le=240)
    top_k: int = Field(8, ge=1, le=50)
    max_question_chars: int = 2000

    llm: Literal["none", "openai", "llamacpp"] = "none"
    llm_base_url: str = "http://127.0.0.1:11434/v1"
    llm_model: str = "llama3.1"
    llm_api_key: str = "not-needed"
    llm_timeout: float = Field(20.0, gt=0)
    llm_gguf_path: Path | None = None

    discord_token: str | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "NEWSBOT_DISCORD_TOKEN"))
