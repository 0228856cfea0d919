"""/add and /reindex beside another writer and with a corpus folder that is gone (issue 13, findings 2 and 3).

Through simcord, as the other Discord tests; another process holds the index's writer lock for real.
"""

from __future__ import annotations

import shutil

from tests.discord_world import World
from tests.scale_helpers import hold_lock

ARTICLE = b"""---
title: "Uzbekistan opens a tungsten tender"
source: "Example News"
published: 2025-11-20
---
Uzbekistan opened a tender for three tungsten deposits on Thursday, the mining ministry said.
"""


async def test_add_beside_another_writer_says_the_index_is_busy_and_adds_nothing(world: World):
    settings = world.service.settings
    settings.write_wait = 1.0  # the bot's setting; /add waits min(this, 15 s)
    chunks = world.service.store.count()
    holder = hold_lock(settings.data_dir)
    try:
        result = await world.mia.slash(world.news, "add", file=("uz-tungsten.md", ARTICLE))
    finally:
        holder.kill()
        holder.wait()
    text = result.response.content
    assert text.startswith(f"I couldn't add that: another newsbot process is writing the index (pid {holder.pid})"), text
    assert "error id" not in text and not result.ephemeral
    assert world.service.store.count() == chunks and not (settings.corpus_dir / "uz-tungsten.md").exists()

    added = await world.mia.slash(world.news, "add", file=("uz-tungsten.md", ARTICLE))  # the writer is gone
    assert added.response.content.startswith("Added **Uzbekistan opens a tungsten tender**"), added.response.content


async def test_reindex_with_the_corpus_folder_gone_changes_nothing_and_says_why(world: World):
    corpus = world.service.settings.corpus_dir
    chunks = world.service.store.count()
    shutil.rmtree(corpus)
    result = await world.mia.slash(world.news, "reindex")
    text = result.response.content
    assert text.startswith(f"I couldn't reindex: the corpus folder {corpus} does not exist"), text
    assert "nothing was changed" in text and "error id" not in text
    assert world.service.store.count() == chunks
