"""The index: load -> clean -> chunk -> embed -> store (Chroma) -> search.

Nothing here knows about answering, Discord or the CLI; `bot/` builds on it.
"""
